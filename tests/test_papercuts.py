"""What a new user meets first: a closed pipe, a scenario named in `validate`, the doctor's summary, a
bug in uxchaos, and the set-up's own output before `make demo` says anything."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from uxchaos.cli import main

ROOT = Path(__file__).parent.parent


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    """`uxchaos list | head -1`: the pipe's reading end is closed before uxchaos writes (so the
    write fails every time, not only when head is quicker)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "uxchaos", "list"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no BrokenPipeError, no "Exception ignored … flush" at exit
    assert done.returncode == 0


def test_a_broken_pipe_inside_uxchaos_is_not_taken_for_a_reader_going_away(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """Only a closed stdout ends quietly: a BrokenPipeError from a socket inside uxchaos is a bug."""
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path))

    def broken(*args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("uxchaos.commands.dispatch.cmd_list", broken)
    err = io.StringIO()
    assert main(["list"], io.StringIO(), err) == 70
    assert "internal error: BrokenPipeError" in err.getvalue()


def test_validate_finds_a_shipped_scenario_by_name() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", "login-under-db-delay"], out, err) == 0, err.getvalue()
    assert out.getvalue().startswith("login-under-db-delay: ok — login-under-db-delay:")
    err = io.StringIO()
    assert main(["validate", "login-under-db-dely"], io.StringIO(), err) == 2
    assert "did you mean" in err.getvalue() or "login-under-db-delay" in err.getvalue()


@pytest.mark.docker
def test_doctor_counts_its_checks_and_says_which_warnings_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a scenario, Docker down is a warning: which shipped scenarios need it, and which do not."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    out = io.StringIO()
    assert main(["doctor"], out, io.StringIO()) == 0
    lines = out.getvalue().splitlines()
    summary = next(line for line in lines if " checks: " in line)
    passed, warned, failed = map(int, re.search(r"(\d+) passed, (\d+) warned, (\d+) failed", summary).groups())
    assert (warned, failed) >= (1, 0) and failed == 0
    assert passed == sum(line.startswith("✓ ") for line in lines)
    assert warned == sum(line.startswith("! ") for line in lines)
    assert "all checks passed" not in out.getvalue()
    docker = next(line for line in lines if "docker daemon matters for:" in line)
    assert "worker-kill-swarm" in docker and "login-under-db-delay" not in docker
    unaffected = next(line for line in lines if "needing none of the warned checks:" in line)
    assert "login-under-db-delay" in unaffected


@pytest.mark.browser
def test_doctor_names_the_failed_checks(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntarget: {base_url: 'http://127.0.0.1:9'}\njourney:\n  - action: A\n"
                    "    steps:\n      - goto: /\n")
    out = io.StringIO()
    assert main(["doctor", str(path)], out, io.StringIO()) == 3
    assert re.search(r"2 checks: 1 passed, 0 warned, 1 failed — fix app healthy before running", out.getvalue())


def test_a_bug_is_one_line_and_a_file_with_its_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A real bug cannot be summoned on demand: one is planted in a command (the only stand-in here)."""
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path))

    def buggy(*args: object) -> int:
        return {}["no such key"]  # type: ignore[no-any-return]

    monkeypatch.setattr("uxchaos.commands.dispatch.cmd_list", buggy)
    out, err = io.StringIO(), io.StringIO()
    assert main(["list"], out, err) == 70
    (line,) = err.getvalue().splitlines()
    assert line.startswith("uxchaos: internal error: KeyError: 'no such key'. This is a bug in uxchaos")
    saved = Path(line.rsplit("the traceback is in ", 1)[1])
    assert saved.parent == tmp_path / "crashes"
    text = saved.read_text()
    assert "Traceback (most recent call last)" in text and "buggy" in text and "['list']" in text


@pytest.mark.slow
def test_the_editable_install_prints_nothing(tmp_path: Path) -> None:
    """`make demo` on a fresh clone installs uxchaos editable first: with the Makefile's own flags, the
    build says nothing (setuptools' "BuildBackendWarning: Editable installation" and "Package would be
    ignored" pages are gone). Into a fresh virtualenv, by this environment's pip (`--python`), without
    the dependencies (the install of the package itself is what prints)."""
    makefile = (ROOT / "Makefile").read_text()
    assert "\t$(PIP_QUIET) $(BIN)/pip install -q -e '.[dev]'" in makefile
    quiet = re.search(r"^PIP_QUIET := (.*)$", makefile, re.M)
    assert quiet is not None
    env = dict(os.environ)
    for assignment in shlex.split(quiet.group(1)):
        key, _, value = assignment.partition("=")
        env[key] = value
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(fresh / "bin" / "python"), "install", "-q",
                           "--no-deps", "-e", str(ROOT)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    # This machine's pip configuration names index folders that do not exist; pip says so on every
    # install. That is the machine's, not the project's, output.
    said = [line for line in (done.stdout + done.stderr).splitlines()
            if line.strip() and not re.match(r"WARNING: Location '.*' is ignored", line)]
    assert said == []
