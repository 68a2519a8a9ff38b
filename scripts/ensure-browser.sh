#!/usr/bin/env bash
# Make sure the Chromiums that uxchaos drives exist: Debian's `chromium-headless-shell` for headless
# pages (what Playwright itself runs for them, and far lighter on the machine) and `chromium` for a shown
# window (--headed); else Playwright's own download, which needs internet (Debian's packages do not).
set -euo pipefail
PY=${1:-.venv/bin/python}
PACKAGES="chromium chromium-headless-shell"
found() { "$PY" -c 'from uxchaos.browser.launch import find_browser; print(find_browser())' 2>/dev/null; }
apt_usable() { command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; }
browser=$(found || true)
case "$browser" in
  *headless-shell*) echo "$browser"; exit 0 ;;  # the shell is there (a full Chromium may be too)
esac
if [ -n "$browser" ] && ! apt_usable; then
  echo "$browser"; exit 0  # a Chromium, and no package manager to add the shell with: it will do
fi
if apt_usable; then
  echo "installing Debian's $PACKAGES …"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null
else
  echo "no system Chromium: trying Playwright's own download …"
  "$PY" -m playwright install chromium
fi
found
