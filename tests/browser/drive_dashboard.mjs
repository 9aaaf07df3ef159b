// Drives the operator dashboard in Debian's chromium through playwright-core, for
// tests/browser/test_dashboard_in_chromium.py, which makes every assertion: this script only acts and
// reports, as one JSON object on stdout (progress on stderr).
//
//   node drive_dashboard.mjs '<json config>'
//
// config: base (server URL), token, out (directory for screenshots), web (the web/
// directory whose node_modules holds playwright-core), chromium (executable),
// experimentsOverride (optional {status, body}: what the page then gets from
// /v1/experiments by request interception, to see the state the server is not in: a 404
// when an experiment runs, a payload of the agreed contract when none does).
//
// The page refreshes every 5 s and /v1/stats serves one payload per 5 s bucket, so the
// script pauses the page, refreshes it once, reads every figure, and fetches the same
// endpoints with the page's cookie right after; it tries again when the two reads fell in
// different buckets (as_of differs).
import { createRequire } from "node:module";
import { join } from "node:path";

const config = JSON.parse(process.argv[2]);
const require = createRequire(join(config.web, "package.json"));
const { chromium } = require("playwright-core");
const SOURCES = { stats: "/v1/stats", policies: "/v1/policies", experiments: "/v1/experiments", readyz: "/readyz" };
const TIMEOUT = 15000;

function log(...args) {
  console.error("[drive]", ...args);
}

async function readPage(page) {
  return page.evaluate(() => {
    const figures = Array.from(document.querySelectorAll("[data-source][data-path]")).map((element) => ({
      id: element.id || null,
      source: element.dataset.source,
      path: element.dataset.path,
      format: element.dataset.format || null,
      value: element.dataset.value === undefined ? undefined : element.dataset.value,
      text: element.textContent,
      visible: element.offsetParent !== null || element.getClientRects().length > 0,
    }));
    const panels = Object.fromEntries(
      Array.from(document.querySelectorAll("[data-panel]")).map((p) => [p.dataset.panel, p.dataset.state]),
    );
    const dashboard = window.pitchrecDashboard;
    return {
      figures,
      panels,
      state: document.getElementById("dashboard").dataset.state,
      generation: Number(document.getElementById("dashboard").dataset.generation),
      experimentsEmpty: {
        hidden: document.getElementById("experiments-empty").hidden,
        text: document.getElementById("experiments-empty").textContent,
      },
      experimentsBodyHidden: document.getElementById("experiments-body").hidden,
      charts: {
        traffic: dashboard.chartData("traffic"),
        latency: dashboard.chartData("latency"),
        experiments: dashboard.chartData("experiments"),
      },
      chartCanvases: document.querySelectorAll(".chart canvas").length,
    };
  });
}

async function refreshOnce(page) {
  const before = Number(await page.getAttribute("#dashboard", "data-generation"));
  await page.click("#refresh");
  await page.waitForFunction(
    (n) => Number(document.getElementById("dashboard").dataset.generation) > n,
    before,
    { timeout: TIMEOUT },
  );
}

async function fetchAll(context) {
  const out = {};
  for (const [name, path] of Object.entries(SOURCES)) {
    const response = await context.request.get(config.base + path, { failOnStatusCode: false });
    const text = await response.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    out[name] = { status: response.status(), body };
  }
  return out;
}

function asOf(snapshot) {
  const figure = snapshot.figures.find((f) => f.source === "stats" && f.path === "as_of");
  return figure && figure.value !== undefined ? JSON.parse(figure.value) : null;
}

async function consistentRead(page, context) {
  for (let attempt = 1; attempt <= 6; attempt += 1) {
    await refreshOnce(page);
    const snapshot = await readPage(page);
    const fetched = await fetchAll(context);
    const stats = fetched.stats.body || {};
    if (asOf(snapshot) === stats.as_of) return { attempt, snapshot, fetched };
    log(`attempt ${attempt}: page as_of ${asOf(snapshot)} != fetched ${stats.as_of}; again`);
  }
  throw new Error("the page and the endpoints never agreed on one 5 s bucket");
}

async function main() {
  const report = { console: [], pageErrors: [], foreignRequests: [], requests: [] };
  let phase = "signed out";
  const browser = await chromium.launch({
    executablePath: config.chromium,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") {
        const url = (message.location().url || "").replace(config.token, "<token>");
        report.console.push({ phase, type: message.type(), text: message.text(), url });
      }
    });
    page.on("pageerror", (error) => report.pageErrors.push(String(error)));
    page.on("request", (request) => {
      const url = request.url();
      report.requests.push(url.replace(config.token, "<token>"));
      if (!url.startsWith(config.base + "/") && !url.startsWith("data:")) report.foreignRequests.push(url);
    });

    // No session: the 401 page, then a wrong token.
    let response = await page.goto(config.base + "/dashboard");
    report.anonymous = {
      status: response.status(),
      locked: await page.locator("#locked").count(),
      figures: await page.locator("[data-source]").count(),
      text: await page.locator("body").innerText(),
    };
    response = await page.goto(config.base + "/dashboard?token=not-the-token-0123456789");
    report.wrongToken = { status: response.status(), locked: await page.locator("#locked").count() };

    // Sign in: one 303 to the bare URL, which sets the cookie.
    phase = "signed in";
    response = await page.goto(config.base + "/dashboard?token=" + encodeURIComponent(config.token));
    const redirected = response.request().redirectedFrom();
    const first = redirected ? await redirected.response() : null;
    report.login = {
      finalStatus: response.status(),
      finalUrl: page.url(),
      firstStatus: first ? first.status() : null,
      firstLocation: first ? first.headers()["location"] : null,
      setCookie: first ? first.headers()["set-cookie"] : null,
      cookies: await context.cookies(),
    };
    await page.waitForFunction(() => Number(document.getElementById("dashboard").dataset.generation) >= 1, null, {
      timeout: TIMEOUT,
    });
    // The page's own script runs the refresh loop; pause it so that the figures stay put.
    await page.click("#pause");
    report.paused = await page.getAttribute("#pause", "aria-pressed");
    report.history = await page.evaluate(() => window.history.length);

    const read = await consistentRead(page, context);
    report.attempts = read.attempt;
    report.page = read.snapshot;
    report.fetched = read.fetched;
    report.screenshot = join(config.out, "dashboard.png");
    await page.screenshot({ path: report.screenshot, fullPage: true });

    const override = config.experimentsOverride;
    if (override) {
      await page.route("**/v1/experiments", (route) =>
        route.fulfill({ status: override.status, contentType: "application/json", body: JSON.stringify(override.body) }),
      );
      await refreshOnce(page);
      report.override = await readPage(page);
      report.overrideScreenshot = join(config.out, `dashboard-experiments-${override.status}.png`);
      await page.screenshot({ path: report.overrideScreenshot, fullPage: true });
      await page.unroute("**/v1/experiments");
    }

    // Sign out: the cookie goes, the page is the 401 again.
    phase = "signing out";
    response = await page.goto(config.base + "/dashboard/logout");
    report.logout = { status: response.status(), cookies: await context.cookies(), locked: await page.locator("#locked").count() };
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
