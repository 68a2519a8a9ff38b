"""Nothing left broken, nothing lost, nothing leaked: interruption trials with real processes, a
property-based test of the scenario loader, the secret grep, deadlines and targeting safety."""

from __future__ import annotations

import io
import json
import os
import random
import secrets
import signal
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uxchaos.cli import main
from uxchaos.demo.stack import DemoStack
from uxchaos.errors import BadInput
from uxchaos.netutil import wait_until
from uxchaos.proxy.control import ControlServer
from uxchaos.results import read_results
from uxchaos.scenario import Scenario, parse_scenario

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
PHASES = ("before", "during", "after")
FAULTS = ("proxy delay", "process pause", "docker pause")
TRIALS = len(SIGNALS) * len(PHASES) * len(FAULTS)  # every combination once: 27
PHASE_MARKERS = {"before": "run_start", "during": "injected", "after": "reverted"}


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]


@pytest.fixture
def paused_candidate() -> Iterator[Any]:
    """A real container for docker pause trials (host networking, local image)."""
    from dockerutil import BUSYBOX, TEST_LABEL, ensure_images

    from uxchaos.containers import docker_client

    client = docker_client()
    ensure_images(client)
    container = client.containers.run(BUSYBOX, ["sleep", "600"], name=f"uxc-trial-{uuid.uuid4().hex[:6]}",
                                      detach=True, network_mode="host", labels=TEST_LABEL)
    yield container
    container.remove(force=True)


@pytest.fixture
def sleeper() -> Iterator[int]:
    proc = subprocess.Popen(["sleep", "600"])
    yield proc.pid
    os.kill(proc.pid, signal.SIGCONT)
    proc.kill()
    proc.wait()


def _scenario(tmp: Path, demo: DemoStack, control: str, fault: str) -> Path:
    assert demo.info is not None
    path = tmp / "trial.yaml"
    path.write_text(f"""name: trial
target:
  base_url: {demo.info.base_url}
  proxy_control: {control}
  credentials: {{username: {demo.info.email}, password: {demo.info.password}}}
journey:
  - action: Opening the login page
    steps:
      - goto: /login
fault: {fault}
phases:
  before: {{attempts: 2}}
  during: {{attempts: 3}}
  after: {{attempts: 2}}
""")
    return path


def _records_parse_to_last_complete_line(results: Path) -> int:
    lines = results.read_text().splitlines()
    for line in lines[:-1]:
        json.loads(line)  # every line but a torn last one must be whole JSON
    return len(read_results(results.parent))


def test_interruption_trials_leave_no_fault_behind(tmp_path: Path, demo_stack: DemoStack, sleeper: int,
                                                   paused_candidate: Any) -> None:
    """27 seeded trials, every combination of SIGINT/SIGTERM/SIGKILL × before/during/after × the
    proxy driver (delay on the demo's database, over the control API), the process driver (SIGSTOP
    of a real process) and the docker driver (pause of a real container), at a random point of the
    phase. After each (and `uxchaos recover` after SIGKILL): the target is back to normal and
    results.jsonl parses up to its last complete line."""
    assert demo_stack.info is not None
    demo_stack.hub.reset()
    control = ControlServer(demo_stack.hub)
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    rng = random.Random(20261126)
    left_behind, summary = 0, []
    try:
        for trial in range(TRIALS):
            sig, phase, kind = SIGNALS[trial % 3], PHASES[(trial // 3) % 3], FAULTS[trial // 9]
            fault = {
                "proxy delay": "{driver: proxy, kind: delay, target: database, params: {delay: 300ms}}",
                "process pause": f"{{driver: process, kind: pause, target: 'pid:{sleeper}'}}",
                "docker pause": f"{{driver: docker, kind: pause, target: {paused_candidate.name}}}",
            }[kind]
            trial_dir = tmp_path / f"trial-{trial}"
            trial_dir.mkdir()
            path = _scenario(trial_dir, demo_stack, control.address, fault)
            out = trial_dir / "reports"
            proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", str(path), "--out", str(out)],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                def reached(out: Path = out, marker: str = PHASE_MARKERS[phase]) -> bool:
                    found = list(out.glob("*/*/results.jsonl"))
                    return bool(found) and any(marker in (r.get("type"), r.get("event"))
                                               for r in read_results(found[0].parent))

                wait_until(reached, 60, f"trial {trial}: the {phase} phase", interval_s=0.02)
                time.sleep(rng.uniform(0.0, 1.2))
                proc.send_signal(sig)
                _, err = proc.communicate(timeout=90)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if sig == signal.SIGKILL:
                rec = subprocess.run([sys.executable, "-m", "uxchaos", "recover"], env=env, capture_output=True,
                                     text=True, timeout=60)
                assert rec.returncode == 0, rec.stderr
            else:
                assert proc.returncode in (0, 130), err
            toxics = demo_stack.hub.describe("database")["toxics"]
            stopped = process_state(sleeper) == "T"
            paused_candidate.reload()
            paused = paused_candidate.status == "paused"
            left_behind += bool(toxics) + stopped + paused
            assert not (toxics or stopped or paused), f"trial {trial} ({sig.name}, {phase}, {kind}): fault left behind"
            (results,) = out.glob("*/*/results.jsonl")
            records = _records_parse_to_last_complete_line(results)
            assert not list((tmp_path / "state" / "ledger").glob("*.json")), f"trial {trial}: ledger still open"
            summary.append(f"{trial}: {sig.name}/{phase}/{kind}: {records} records")
    finally:
        control.close()
    print(f"\n{TRIALS} interruption trials, faults left behind: {left_behind}\n  " + "\n  ".join(summary))
    assert left_behind == 0


def test_recover_lists_nothing_when_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path))
    out = io.StringIO()
    assert main(["recover"], out, io.StringIO()) == 0
    assert "nothing to recover" in out.getvalue()


def test_killed_run_leaves_no_demo_process_and_recover_removes_its_data(tmp_path: Path) -> None:
    env = {**os.environ, "UXCHAOS_STATE_DIR": str(tmp_path / "state")}
    out = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "run", "login-under-db-delay", "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: any((tmp_path / "state" / "ledger").glob("*.json")) and any(
            r.get("event") == "injected" for f in out.glob("*/*/results.jsonl") for r in read_results(f.parent)),
            90, "the fault injection")
        ledger = json.loads(next((tmp_path / "state" / "ledger").glob("*.json")).read_text())
        demo = next(e for e in ledger["entries"] if e["kind"] == "processes")
        assert {e["kind"] for e in ledger["entries"]} == {"processes", "fault"}
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    # The kernel stops the demo's children with their parent (PR_SET_PDEATHSIG).
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() and process_state(pid) != "Z" for pid in demo["pids"]),
               20, "the demo's processes to end")
    warn = io.StringIO()
    os.environ["UXCHAOS_STATE_DIR"] = str(tmp_path / "state")
    unreachable = tmp_path / "next.yaml"
    unreachable.write_text("name: next\ntarget: {base_url: 'http://127.0.0.1:9'}\njourney:\n  - action: A\n"
                           "    steps:\n      - goto: /\n")
    try:
        # the next run warns about the open ledger before anything else (then stops: port 9 is closed)…
        assert main(["run", str(unreachable), "--out", str(tmp_path / "r2")], io.StringIO(), warn) == 3
        assert "ended without undoing" in warn.getvalue() and "Run `uxchaos recover`" in warn.getvalue()
        rec = io.StringIO()
        assert main(["recover"], rec, io.StringIO()) == 0  # …and recover undoes it
    finally:
        del os.environ["UXCHAOS_STATE_DIR"]
    assert "ran inside the uxchaos process" in rec.getvalue()
    assert not any(Path(p).exists() for p in demo["paths"])
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))


def test_secret_never_reaches_any_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    password = "pw-" + "".join(random.SystemRandom().choices(string.ascii_letters + string.digits, k=24))
    token = "tok-" + secrets.token_hex(12)
    monkeypatch.setenv("UXCHAOS_DEMO_PASSWORD", password)
    monkeypatch.setenv("MY_API_TOKEN", token)
    path = tmp_path / "secret.yaml"
    path.write_text("""name: secret-grep
target:
  base_url: demo
  credentials:
    username: demo@example.com
    password: ${UXCHAOS_DEMO_PASSWORD}
    api: ${MY_API_TOKEN}
journey:
  - action: Logging in
    steps:
      - goto: /login
      - fill: "#email"
        value: "{{ username }}"
      - fill: "#password"
        value: "{{ password }}"
      - click: "#login"
      - expect_text: Welcome
      - screenshot: after-login
  - action: Quoting the secrets in an assertion that fails
    steps:
      - expect_text: {text: "{{ password }} {{ api }}", timeout: 500ms}
fault: {driver: proxy, kind: delay, target: database, params: {delay: 50ms}}
phases:
  before: {attempts: 1}
  during: {attempts: 1}
  after: {attempts: 1}
""")
    out, err = io.StringIO(), io.StringIO()
    assert main(["-v", "run", str(path), "--out", str(tmp_path / "reports")], out, err) == 0, err.getvalue()
    captured = capsys.readouterr()
    (run_dir,) = (tmp_path / "reports").glob("*/*")
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"results.jsonl", "run.json", "report.md", "report.html", "junit.xml", "summary.json"} <= {
        p.name for p in files}
    assert any(p.suffix == ".png" for p in files)
    records = read_results(run_dir)
    assert any("***" in (r.get("failure") or "") for r in records)  # the failure was recorded, masked
    for secret in (password, token):
        for p in files:
            assert secret.encode() not in p.read_bytes(), f"{secret[:3]}… found in {p.name}"
            assert secret not in p.name
        for stream in (out.getvalue(), err.getvalue(), captured.out, captured.err):
            assert secret not in stream


def test_browser_that_cannot_start_is_an_environment_problem(tmp_path: Path, plain_site: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_BROWSER", "/bin/false")
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ntarget: {{base_url: '{plain_site}'}}\njourney:\n  - action: A\n    steps:\n"
                    "      - goto: /\n")
    err = io.StringIO()
    assert main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err) == 3
    assert "could not start Chromium at /bin/false" in err.getvalue()


def test_deadline_stops_the_run_and_reverts(tmp_path: Path, sleeper: int, plain_site: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    path = tmp_path / "s.yaml"
    path.write_text(f"""name: slow
target: {{base_url: '{plain_site}'}}
journey:
  - action: Waiting
    steps:
      - goto: /
      - sleep: 1s
fault: {{driver: process, kind: pause, target: 'pid:{sleeper}'}}
phases:
  before: {{attempts: 1}}
  during: {{attempts: 50}}
  after: {{attempts: 1}}
""")
    err = io.StringIO()
    started = time.monotonic()
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--deadline", "4s"], io.StringIO(), err) == 3
    assert time.monotonic() - started < 30
    assert "deadline of 4s passed" in err.getvalue()
    assert process_state(sleeper) != "T"
    (run_dir,) = (tmp_path / "r").glob("*/*")
    assert any(r.get("event") == "reverted" for r in read_results(run_dir))
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))


@pytest.mark.parametrize("target,message", [
    ("pid:1", "refusing to target pid 1"),
    ("pattern:.", "it must match exactly one"),
])
def test_process_targets_that_are_refused(tmp_path: Path, plain_site: str, target: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ntarget: {{base_url: '{plain_site}'}}\njourney:\n  - action: A\n    steps:\n"
                    f"      - goto: /\nfault: {{driver: process, kind: pause, target: '{target}'}}\n")
    err = io.StringIO()
    assert main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err) == 3
    assert message in err.getvalue()


# -- the loader never crashes: property-based ---------------------------------------------------

VALID = {
    "name": "prop",
    "description": "generated",
    "target": {"base_url": "demo", "credentials": {"username": "u", "password": "p"}},
    "journey": [{"action": "A", "steps": [{"goto": "/login"}, {"fill": "#email", "value": "{{ username }}"},
                                          {"click": "#login"}, {"wait_for": {"url": "**/x"}}]}],
    "fault": {"driver": "proxy", "kind": "delay", "target": "database", "params": {"delay": "200ms"},
              "max_duration": "1m"},
    "phases": {"before": {"attempts": 2}, "during": {"attempts": 2, "settle": "1s"}, "after": {"attempts": 1}},
    "expect": ['during["A"].p50 < 30s', "during.failures == 0"],
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["2s", "2000", "-1s", "1m30s", "${NOPE}", "${X:-y}",
                                                           "re2:(", "pattern:(", "pid:1", "{{ password }}",
                                                           "goto", "delay", "proxy", "SIGKILL", "<script>"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


def _paths(doc: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_documents(draw: st.DrawFn) -> str:
    doc = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(0, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            doc = draw(values) if action == "replace" else doc
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(values)
        else:
            parent.append(draw(values))
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    if draw(st.booleans()):  # damage the text itself too
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from(["", ":", "- ", "\t", "{", "'", "&a", "*a", "!!binary ", "\n  "])) \
            + text[pos + draw(st.integers(0, 3)):]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_loader_gives_a_scenario_or_a_clean_error(text: str) -> None:
    try:
        result = parse_scenario(text, "generated.yaml", env={"X": "1"})
    except BadInput as e:
        message = str(e)
        assert message.startswith("generated.yaml") and "Traceback" not in message
        return
    assert isinstance(result, Scenario) and result.journey


def test_the_unmutated_document_is_valid() -> None:
    assert parse_scenario(yaml.safe_dump(VALID), "valid.yaml", env={}).name == "prop"


def test_secrets_with_quotes_and_backslashes_are_masked_where_json_escapes_them(tmp_path: Path) -> None:
    from uxchaos.results import ResultsStore

    secret = 'pa"ss\\word'
    store = ResultsStore(tmp_path, {secret})
    store.append({"type": "sample", "failure": f"text {secret!s} not found"})
    store.write_json("run.json", {"note": secret})
    store.close()
    for name in ("results.jsonl", "run.json"):
        text = (tmp_path / name).read_text()
        assert secret not in text and json.dumps(secret)[1:-1] not in text and "***" in text
