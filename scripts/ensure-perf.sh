#!/usr/bin/env bash
# Make sure `perf` exists (Debian's linux-perf): benchmarks/critical_path.py records the kernel
# scheduler's events with it beside a multi-user run.
set -euo pipefail
if command -v perf >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
  echo "installing Debian's linux-perf …"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
else
  echo "perf is missing and there is no apt-get to install it" >&2
  exit 1
fi
