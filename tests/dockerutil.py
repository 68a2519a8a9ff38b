"""Local images for the Docker tests, built with `docker import` (no registry can be reached here):
a busybox root filesystem, and a stand-in for the Pumba image (the real one cannot be pulled)."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
import time
import uuid
from typing import Any

# Stands in for gaiaadm/pumba's entrypoint: prints its arguments and whether the Docker socket is
# mounted, logs like Pumba, exits at once for kill/stop/rm, runs until SIGTERM for the rest (then
# "cleans up" and exits 0, as Pumba does), and fails with exit 1 when a target is named "fail-me".
PUMBA_SCRIPT = """#!/bin/sh
echo "args: $*"
[ -S /var/run/docker.sock ] && echo "socket: mounted" || echo "socket: missing"
case "$*" in *fail-me*) echo 'level=fatal msg="Error response from daemon: No such container: fail-me"'; exit 1;; esac
case "$1$2$3" in *kill*|*stop*|*rm*) echo 'level=info msg="killing container"'; exit 0;; esac
cleanup() {
  echo 'level=info msg="stopping netem on container (cleanup)"'
  sleep "${PUMBA_STANDIN_CLEANUP_S:-0}"
  echo 'level=info msg="cleanup done"'
  exit 0
}
trap cleanup TERM INT
echo 'level=info msg="running netem on container"'
while true; do sleep 0.2; done
"""


def _tag(name: str, content: str) -> str:
    """Images are tagged by their content, so a changed stand-in is never served from a stale image."""
    return f"uxchaos-test/{name}:{hashlib.sha256(content.encode()).hexdigest()[:12]}"


BUSYBOX = _tag("busybox", "busybox rootfs v1")
# Containers and services of this test session carry this label; cleanup touches nothing else
# (another checkout's tests may be using the same engine).
TEST_LABEL = {"uxchaos.test": uuid.uuid4().hex[:12]}
TEST_FILTER = f"uxchaos.test={TEST_LABEL['uxchaos.test']}"
PUMBA_STANDIN = _tag("pumba-standin", PUMBA_SCRIPT)
# The same stand-in whose cleanup takes 3 s (a container gets no environment from the test).
PUMBA_SLOW_SCRIPT = PUMBA_SCRIPT.replace("${PUMBA_STANDIN_CLEANUP_S:-0}", "${PUMBA_STANDIN_CLEANUP_S:-3}")
assert PUMBA_SLOW_SCRIPT != PUMBA_SCRIPT
PUMBA_STANDIN_SLOW_CLEANUP = _tag("pumba-standin-slow", PUMBA_SLOW_SCRIPT)


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o755, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.mtime = int(time.time())
    if link:
        info.type, info.linkname = tarfile.SYMTYPE, link
        tar.addfile(info)
    elif data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
    else:
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))


def _rootfs(extra: dict[str, str] | None = None) -> bytes:
    busybox = shutil.which("busybox")
    assert busybox, "busybox is missing (apt-get install busybox-static; scripts/ensure-docker.sh does it)"
    with open(busybox, "rb") as f:
        binary = f.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "var", "var/run", "proc", "sys", "dev", "host"):
            _add(tar, d)
        _add(tar, "bin/busybox", binary)
        for applet in ("sh", "sleep", "echo", "cat", "chroot", "ls", "true", "id", "nc", "wget"):
            _add(tar, f"bin/{applet}", link="busybox")
        for path, text in (extra or {}).items():
            _add(tar, path, text.encode())
    return buf.getvalue()


def ensure_images(client: Any) -> None:
    import docker

    for tag, extra, changes in (
        (BUSYBOX, None, ['CMD ["/bin/sh"]']),
        (PUMBA_STANDIN, {"pumba": PUMBA_SCRIPT}, ['ENTRYPOINT ["/pumba"]']),
        (PUMBA_STANDIN_SLOW_CLEANUP, {"pumba": PUMBA_SLOW_SCRIPT}, ['ENTRYPOINT ["/pumba"]']),
    ):
        try:
            client.images.get(tag)
            continue
        except docker.errors.ImageNotFound:
            pass
        repo, _, version = tag.partition(":")
        client.api.import_image_from_data(_rootfs(extra), repository=repo, tag=version, changes=changes)


def ensure_tc_image(client: Any) -> str:
    """An image with this host's iproute2 `tc` and the libraries it links (gaiadocker/iproute2 cannot
    be pulled here), as the docker driver's netem sidecar. Tagged by the binary's content."""
    import os
    import re
    import subprocess

    import docker

    tc = shutil.which("tc")
    assert tc, "tc is missing (apt-get install iproute2)"
    real = os.path.realpath(tc)
    ldd = subprocess.run(["ldd", real], capture_output=True, text=True, check=True).stdout
    libs = sorted({os.path.realpath(m) for m in re.findall(r"(/\S+\.so[.\d]*)", ldd)} |
                  {m for m in re.findall(r"(/\S+\.so[.\d]*)", ldd)})
    with open(real, "rb") as f:
        binary = f.read()
    tag = f"uxchaos-test/tc:{hashlib.sha256(binary).hexdigest()[:12]}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "lib", "lib64", "lib/x86_64-linux-gnu", "usr", "usr/lib", "usr/lib/x86_64-linux-gnu",
                  "usr/sbin", "tmp", "proc", "sys", "dev", "etc"):
            _add(tar, d)
        _add(tar, "usr/sbin/tc", binary)
        _add(tar, "bin/tc", link="/usr/sbin/tc")
        for lib in libs:  # symlinked paths (/lib64/ld-linux…) get the resolved file's bytes
            with open(lib, "rb") as f:
                _add(tar, lib.lstrip("/"), f.read())
    repo, _, version = tag.partition(":")
    client.api.import_image_from_data(buf.getvalue(), repository=repo, tag=version,
                                      changes=['ENV PATH=/usr/sbin:/bin'])
    return tag
