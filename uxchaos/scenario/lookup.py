"""Finding scenarios: the shipped ones (in a checkout or an installed wheel), the folders searched,
and a scenario by name or path."""

from __future__ import annotations

from pathlib import Path

from uxchaos.errors import BadInput
from uxchaos.scenario.validate import did_you_mean


def shipped_scenarios() -> Path | None:
    """The scenarios that come with uxchaos: the repository's scenarios/ in a source checkout,
    else where a wheel installs them (pyproject.toml maps scenarios/ to the package
    `uxchaos.scenarios`, i.e. uxchaos/scenarios/ in site-packages)."""
    package = Path(__file__).resolve().parent.parent  # uxchaos/
    for candidate in (package.parent / "scenarios", package / "scenarios"):
        if candidate.is_dir():
            return candidate
    return None



def scenario_dirs() -> list[Path]:
    """Where scenario names are looked up: ./scenarios, then the project's own scenarios/."""
    shipped = shipped_scenarios()
    dirs = [Path.cwd() / "scenarios", *([shipped] if shipped else [])]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def find_scenario(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise BadInput(f"scenario file {p} does not exist")
        return p
    for d in scenario_dirs():
        for suffix in (".yaml", ".yml"):
            candidate = d / f"{name_or_path}{suffix}"
            if candidate.exists():
                return candidate
    known = sorted({f.stem for d in scenario_dirs() for f in d.glob("*.y*ml")})
    raise BadInput(f"no scenario named {name_or_path!r}{did_you_mean(name_or_path, known)}; "
                   f"known: {', '.join(known) or 'none'} (looked in {', '.join(map(str, scenario_dirs()))})")
