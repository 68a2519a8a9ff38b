"""Commands that only read files stay light: `validate`, `list`, `reference`, `report` and
`compare` never import Playwright (scenario validation knows the step catalogue, not the
browser side of the steps). Each runs in a fresh interpreter, so nothing imported by another
test can hide an import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_analysis import make_run

ROOT = Path(__file__).parent.parent

PROBE = """
import io, json, sys
from uxchaos.cli import main
code = main(json.loads(sys.argv[1]), io.StringIO(), io.StringIO())
print(json.dumps({"code": code, "playwright": sorted(m for m in sys.modules if m.split('.')[0] == 'playwright')}))
"""


def _run(argv: list[str], cwd: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv)], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", ["validate", "list", "reference", "report", "compare", "import"])
def test_command_never_imports_playwright(command: str, tmp_path: Path) -> None:
    run_a = make_run(tmp_path / "a", {"before": [1.0, 1.1, 0.9], "during": [2.0, 2.2, 2.1], "after": [1.0, 1.0, 1.1]})
    run_b = make_run(tmp_path / "b", {"before": [1.0, 1.2, 0.9], "during": [3.0, 3.2, 3.1], "after": [1.0, 1.0, 1.1]})
    argv = {
        "validate": ["validate", *map(str, sorted((ROOT / "scenarios").glob("*.yaml")))],
        "list": ["list"],
        "reference": ["reference"],
        "report": ["report", str(run_a)],
        "compare": ["compare", str(run_a), str(run_b)],
        "import": ["import", str(ROOT / "examples" / "recorded_login.py"), "--base-url", "demo"],
    }[command]
    result = _run(argv, ROOT)
    assert result["code"] == 0
    assert result["playwright"] == [], f"`uxchaos {command}` imported {result['playwright'][:3]}"


def test_the_probe_would_see_playwright() -> None:
    """The check above can fail: importing the runner does pull Playwright in."""
    done = subprocess.run([sys.executable, "-c", "import sys, uxchaos.journey.runner; "
                           "print(any(m.startswith('playwright') for m in sys.modules))"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True"


def test_every_step_type_has_its_browser_side() -> None:
    from uxchaos.journey.steps import IMPLEMENTATIONS
    from uxchaos.scenario.steptypes import STEPS

    assert set(IMPLEMENTATIONS) == set(STEPS)
