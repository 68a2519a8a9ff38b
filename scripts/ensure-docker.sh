#!/usr/bin/env bash
# Make a Docker engine and a single-node swarm available on this machine, for the Docker tests:
# install Debian's docker.io when missing, start dockerd when it is not answering, and initialise
# a swarm on 127.0.0.1, and mmdebstrap for the demo's images. Containers here use host networking
# only (no bridge, no iptables).
set -euo pipefail
log=${DOCKERD_LOG:-/tmp/uxchaos-dockerd.log}
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "docker is missing: install Docker (Debian: apt-get install docker.io)" >&2; exit 1
  fi
  echo "installing Debian's docker.io …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static iproute2 >/dev/null
fi
if ! command -v busybox >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
# mmdebstrap makes the Debian root filesystem the demo's images start from (`uxchaos demo build`).
if ! command -v mmdebstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing mmdebstrap …"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null; }
  else
    echo "mmdebstrap is missing (apt-get install mmdebstrap): \`uxchaos demo build\` needs it" >&2
  fi
fi
if ! docker version >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "the Docker daemon is not running and this is not root: start dockerd" >&2; exit 1
  fi
  echo "starting dockerd (log: $log) …"
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >"$log" 2>&1 &
  for _ in $(seq 1 60); do docker version >/dev/null 2>&1 && break; sleep 0.5; done
  docker version >/dev/null 2>&1 || { echo "dockerd did not start; see $log" >&2; tail -20 "$log" >&2; exit 1; }
fi
state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" != "active" ]; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
echo "docker $(docker version --format '{{.Server.Version}}'), swarm $(docker info --format '{{.Swarm.LocalNodeState}}')"
