#!/usr/bin/env bash
# Install what the dashboard's browser test (tests/browser) needs when it is missing:
# Debian's chromium (/usr/bin/chromium) and web/node_modules (`npm ci` from the lock file:
# playwright-core drives the browser; uplot is the chart library vendored into the package).
# No browser build is ever downloaded by npm: playwright-core has no download step, and
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 is set all the same.
# Never fails: the test skips with the reason, or fails when PITCHREC_REQUIRE_SERVERS=1
# (as .ci/run sets).
set -u
cd "$(dirname "$0")/.."
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT

apt_install() { apt-get install -y --no-install-recommends chromium fonts-dejavu-core >"$log" 2>&1; }

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser test (apt-get)" >&2
    # A fresh machine may have no package lists yet: update once, then try again.
    apt_install || { apt-get update >"$log" 2>&1 && apt_install; } || {
      tail -n 5 "$log" >&2
      echo "warning: could not install chromium; the browser test will say so" >&2
    }
  else
    echo "warning: /usr/bin/chromium is missing: apt-get install chromium (as root)" >&2
  fi
fi

if [ ! -d web/node_modules/playwright-core ] \
  || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "npm ci in web/ (from web/package-lock.json)" >&2
    (cd web && npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1) || {
      tail -n 5 "$log" >&2
      echo "warning: npm ci failed in web/; the browser test will say so" >&2
    }
  else
    echo "warning: npm is missing: the browser test needs Node.js >= 20 and npm" >&2
  fi
fi
exit 0
