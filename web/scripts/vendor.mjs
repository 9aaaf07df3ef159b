// Copies the chart library's browser build from node_modules into the Python package, so
// the dashboard is served without npm and without any network at run time (no CDN).
//
//   npm ci && npm run vendor          refresh the vendored copy after changing package.json
//   npm run vendor:check              exit 1 when the vendored copy differs from node_modules
//
// The vendored files are committed: `make run` and the wheel need nothing from npm.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(web, "..", "src", "pitchrec", "api", "static", "dashboard", "vendor");
const uplot = join(web, "node_modules", "uplot");
const FILES = [
  ["dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["dist/uPlot.min.css", "uPlot.min.css"],
  ["LICENSE", "uPlot.LICENSE.txt"],
];

function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

const version = JSON.parse(readFileSync(join(uplot, "package.json"), "utf8")).version;
const check = process.argv.includes("--check");
const manifest = [`uplot ${version} (MIT), copied from node_modules/uplot by web/scripts/vendor.mjs`];
let stale = 0;
mkdirSync(target, { recursive: true });
for (const [source, name] of FILES) {
  const bytes = readFileSync(join(uplot, source));
  manifest.push(`${sha256(bytes)}  ${name}`);
  const destination = join(target, name);
  if (check) {
    if (!existsSync(destination) || sha256(readFileSync(destination)) !== sha256(bytes)) {
      console.error(`stale: ${destination} differs from node_modules/uplot/${source}`);
      stale += 1;
    }
  } else {
    writeFileSync(destination, bytes);
  }
}
const manifestPath = join(target, "VENDORED.txt");
const text = manifest.join("\n") + "\n";
if (check) {
  if (!existsSync(manifestPath) || readFileSync(manifestPath, "utf8") !== text) {
    console.error(`stale: ${manifestPath}`);
    stale += 1;
  }
  process.exit(stale ? 1 : 0);
}
writeFileSync(manifestPath, text);
console.log(`vendored uplot ${version} into ${target}`);
