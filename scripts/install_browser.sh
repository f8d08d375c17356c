#!/usr/bin/env bash
# Debian's chromium for the real-browser tests (Playwright drives it; no `playwright install`).
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian chromium for the browser tests"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
     chromium fonts-dejavu-core >/dev/null) || echo "WARNING: could not install chromium; browser tests will be skipped"
else
  echo "NOTE: chromium not found and cannot be installed here (need root + apt-get); browser tests will be skipped"
fi
exit 0
