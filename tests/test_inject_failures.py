"""No error turned into success: an inject that fails is reported with its cause, reverted, and
ends the run with exit 3 — never counted as a fault that holds. Real Docker engine; Pumba is the
local stand-in image (tests/dockerutil.py), because the real image cannot be pulled here."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dockerutil import BUSYBOX, PUMBA_STANDIN, TEST_FILTER, TEST_LABEL, ensure_images

from uxchaos.cli import main
from uxchaos.containers import docker_client
from uxchaos.results import read_results


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    c = docker_client()
    ensure_images(c)
    yield c
    for ct in c.containers.list(all=True, filters={"label": TEST_FILTER}):
        ct.remove(force=True)


def _remove_pumba_as_it_starts(client: Any, stop: threading.Event) -> threading.Thread:
    """Somebody else removes Pumba's container the moment it starts (its exit status is lost)."""
    events = client.events(decode=True, filters={"label": "uxchaos.role=pumba", "event": "start"})

    def watch() -> None:
        for event in events:
            if stop.is_set():
                return
            try:
                client.containers.get(event["id"]).remove(force=True)
            except Exception:  # already gone: that is what this helper wants
                pass

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    stop.wait(0.2)  # the event stream is subscribed before the run starts
    return thread


def test_pumba_that_vanishes_during_inject_fails_the_run_with_the_cause(client: Any, tmp_path: Path,
                                                                        plain_site: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UXCHAOS_STATE_DIR", str(tmp_path / "state"))
    victim = client.containers.run(BUSYBOX, ["sleep", "600"], name=f"uxc-vanish-{uuid.uuid4().hex[:6]}",
                                   detach=True, network_mode="host", labels=TEST_LABEL)
    path = tmp_path / "s.yaml"
    path.write_text(f"""name: vanishing-pumba
target: {{base_url: '{plain_site}'}}
journey:
  - action: A
    steps:
      - goto: /
fault: {{driver: pumba, kind: pause, target: '{victim.name}', params: {{image: '{PUMBA_STANDIN}'}}}}
phases:
  before: {{attempts: 1}}
  during: {{attempts: 1}}
  after: {{attempts: 1}}
""")
    stop = threading.Event()
    _remove_pumba_as_it_starts(client, stop)
    err = io.StringIO()
    try:
        code = main(["run", str(path), "--out", str(tmp_path / "r")], io.StringIO(), err)
    finally:
        stop.set()
    assert code == 3, err.getvalue()
    text = err.getvalue()
    assert "Pumba" in text and ("disappeared" in text or "exited with code" in text), text
    (run_dir,) = (tmp_path / "r").glob("*/*")
    records = read_results(run_dir)
    failed = [r for r in records if r.get("event") == "inject_failed"]
    assert len(failed) == 1 and failed[0]["reverted"] is True
    assert not any(r.get("event") == "injected" for r in records)  # never counted as holding
    assert not any(r.get("type") == "sample" and r["phase"] == "during" for r in records)
    victim.reload()
    assert victim.status == "running"  # not left paused
    assert not list((tmp_path / "state" / "ledger").glob("*.json"))
