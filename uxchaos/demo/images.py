"""`uxchaos demo build`: the demo's Docker images, made without any registry. A minimal Debian root
filesystem from `mmdebstrap` becomes the base image (`docker import`); the others are built on it
with `docker build --network host` (apt and pip reach their mirrors through the host):

    uxchaos-demo-base      Debian + python3 + python3-venv (mmdebstrap)
    uxchaos-demo-postgres  + Debian's PostgreSQL
    uxchaos-demo-laravel   + Debian's PHP 8.2, Laravel 8, MariaDB and Redis, and the app of demo/laravel
    uxchaos-demo-app       + uxchaos from this checkout's wheel in /opt/uxchaos (app and worker)
    uxchaos-demo-proxy     the app image started as `uxchaos proxy serve`
    uxchaos-demo-browser   + Debian's Chromium and Playwright, started as `uxchaos browser serve`

Each tag is a hash of its inputs (the recipe, the Dockerfile, the parent's tag, the source), so an
image is rebuilt only when something it is made of changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from uxchaos.errors import EnvironmentProblem
from uxchaos.util.procs import state_dir

DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# What the services import (the app, the worker, the proxy); checked against pyproject by a test.
SERVICE_DEPS = ("psycopg[binary]>=3.1", "starlette>=0.37", "uvicorn>=0.29", "python-multipart>=0.0.9",
                "PyYAML>=6.0")
RECIPE_VERSION = "1"  # bump to rebuild every image


@dataclass(frozen=True)
class DemoImages:
    base: str
    postgres: str
    app: str
    proxy: str
    browser: str
    laravel: str

    def all(self) -> dict[str, str]:
        return {"base": self.base, "postgres": self.postgres, "app": self.app, "proxy": self.proxy,
                "browser": self.browser, "laravel": self.laravel}


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:12]


def _docker_file(name: str) -> str:
    return (resources.files("uxchaos.demo") / "docker" / name).read_text()


def debian_suite() -> str:
    """This host's Debian release (the images get the same Python), else bookworm."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME=") and line.split("=", 1)[1].strip('"'):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "bookworm"


def mirror() -> str:
    return os.environ.get("UXCHAOS_DEBIAN_MIRROR") or DEFAULT_MIRROR


def project_root() -> Path:
    """The checkout uxchaos runs from: the app image gets a wheel built from it."""
    import uxchaos

    root = Path(uxchaos.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").exists():
        raise EnvironmentProblem(f"`uxchaos demo build` builds the app image from the uxchaos source checkout; "
                                 f"uxchaos here is installed at {root} without one. Run it from a clone "
                                 "(`pip install -e .`).")
    return root


def source_digest(root: Path) -> str:
    """Every file that goes into the wheel (the package, the shipped scenarios, pyproject.toml)."""
    files = [root / "pyproject.toml"]
    for folder in ("uxchaos", "scenarios"):
        files += sorted(p for p in (root / folder).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))
    parts: list[str | bytes] = []
    for path in files:
        parts += [str(path.relative_to(root)), path.read_bytes()]
    return _digest(*parts)


def planned_tags(root: Path | None = None) -> tuple[DemoImages, dict[str, str]]:
    """The tags the current inputs give, and each image's Dockerfile (rendered)."""
    base = f"uxchaos-demo-base:{_digest(RECIPE_VERSION, debian_suite(), mirror(), *BASE_PACKAGES)}"
    postgres_df = _docker_file("postgres.Dockerfile").replace("{base}", base)
    postgres = f"uxchaos-demo-postgres:{_digest(postgres_df, _docker_file('postgres-entrypoint.sh'))}"
    deps = " ".join(f"'{d}'" for d in SERVICE_DEPS)
    source = source_digest(root or project_root())
    app_df = _docker_file("app.Dockerfile").replace("{base}", base).replace("{deps}", deps)
    app = f"uxchaos-demo-app:{_digest(app_df, source)}"
    proxy_df = _docker_file("proxy.Dockerfile").replace("{app}", app)
    proxy = f"uxchaos-demo-proxy:{_digest(proxy_df)}"
    browser_df = (_docker_file("browser.Dockerfile").replace("{base}", base).replace("{deps}", deps)
                  .replace("{playwright}", playwright_version()))
    browser = f"uxchaos-demo-browser:{_digest(browser_df, source)}"
    from uxchaos.demo.laravel_image import laravel_tag

    laravel, laravel_df = laravel_tag(base)
    return (DemoImages(base, postgres, app, proxy, browser, laravel),
            {"postgres": postgres_df, "app": app_df, "proxy": proxy_df, "browser": browser_df, "laravel": laravel_df})


def playwright_version() -> str:
    """The browser image's Playwright must be this one: a client and a server of different versions
    do not talk."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("playwright")
    except PackageNotFoundError:
        raise EnvironmentProblem("playwright is not installed here, so the browser image cannot match it: "
                                 "pip install playwright") from None


def host_ca_bundle() -> str:
    """The CA certificates pip trusts on this host (its PIP_CERT, else the system bundle), or ""."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("REQUESTS_CA_BUNDLE"),
                      os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text(errors="replace")
    return ""


def build_log() -> Path:
    return state_dir() / "demo-build.log"


class _Builder:
    def __init__(self, client: Any, log: TextIO, out: TextIO) -> None:
        self.client, self.log, self.out = client, log, out

    def present(self, tag: str) -> bool:
        import docker

        try:
            self.client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)
        print(f"=== {time.strftime('%H:%M:%S')} {text}", file=self.log, flush=True)

    def base(self, tag: str) -> None:
        if not shutil.which("mmdebstrap"):
            raise EnvironmentProblem("mmdebstrap is missing, so the base image cannot be made: "
                                     "`apt-get install mmdebstrap` (scripts/ensure-docker.sh installs it)")
        with tempfile.TemporaryDirectory(prefix="uxchaos-rootfs-") as tmp:
            tar = Path(tmp) / "rootfs.tar"
            command = ["mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                       "--aptopt=Acquire::Retries \"2\"", debian_suite(), str(tar), mirror()]
            print("$ " + " ".join(command), file=self.log, flush=True)
            done = subprocess.run(command, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise EnvironmentProblem(f"mmdebstrap could not make the base root filesystem (exit {done.returncode}; "
                                         f"Debian mirror {mirror()} unreachable?); see {self.log.name}")
            repo, _, version = tag.partition(":")
            with open(tar, "rb") as f:
                self.client.api.import_image_from_data(
                    f, repository=repo, tag=version,
                    changes=["ENV LANG=C.UTF-8", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["/bin/sh"]'])

    def docker_build(self, tag: str, dockerfile: str, files: dict[str, Path | str]) -> None:
        """`docker build --network host` of a context made of `files` (name → path or text)."""
        import docker

        with tempfile.TemporaryDirectory(prefix="uxchaos-build-") as tmp:
            Path(tmp, "Dockerfile").write_text(dockerfile)
            for name, content in files.items():
                if isinstance(content, Path) and content.is_dir():
                    shutil.copytree(content, Path(tmp, name), ignore=shutil.ignore_patterns("__pycache__"))
                elif isinstance(content, Path):
                    shutil.copy(content, Path(tmp, name))
                else:
                    Path(tmp, name).write_text(content)
            try:
                for chunk in self.client.api.build(path=tmp, tag=tag, network_mode="host", rm=True,
                                                   forcerm=True, decode=True):
                    if "stream" in chunk:
                        self.log.write(chunk["stream"])
                    if "error" in chunk:
                        self.log.write(chunk["error"] + "\n")
                        self.log.flush()
                        raise EnvironmentProblem(f"building {tag} failed: {chunk['error'].strip()[:300]}; "
                                                 f"see {self.log.name}")
            except docker.errors.APIError as e:
                raise EnvironmentProblem(f"building {tag} failed: {e.explanation or e}; see {self.log.name}") from None
            self.log.flush()

    def wheel(self, root: Path, into: Path) -> Path:
        command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(root),
                   "-w", str(into)]
        done = subprocess.run(command, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              cwd=into)
        wheels = list(into.glob("uxchaos-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            raise EnvironmentProblem(f"building the uxchaos wheel failed; see {self.log.name}")
        return wheels[0]


def build_images(out: TextIO, client: Any = None) -> DemoImages:
    """Build what is missing; return every tag. Errors name the log file."""
    from uxchaos.faults.dockerapi import docker_client

    client = client or docker_client()
    root = project_root()
    tags, dockerfiles = planned_tags(root)
    path = build_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log:
        b = _Builder(client, log, out)
        if not b.present(tags.base):
            started = time.monotonic()
            b.note(f"building {tags.base} with mmdebstrap (a minute or two; log: {path}) …")
            b.base(tags.base)
            b.note(f"  {tags.base} in {time.monotonic() - started:.0f}s")
        if not b.present(tags.postgres):
            started = time.monotonic()
            b.note(f"building {tags.postgres} …")
            b.docker_build(tags.postgres, dockerfiles["postgres"],
                           {"postgres-entrypoint.sh": _docker_file("postgres-entrypoint.sh")})
            b.note(f"  {tags.postgres} in {time.monotonic() - started:.0f}s")
        with tempfile.TemporaryDirectory(prefix="uxchaos-wheel-") as tmp:
            wheel: Path | None = None
            for tag, what in ((tags.app, f"uxchaos from {root}"),
                              (tags.browser, f"Debian's Chromium, Playwright {playwright_version()}")):
                if b.present(tag):
                    continue
                started = time.monotonic()
                b.note(f"building {tag} ({what}) …")
                wheel = wheel or b.wheel(root, Path(tmp))
                role = tag.split(":")[0].removeprefix("uxchaos-demo-")
                b.docker_build(tag, dockerfiles[role].replace("{wheel}", wheel.name),
                               {wheel.name: wheel, "host-ca.crt": host_ca_bundle()})
                b.note(f"  {tag} in {time.monotonic() - started:.0f}s")
        if not b.present(tags.proxy):
            b.docker_build(tags.proxy, dockerfiles["proxy"], {})
        if not b.present(tags.laravel):
            from uxchaos.demo.laravel_image import laravel_context

            started = time.monotonic()
            b.note(f"building {tags.laravel} (Debian's PHP, Laravel 8, MariaDB, Redis) …")
            b.docker_build(tags.laravel, dockerfiles["laravel"], laravel_context())
            b.note(f"  {tags.laravel} in {time.monotonic() - started:.0f}s")
    return tags
