"""The Laravel stack's image (`uxchaos-demo-laravel`, built by `uxchaos demo build`): Debian's PHP 8.2,
php-laravel-framework, MariaDB and Redis on the mmdebstrap base, with the app of uxchaos/demo/laravel
in /opt/laravel and laravel-entrypoint.sh choosing the service's role. Its tag is a hash of the base's
tag, the Dockerfile, the entrypoint and every file of the app, so it is rebuilt only when one changed."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

APP_SOURCE = Path(__file__).parent / "laravel"


def _docker_file(name: str) -> str:
    return (resources.files("uxchaos.demo") / "docker" / name).read_text()


def app_files() -> list[Path]:
    return sorted(p for p in APP_SOURCE.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def laravel_tag(base: str) -> tuple[str, str]:
    """The image's tag for this base and these inputs, and its Dockerfile (rendered)."""
    dockerfile = _docker_file("laravel.Dockerfile").replace("{base}", base)
    h = hashlib.sha256()
    for part in (dockerfile, _docker_file("laravel-entrypoint.sh")):
        h.update(part.encode() + b"\0")
    for path in app_files():
        h.update(str(path.relative_to(APP_SOURCE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"uxchaos-demo-laravel:{h.hexdigest()[:12]}", dockerfile


def laravel_context() -> dict[str, Path | str]:
    """The build context beside the Dockerfile: the entrypoint and the app's folder."""
    return {"laravel-entrypoint.sh": _docker_file("laravel-entrypoint.sh"), "laravel": APP_SOURCE}
