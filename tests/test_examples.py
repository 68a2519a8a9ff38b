"""The files in examples/ run as the README says: the Python journey scenario, the pytest-playwright
test (through the plugin, in a real pytest session) and the codegen recording."""

from __future__ import annotations

import importlib.util
import io
import shutil
from pathlib import Path

import pytest
from test_pytest_plugin import PLUGIN

from uxchaos.cli import main
from uxchaos.results.rundata import RunData

pytest_plugins = ["pytester"]
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.browser
def test_python_journey_example_runs_under_its_fault(tmp_path: Path) -> None:
    code, _, err = run_cli("run", str(EXAMPLES / "login-python.yaml"), "--attempts", "1", "--out", str(tmp_path))
    assert code == 0, err
    (run_dir,) = [p for p in tmp_path.glob("*/*") if p.is_dir()]
    run = RunData.load(run_dir)
    assert [s.phase for s in run.samples] == ["before", "during", "after"] and all(s.ok for s in run.samples)
    assert run.actions == ["Opening the login page", "Logging in", "(outside steps)"]


@pytest.mark.browser
def test_pytest_example_passes_through_the_plugin(pytester: pytest.Pytester) -> None:
    for name in ("test_login_pytest.py", "login-pytest.yaml"):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    with_playwright = importlib.util.find_spec("pytest_playwright") is not None
    result = pytester.runpytest_subprocess(*PLUGIN, *([] if with_playwright else ["-p", "no:playwright"]),
                                           "-p", "no:cacheprovider", "--uxchaos-attempts", "1")
    result.assert_outcomes(passed=1)
    assert "| Logging in | 1 |" in result.stdout.str()


def test_recorded_example_imports_into_a_valid_scenario(tmp_path: Path) -> None:
    out_file = tmp_path / "recorded.yaml"
    code, _, err = run_cli("import", str(EXAMPLES / "recorded_login.py"), "--base-url", "demo", "-o", str(out_file))
    assert code == 0, err
    assert "demo-password" not in out_file.read_text()
    code, out, err = run_cli("validate", str(out_file))
    assert code == 0 and "3 action(s), 8 step(s)" in out, err
