"""`uxchaos demo up|down|status`: the demo stack as a background process with a state file."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from uxchaos.errors import EnvironmentProblem, ExitStatus
from uxchaos.netutil import http_ok
from uxchaos.procs import pid_alive, state_dir


def state_file() -> Path:
    return state_dir() / "demo.json"


def _read_state() -> dict[str, Any] | None:
    try:
        return json.loads(state_file().read_text())
    except (OSError, json.JSONDecodeError):
        return None


def command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if getattr(args, "swarm", False):
        from uxchaos.demo import swarmstack

        match args.demo_command:
            case "up":
                return swarmstack.up(args.stack, args.port_base, out)
            case "down":
                return swarmstack.down(args.stack, out)
            case "status":
                return swarmstack.status(args.stack, out)
    match args.demo_command:
        case "up":
            return up(args.foreground, out, err)
        case "down":
            return down(out)
        case "status":
            return status(out)
        case "build":
            from uxchaos.demo.images import build_images

            started = time.monotonic()
            images = build_images(out)
            print(f"demo images ready in {time.monotonic() - started:.0f}s:", file=out)
            for role, tag in images.all().items():
                print(f"  {role:9} {tag}", file=out)
            return int(ExitStatus.OK)
        case "serve":
            return serve(args.state, out)
    return int(ExitStatus.BAD_INPUT)


def _print_info(state: dict[str, Any], out: TextIO) -> None:
    from uxchaos.demo.capacity import Capacity
    from uxchaos.demo.stack import demo_credentials

    email, password = demo_credentials()
    print(f"demo app:        {state['base_url']}/login  (through the 'backend' proxy)", file=out)
    print(f"  directly:      {state['app_url']}", file=out)
    print(f"  credentials:   {email} / {password}  (UXCHAOS_DEMO_EMAIL / UXCHAOS_DEMO_PASSWORD)", file=out)
    print(f"  proxies:       {', '.join(f'{k} {v}' for k, v in state['proxies'].items())}", file=out)
    print(f"  proxy control: {state['control']}  (e.g. curl {state['control']}/proxies)", file=out)
    print(f"  capacity:      {Capacity.from_env().describe()}", file=out)
    print(f"  pid:           {state['pid']}   stop with: uxchaos demo down", file=out)


def up(foreground: bool, out: TextIO, err: TextIO) -> int:
    current = _read_state()
    if current and pid_alive(current["pid"]):
        print("the demo is already running:", file=out)
        _print_info(current, out)
        return int(ExitStatus.OK)
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    if foreground:
        return serve(path, out, announce=True)
    log_path = path.with_suffix(".log")
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "demo", "serve", "--state", str(path)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = _read_state()
        if state and state.get("pid") == proc.pid:
            _print_info(state, out)
            return int(ExitStatus.OK)
        if proc.poll() is not None:
            raise EnvironmentProblem(f"the demo did not start (exit {proc.returncode}); see {log_path}")
        time.sleep(0.1)
    proc.terminate()
    raise EnvironmentProblem(f"the demo did not start within 90s; see {log_path}")


def serve(path: Path, out: TextIO, announce: bool = False) -> int:
    from uxchaos.demo.stack import DemoStack
    from uxchaos.proxy.control import ControlServer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack = DemoStack()
    control = None
    try:
        info = stack.start()
        control = ControlServer(stack.hub)
        state = {**info.public(), "control": control.address, "pid": os.getpid()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)
        if announce:
            _print_info(state, out)
            print("Ctrl-C to stop", file=out, flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    finally:
        if control is not None:
            control.close()
        stack.stop()
        path.unlink(missing_ok=True)
    return int(ExitStatus.OK)


def down(out: TextIO) -> int:
    state = _read_state()
    if not state or not pid_alive(state["pid"]):
        state_file().unlink(missing_ok=True)
        print("the demo is not running", file=out)
        return int(ExitStatus.OK)
    os.kill(state["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and pid_alive(state["pid"]):
        time.sleep(0.1)
    if pid_alive(state["pid"]):
        raise EnvironmentProblem(f"the demo (pid {state['pid']}) did not stop within 30s")
    print("the demo is stopped and its data removed", file=out)
    return int(ExitStatus.OK)


def status(out: TextIO) -> int:
    state = _read_state()
    if not state or not pid_alive(state["pid"]):
        print("the demo is not running (start it with: uxchaos demo up)", file=out)
        return int(ExitStatus.ENVIRONMENT)
    healthy = http_ok(state["app_url"] + "/health")
    print(f"the demo is running ({'healthy' if healthy else 'NOT healthy'})", file=out)
    _print_info(state, out)
    return int(ExitStatus.OK if healthy else ExitStatus.ENVIRONMENT)
