"""Following a Swarm service while one of its task containers is killed: the failed task (state,
exit code, error — the report's "task: non-zero exit (137)"), when the failure was seen, when the
replacement task was Running, and the restart-policy delay. Times come from Docker's own event and
task timestamps, never from when we happened to look."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

log = logging.getLogger("uxchaos.faults.swarm")

SERVICE_ID = "com.docker.swarm.service.id"
SERVICE_NAME = "com.docker.swarm.service.name"
DEFAULT_RESTART_DELAY_S = 5.0  # Swarm's default


def docker_time(text: str) -> float:
    """Docker's RFC 3339 timestamps have nanoseconds; Python parses microseconds."""
    main, _, frac = text.rstrip("Z").partition(".")
    stamp = dt.datetime.fromisoformat(main).replace(tzinfo=dt.UTC).timestamp()
    return stamp + float(f"0.{frac[:9] or '0'}")


def is_swarm_task(container: Any) -> bool:
    return SERVICE_ID in container.labels


class ServiceWatcher:
    """Started just before the kill; collects container events of the service in a thread."""

    def __init__(self, client: Any, container: Any) -> None:
        self.client = client
        self.container_id = container.id
        self.service_id = container.labels[SERVICE_ID]
        self.service_name = container.labels.get(SERVICE_NAME, self.service_id)
        self.events: list[dict[str, Any]] = []
        self.killed_at = 0.0
        self._reported: set[str] = set()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self, killed_at: float) -> None:
        self.killed_at = killed_at
        self._stream = self.client.events(since=int(killed_at) - 1, decode=True,
                                          filters={"type": "container", "label": f"{SERVICE_ID}={self.service_id}"})
        self._thread = threading.Thread(target=self._read, name="uxchaos-swarm-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        import docker
        import requests

        try:
            for event in self._stream:
                self.events.append(event)
        except (docker.errors.APIError, requests.exceptions.RequestException, OSError, ValueError) as e:
            # the stream is closed when we stop (and reading a closed stream fails in several ways);
            # before that, a failure means events are missing: say so
            if not self._stopped:
                log.warning("the Docker events stream of service %s ended: %s", self.service_id, e)

    def stop(self) -> None:
        self._stopped = True
        if self._stream is not None:
            self._stream.close()

    def restart_delay_s(self) -> float:
        spec = self.client.api.inspect_service(self.service_id)["Spec"]
        delay_ns = spec.get("TaskTemplate", {}).get("RestartPolicy", {}).get("Delay")
        return DEFAULT_RESTART_DELAY_S if delay_ns is None else delay_ns / 1e9

    def tasks(self) -> list[dict[str, Any]]:
        return list(self.client.api.tasks(filters={"service": self.service_id}))

    def poll(self) -> list[dict[str, Any]]:
        """New findings as run events (each reported once)."""
        out: list[dict[str, Any]] = []
        die = next((e for e in self.events if e.get("Action") == "die" and e.get("id") == self.container_id), None)
        if die is not None and "failed" not in self._reported:
            task = next((t for t in self.tasks()
                         if t.get("Status", {}).get("ContainerStatus", {}).get("ContainerID") == self.container_id),
                        None)
            if task is not None and task["Status"]["State"] in ("failed", "shutdown", "complete", "rejected"):
                self._reported.add("failed")
                seen = die["timeNano"] / 1e9
                out.append({
                    "event": "task_failed", "time": seen, "service": self.service_name, "task": task["ID"][:12],
                    "state": task["Status"]["State"], "error": task["Status"].get("Err", ""),
                    "exit_code": int(die.get("Actor", {}).get("Attributes", {}).get("exitCode", -1)),
                    "failure_seen_s": round(seen - self.killed_at, 3),
                    "restart_delay_s": self.restart_delay_s(),
                })
        start = next((e for e in self.events if e.get("Action") == "start" and e.get("id") != self.container_id),
                     None)
        if start is not None and "running" not in self._reported and "failed" in self._reported:
            self._reported.add("running")
            at = start["timeNano"] / 1e9
            out.append({"event": "replacement_running", "time": at, "service": self.service_name,
                        "container": start["id"][:12], "after_kill_s": round(at - self.killed_at, 3)})
        if "running" in self._reported and "tasks" not in self._reported:
            tasks = self.tasks()  # the snapshot once the task state has caught up with the container
            if any(t["Status"]["State"] == "running" and t["Status"].get("ContainerStatus", {}).get("ContainerID")
                   != self.container_id for t in tasks):
                self._reported.add("tasks")
                out.append({"event": "service_tasks", "time": time.time(), "service": self.service_name,
                            "tasks": [task_row(t, self.service_name) for t in tasks]})
        return out


def task_row(task: dict[str, Any], service: str) -> dict[str, Any]:
    """One line of `docker service ps`."""
    status = task.get("Status", {})
    spec = task.get("Spec", {}).get("ContainerSpec", {})
    return {
        "id": task["ID"][:12],
        "name": f"{service}.{task.get('Slot', '?')}",
        "image": spec.get("Image", "").split("@")[0],
        "desired_state": task.get("DesiredState", "").capitalize(),
        "current_state": status.get("State", "").capitalize(),
        "since": docker_time(status["Timestamp"]) if status.get("Timestamp") else None,
        "error": status.get("Err", ""),
    }
