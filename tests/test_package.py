"""A plain `pip install` of the wheel has everything: the shipped scenarios (package data), the
typing marker, the command. The wheel is built from this checkout and installed into a fresh
virtualenv, then used from another directory, so nothing can come from the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_wheel_installs_with_its_scenarios(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(wheels)],
                           check=True, capture_output=True, text=True, timeout=300)
    assert "warning" not in built.stdout.lower() + built.stderr.lower(), built.stderr  # e.g. setuptools' own
    (wheel,) = wheels.glob("uxchaos-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The dependencies (Playwright, SciPy, …) come from this test's own environment, listed after the
    # fresh venv's site-packages by a .pth line — installing them again would download ~300 MB. Only
    # a path is added, so the checkout's editable install (a .pth *file* there) is not picked up.
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    Path(site, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Without PYTHONPATH: pointed at the checkout, pip would see the build's uxchaos.egg-info there,
    # call uxchaos "already installed" and install nothing.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, timeout=300, env=env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uxchaos = env_dir / "bin" / "uxchaos"

    where = subprocess.run([str(python), "-c", "import uxchaos; print(uxchaos.__file__)"], cwd=elsewhere, env=env,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(str(env_dir)), f"uxchaos imported from {where}, not from the installed wheel"

    listed = subprocess.run([str(uxchaos), "list"], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    shipped = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
    assert shipped, "the repository ships scenarios"
    for name in shipped:
        assert name in listed.stdout, f"{name} missing from `uxchaos list` of the wheel install:\n{listed.stdout}"
    installed = Path(where).parent / "scenarios"
    files = sorted(installed.glob("*.yaml"))
    assert sorted(p.stem for p in files) == shipped
    validated = subprocess.run([str(uxchaos), "validate", *map(str, files)], cwd=elsewhere, env=env,
                               capture_output=True, text=True, timeout=120)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.count(": ok — ") == len(shipped)
    assert (Path(where).parent / "py.typed").exists()
    templates = Path(where).parent / "report" / "templates"  # Jinja2 templates are package data
    shipped_templates = {p.name for p in templates.iterdir()}
    assert {"report.md.j2", "report.html.j2", "compare.md.j2", "compare.html.j2"} <= shipped_templates
    vendor = Path(where).parent / "journey" / "vendor"  # web-vitals, injected into pages: never fetched
    shipped_js = (ROOT / "uxchaos" / "journey" / "vendor" / "web-vitals.iife.js").read_bytes()
    assert (vendor / "web-vitals.iife.js").read_bytes() == shipped_js
    assert "Apache License" in (vendor / "web-vitals.LICENSE").read_text()
    code = "from uxchaos.journey.vitals import init_script; print(len(init_script()))"
    script = subprocess.run([str(python), "-c", code], cwd=elsewhere, env=env, check=True, capture_output=True,
                            text=True).stdout
    assert int(script) > 8000  # the library itself is inside the script the browser gets
    demo = Path(where).parent / "demo"  # the Swarm stack's compose file and Dockerfiles are package data
    assert (demo / "stack.yml").is_file()
    assert {p.name for p in (demo / "docker").iterdir()} >= {"app.Dockerfile", "postgres.Dockerfile",
                                                             "proxy.Dockerfile", "postgres-entrypoint.sh"}
    laravel = demo / "laravel"  # the Laravel app: every file of the checkout's copy, storage folders included
    shipped_app = {p.relative_to(ROOT / "uxchaos/demo/laravel") for p in (ROOT / "uxchaos/demo/laravel").rglob("*")
                   if p.is_file() and p.name != ".gitignore"}
    assert shipped_app <= {p.relative_to(laravel) for p in laravel.rglob("*") if p.is_file()}
    assert len(shipped_app) > 50
    # what an index shows: the licence (an SPDX expression and its file), the classifiers
    meta = subprocess.run([str(python), "-c", "import importlib.metadata as m; d = m.distribution('uxchaos'); "
                           "print(d.metadata['License-Expression']); print(len(d.metadata.get_all('Classifier'))); "
                           "print(any(str(f).endswith('LICENSE') for f in d.files))"],
                          cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert meta == ["MIT", meta[1], "True"] and int(meta[1]) >= 10, meta
    # a name resolves to the installed scenario from any directory
    dry = subprocess.run([str(uxchaos), "run", "login-under-db-delay", "--dry-run"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0 and "nothing was touched" in dry.stdout, dry.stderr
