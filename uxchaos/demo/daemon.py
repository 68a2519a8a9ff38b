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

from uxchaos.errors import BadInput, EnvironmentProblem, ExitStatus
from uxchaos.util.netutil import http_ok
from uxchaos.util.procs import pid_alive, state_dir, state_problem, writable_state_dir


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

        if getattr(args, "port", 0):
            raise BadInput("--port is for the local demo; with --swarm the stack's ports start at --port-base")
        match args.demo_command:
            case "up":
                return swarmstack.up(args.stack, args.port_base, out, app=args.app or "laravel")
            case "down":
                return swarmstack.down(args.stack, out)
            case "status":
                return swarmstack.status(args.stack, out)
    match args.demo_command:
        case "up":
            return up(args.foreground, out, err, args.app or "python", args.port)
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
            return serve(args.state, out, app=args.app, port=args.port)
    return int(ExitStatus.BAD_INPUT)


def _print_info(state: dict[str, Any], out: TextIO) -> None:
    from uxchaos.demo.capacity import Capacity
    from uxchaos.demo.stack import demo_credentials

    email, password = demo_credentials()
    print(f"demo app:        {state['base_url']}/login  (through the 'backend' proxy)", file=out)
    if state.get("app") == "laravel":
        print("  app:           Laravel 8 (Debian's php-laravel-framework) on PHP's server, MariaDB, "
              "queue:work", file=out)
    print(f"  directly:      {state['app_url']}", file=out)
    print(f"  credentials:   {email} / {password}  (UXCHAOS_DEMO_EMAIL / UXCHAOS_DEMO_PASSWORD)", file=out)
    print(f"  proxies:       {', '.join(f'{k} {v}' for k, v in state['proxies'].items())}", file=out)
    print(f"  proxy control: {state['control']}  (e.g. curl {state['control']}/proxies)", file=out)
    print(f"  capacity:      {Capacity.from_env().describe()}", file=out)
    print(f"  pid:           {state['pid']}   stop with: uxchaos demo down", file=out)


def up(foreground: bool, out: TextIO, err: TextIO, app: str = "python", port: int = 0) -> int:
    if port and app != "laravel":
        raise BadInput("--port is for --app laravel (the Python demo takes any free port)")
    if not 0 <= port <= 65535:
        raise BadInput("--port must be from 0 to 65535")
    current = _read_state()
    if current and pid_alive(current["pid"]):
        print("the demo is already running:", file=out)
        _print_info(current, out)
        return int(ExitStatus.OK)
    writable_state_dir()  # the demo's state file goes there: said before anything starts
    path = state_file()
    path.unlink(missing_ok=True)
    if app == "laravel":  # what is missing, said at once rather than from the background process's log
        from uxchaos.demo.db import DemoStartError
        from uxchaos.demo.laravel_stack import check_port_free, find_php

        try:
            find_php()
            if port:
                check_port_free(port)
        except DemoStartError as e:
            raise EnvironmentProblem(str(e)) from None
    if foreground:
        return serve(path, out, announce=True, app=app, port=port)
    log_path = path.with_suffix(".log")
    log_start = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "uxchaos", "demo", "serve", "--state", str(path),
                                 "--app", app, "--port", str(port)],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = _read_state()
        if state and state.get("pid") == proc.pid:
            _print_info(state, out)
            return int(ExitStatus.OK)
        if proc.poll() is not None:
            raise EnvironmentProblem(f"{_said(log_path, log_start)} (log: {log_path})")
        time.sleep(0.1)
    proc.terminate()
    raise EnvironmentProblem(f"the demo did not start within 90s; see {log_path}")


def _said(log_path: Path, start: int) -> str:
    """The error line the background process wrote (the CLI's `uxchaos: …`), or its exit."""
    with open(log_path, "rb") as f:
        f.seek(start)
        lines = f.read().decode(errors="replace").splitlines()
    said = [line.removeprefix("uxchaos: ") for line in lines if line.startswith("uxchaos: ")]
    return said[-1] if said else "the demo did not start: " + (lines[-1] if lines else "it exited without a message")


def serve(path: Path, out: TextIO, announce: bool = False, app: str = "python", port: int = 0) -> int:
    from uxchaos.demo.db import demo_start_errors
    from uxchaos.demo.laravel_stack import LaravelStack
    from uxchaos.demo.stack import DemoStack
    from uxchaos.proxy.control import ControlServer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stack: DemoStack | LaravelStack = LaravelStack(port=port) if app == "laravel" else DemoStack()
    control = None
    try:
        try:
            info = stack.start()
        except demo_start_errors() as e:  # only what the environment can cause; a bug keeps its traceback
            which = "Laravel" if app == "laravel" else "Python"
            raise EnvironmentProblem(f"the {which} demo target did not start: {e}") from e
        control = ControlServer(stack.hub)
        state = {**info.public(), "app": app, "control": control.address, "pid": os.getpid()}
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
        try:
            state_file().unlink(missing_ok=True)  # a stale state file of a demo that died
        except OSError as e:
            raise state_problem(e) from None
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
