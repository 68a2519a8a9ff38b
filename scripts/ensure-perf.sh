#!/usr/bin/env bash
# perf (Debian's linux-perf), which benchmarks/critical_path.py runs as root to record the kernel
# scheduler's events beside a multi-user run. Installed only when missing.
set -euo pipefail
command -v perf >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: perf (Debian: apt-get install linux-perf)" >&2; exit 1
fi
echo "installing linux-perf …"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null; }
