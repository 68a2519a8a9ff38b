#!/usr/bin/env bash
# Make sure a Chromium that uxchaos can drive exists: Playwright's own, a system one, or install
# Debian's `chromium` (Playwright's browser download needs internet; Debian's package does not).
set -euo pipefail
PY=${1:-.venv/bin/python}
if "$PY" -c 'from uxchaos.browser.launch import find_browser; print(find_browser())' 2>/dev/null; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian's chromium …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
else
  echo "no system Chromium: trying Playwright's own download …"
  "$PY" -m playwright install chromium
fi
"$PY" -c 'from uxchaos.browser.launch import find_browser; print(find_browser())'
