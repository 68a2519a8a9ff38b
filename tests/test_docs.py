"""The README's promises that code can check."""

from __future__ import annotations

import re
from pathlib import Path

from uxchaos.commands.reference import render_reference

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def test_reference_in_readme_matches_the_registries() -> None:
    page = (DOCS / "reference.md").read_text()
    embedded = page.split("<!-- reference:start -->\n")[1].split("<!-- reference:end -->")[0]
    assert embedded == render_reference(), "run: uxchaos reference, and paste it into docs/reference.md"


def test_quick_start_has_exactly_the_two_commands() -> None:
    quick = README.split("## Quick start")[1].split("```sh")[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_ci_calls_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def architecture_paths(readme: str) -> list[str]:
    """The paths the README's architecture tree names. A line whose first word ends in `/` opens a
    folder (nested by indentation); one whose first word ends in `.py` is a module of the folder it
    is indented under; module names in the description (and its continuation lines, indented to the
    description column) are files of the folder the entry describes (a folder's own, or the
    module's folder): `faults/ … proxy.py` is uxchaos/faults/proxy.py, `params.py …; durations.py`
    is uxchaos/durations.py."""
    tree = readme.split("# Architecture")[1].split("```")[1]
    folders: list[tuple[int, str]] = []  # (indent, path) of the open folders
    entry_indent, context = -1, ""
    paths: list[str] = []
    for line in tree.splitlines()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        first, _, description = line.strip().partition(" ")
        if entry_indent < 0 or indent <= entry_indent + 4:  # an entry (else a continuation line)
            entry_indent = indent
            while folders and folders[-1][0] >= indent:
                folders.pop()
            parent = folders[-1][1] if folders else ""
            if first.endswith("/"):
                context = parent + first
                folders.append((indent, context))
            else:
                assert first.endswith(".py"), f"not a folder or module: {line!r}"
                paths.append(parent + first)
                context = parent
        else:
            description = line
        paths += [context + name for name in re.findall(r"(?<![\w./])(\w+\.py)\b", description)]
    return paths


def test_architecture_names_existing_modules() -> None:
    paths = architecture_paths((DOCS / "architecture.md").read_text())
    assert len(paths) >= 40, paths  # the tree was parsed, not skipped
    missing = [p for p in paths if not (ROOT / p).is_file()]
    assert not missing, f"the README's architecture names modules that do not exist: {missing}"
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "uxchaos").rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    unmentioned = sorted(modules - set(paths))
    assert not unmentioned, f"modules the README's architecture does not mention: {unmentioned}"


def test_architecture_parser_resolves_folders_and_descriptions() -> None:
    readme = ("## Architecture\n```\nuxchaos/\n  cli.py      x (errors.py)\n  faults/     one per driver:\n"
              "              proxy.py, docker.py\n  journey/\n    steps.py  y\n  ledger.py   z; procs.py: w\n"
              "benchmarks/ bench.py\n```\n## Next\n")
    assert architecture_paths(readme) == [
        "uxchaos/cli.py", "uxchaos/errors.py", "uxchaos/faults/proxy.py", "uxchaos/faults/docker.py",
        "uxchaos/journey/steps.py", "uxchaos/ledger.py", "uxchaos/procs.py", "benchmarks/bench.py"]


def test_readme_is_a_front_door_and_the_docs_index_is_the_same_page() -> None:
    assert len(README.splitlines()) <= 200
    index = (DOCS / "index.md").read_text().split("\n", 1)[1]
    assert index == README.replace("](docs/", "](").replace(
        "[benchmarks/RESULTS.md](benchmarks/RESULTS.md)", "`benchmarks/RESULTS.md`").replace(
        "[LICENSE](LICENSE)", "`LICENSE`")  # outside docs/: the site cannot link it


def test_every_docs_page_is_in_the_site_navigation_and_every_readme_link_exists() -> None:
    import yaml

    nav = {next(iter(item.values())) for item in yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]}
    assert nav == {p.name for p in DOCS.glob("*.md")}
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert links and all((ROOT / link).is_file() for link in links), links


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "architecture" / "index.html").is_file()
