"""The README's promises that code can check."""

from __future__ import annotations

import re
from pathlib import Path

from uxchaos.reference import render_reference

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_reference_in_readme_matches_the_registries() -> None:
    embedded = README.split("<!-- reference:start -->\n")[1].split("<!-- reference:end -->")[0]
    assert embedded == render_reference(), "run: uxchaos reference, and paste it into the README"


def test_quick_start_has_exactly_the_two_commands() -> None:
    quick = README.split("## Quick start")[1].split("```sh")[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_ci_calls_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_architecture_names_existing_modules() -> None:
    section = README.split("## Architecture")[1].split("## ")[0]
    for name in re.findall(r"\b([a-z_]+\.py)\b", section):
        assert list((ROOT / "uxchaos").rglob(name)) or list(ROOT.rglob(f"benchmarks/{name}")), name
