"""Scenario loading: every broken file gets one clear message with file, line and what is allowed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from uxchaos.cli import main
from uxchaos.scenario.loading import load_scenario, parse_scenario
from uxchaos.scenario.lookup import find_scenario
from uxchaos.scenario.model import ScenarioError
from uxchaos.util.durations import DurationError, parse_duration

BROKEN = Path(__file__).parent / "scenarios" / "broken"
SHIPPED = Path(__file__).parent.parent / "scenarios"

CASES = {
    "yaml-syntax": (3, "YAML syntax error"),
    "unknown-top-key": (3, "unknown key 'journy' (did you mean 'journey'?); allowed: name, description"),
    "unknown-step": (7, "unknown step 'clik' (did you mean 'click'?); allowed steps: goto, fill, click"),
    "bare-duration": (12, "fault.params.delay: a bare number (2000) has no unit: write '2000ms' or '2000s'"),
    "missing-selector": (6, "fill needs 'selector' (write '- fill: ...')"),
    "unknown-driver": (8, "unknown driver 'pumbaa'"),
    "unknown-fault-kind": (9, "driver proxy has no fault kind 'dealy' (did you mean 'delay'?); allowed: delay"),
    "wrong-type-attempts": (9, "phases.during.attempts: must be a whole number, got 'three'"),
    "empty-journey": (3, "journey: must be a non-empty list of actions"),
    "missing-env": (5, "environment variable UXCHAOS_TEST_UNSET_PASSWORD is not set"),
    "bad-base-url": (2, "must be 'demo' or an http(s):// URL, got 'localhost:8000'"),
    "unknown-step-param": (7, "unknown parameter 'timout' for click (did you mean 'timeout'?)"),
    "bad-signal": (12, "unknown signal 'SIGNOPE'"),
    "not-a-mapping": (1, "must be a mapping with keys name, description, target, journey"),
    "python-tag": (1, "unsupported YAML tag"),
    "duplicate-action": (7, "duplicate action name 'A'"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_scenario_names_file_line_and_fix(name: str) -> None:
    line, message = CASES[name]
    path = BROKEN / f"{name}.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, env={})
    text = str(info.value)
    assert f"{path}:{line}:" in text, text
    assert message in text, text


def test_every_broken_file_has_a_case() -> None:
    assert sorted(p.stem for p in BROKEN.glob("*.yaml")) == sorted(CASES)


def test_several_problems_reported_at_once() -> None:
    text = """
name: x
target: {base_url: demo}
journey:
  - action: A
    steps:
      - clik: a
      - goto: /
        wait: 1s
phases:
  before: {attempts: 0}
"""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "inline.yaml", env={})
    assert len(info.value.problems) == 3
    assert [p.line for p in info.value.problems] == [7, 9, 11]


def test_environment_values_and_defaults() -> None:
    text = """
name: env
target:
  base_url: ${APP_URL:-http://127.0.0.1:9}
  credentials:
    username: ${APP_USER}
    password: ${APP_PASSWORD:-fallback}
journey:
  - action: A
    steps:
      - goto: /
"""
    s = parse_scenario(text, "env.yaml", env={"APP_USER": "ann", "APP_PASSWORD": "s3cret-value"})
    assert s.target.base_url == "http://127.0.0.1:9"
    assert s.target.credentials == {"username": "ann", "password": "s3cret-value"}
    assert "s3cret-value" in s.secrets
    assert "s3cret-value" not in str(s.masked())


def test_shipped_scenarios_are_valid() -> None:
    names = {load_scenario(p).name for p in SHIPPED.glob("*.yaml")}
    assert {"login-under-db-delay", "backend-latency", "worker-kill"} <= names
    s = load_scenario(find_scenario("login-under-db-delay"))
    assert s.fault is not None and s.fault.params["delay"] == 2.0
    assert all(p.attempts == 3 for p in s.phases.values())


def test_step_forms_primary_and_mapping() -> None:
    s = parse_scenario("""
name: forms
target: {base_url: demo}
journey:
  - action: A
    steps:
      - wait_for: {url: "**/dashboard"}
      - expect_text: {text: Welcome, selector: h1}
      - fill: "#email"
        value: x
        timeout: 2s
""", "f.yaml", env={})
    steps = s.journey[0].steps
    assert steps[0].args == {"url": "**/dashboard"}
    assert steps[1].args == {"text": "Welcome", "selector": "h1"}
    assert steps[2].args == {"selector": "#email", "value": "x", "timeout": 2.0}
    assert steps[2].label == "fill #email"  # the typed value never appears in labels


def test_wait_for_needs_exactly_one_target() -> None:
    with pytest.raises(ScenarioError, match="wait_for needs exactly one of: selector, url, text"):
        parse_scenario("""
name: w
target: {base_url: demo}
journey:
  - action: A
    steps:
      - wait_for: {url: "/x", text: "y"}
""", "w.yaml", env={})


@pytest.mark.parametrize("text,seconds", [("2s", 2), ("2000ms", 2), ("1m30s", 90), ("1.5s", 1.5), ("250us", 0.00025)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", [2000, "2000", "-1s", "2 parsecs", "s", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_cli_validate_and_list() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", str(SHIPPED / "login-under-db-delay.yaml")], out, err) == 0
    assert "ok — login-under-db-delay" in out.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", str(BROKEN / "unknown-step.yaml")], out, err) == 2
    assert "unknown-step.yaml:7:" in err.getvalue()
    out = io.StringIO()
    assert main(["list"], out, io.StringIO()) == 0
    assert "login-under-db-delay" in out.getvalue() and "worker-kill" in out.getvalue()


def test_cli_unknown_scenario_name_exit_2() -> None:
    err = io.StringIO()
    assert main(["run", "login-under-db-dely"], io.StringIO(), err) == 2
    assert "did you mean 'login-under-db-delay'" in err.getvalue()


# -- hostile files: bounded, and a file:line message with exit 2 ---------------------------------

def _validate(path: Path, traced: bool = False) -> tuple[int, str, float, int]:
    """`uxchaos validate` in this process: exit code, stderr, seconds and, when `traced`, the peak of
    bytes allocated, from a second call under tracemalloc (which slows Python several times)."""
    import time
    import tracemalloc

    err = io.StringIO()
    started = time.perf_counter()
    code = main(["validate", str(path)], io.StringIO(), err)
    elapsed = time.perf_counter() - started
    peak = 0
    if traced:
        tracemalloc.start()
        try:
            assert main(["validate", str(path)], io.StringIO(), io.StringIO()) == code
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return code, err.getvalue(), elapsed, peak


def test_a_binary_file_gets_file_line_and_exit_2(tmp_path: Path) -> None:
    import random

    rng = random.Random(11)
    head = b"name: binary\ndescription: looks like YAML at first\n"
    blob = bytes(rng.randrange(256) for _ in range(4096))
    path = tmp_path / "binary.yaml"
    path.write_bytes(head + blob)
    first_bad = len(head) + next(i for i in range(len(blob)) if not _decodes(blob[:i + 1]))
    line = (head + blob).count(b"\n", 0, first_bad) + 1
    code, err, _, _ = _validate(path)
    assert code == 2, err
    assert f"{path}:{line}: not UTF-8 text: byte 0x" in err and "Traceback" not in err


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError as e:
        return e.reason == "unexpected end of data"  # a sequence cut short here may go on in the next byte


def test_an_alias_bomb_is_refused_quickly_and_in_little_memory(tmp_path: Path) -> None:
    """Nine levels of nine aliases (< 1 KB) expand to 9**9 values: refused at the node limit."""
    lines = ["name: bomb", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines.append("description: *a8")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 1024
    code, err, elapsed, peak = _validate(path, traced=True)
    assert code == 2, err
    assert f"{path}:2: too many nodes after expanding aliases (limit 10000)" in err
    assert elapsed < 10 and peak < 50 * 2**20, (elapsed, peak)


@pytest.mark.parametrize("name,text,line,message", [
    ("deep", "name: deep\ndescription: " + "[" * 700 + "]" * 700 + "\n", 2, "nested deeper than 64 levels"),
    ("deep-aliases", "name: d\na: &a " + "[" * 40 + "]" * 40 + "\nb: &b " + "[" * 30 + "*a" + "]" * 30 + "\n", 2,
     "nested deeper than 64 levels"),
    ("many", "name: many\ndescription: [" + "a," * 12_000 + "a]\n", 2, "too many nodes (limit 10000)"),
    ("huge", "name: huge\ndescription: '" + "x" * 600_000 + "'\n", 1, "the file is larger than 524288 bytes"),
])
def test_deep_many_and_huge_documents_are_refused(tmp_path: Path, name: str, text: str, line: int,
                                                  message: str) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    code, err, elapsed, _ = _validate(path)
    assert code == 2, err
    assert f"{path}:{line}: {message}" in err and "Traceback" not in err
    assert elapsed < 10, elapsed
