"""What each CLI command does. Raises typed errors; never exits."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TextIO

from uxchaos.errors import BadInput, ExitStatus


def dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    match args.command:
        case "run":
            return cmd_run(args, out, err)
        case "validate":
            return cmd_validate(args.files, out, err)
        case "list":
            return cmd_list(out)
        case "reference":
            from uxchaos.reference import render_reference

            print(render_reference(), file=out, end="")
            return int(ExitStatus.OK)
        case "demo":
            from uxchaos.demo import daemon

            return daemon.command(args, out, err)
        case "proxy":
            return cmd_proxy_serve(args, out, err)
    raise BadInput(f"unknown command {args.command}")


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from uxchaos.engine import Engine, RunOptions
    from uxchaos.progress import Progress
    from uxchaos.report.data import RunData
    from uxchaos.report.markdown import render_markdown, render_terminal_table
    from uxchaos.scenario import find_scenario, load_scenario

    if args.attempts is not None and args.attempts < 1:
        raise BadInput("--attempts must be at least 1")
    scenario = load_scenario(find_scenario(args.scenario))
    options = RunOptions(out_dir=args.out, attempts=args.attempts, base_url=args.base_url, headed=args.headed)
    engine = Engine(scenario, options, [Progress(err)])
    print(f"uxchaos: running {scenario.name} → {engine.run_dir}", file=err, flush=True)
    try:
        engine.run()
    finally:
        # Whatever happened, what was measured gets a report.
        run = RunData.load(engine.run_dir)
        if run.samples or run.events:
            (engine.run_dir / "report.md").write_text(render_markdown(run), encoding="utf-8")
    print(render_terminal_table(run), file=out)
    print(f"\nreport: {engine.run_dir / 'report.md'}", file=out)
    return int(ExitStatus.OK)


def cmd_validate(files: list[str], out: TextIO, err: TextIO) -> int:
    from uxchaos.scenario import ScenarioError, load_scenario

    status = ExitStatus.OK
    for f in files:
        try:
            s = load_scenario(f)
        except ScenarioError as e:
            print(str(e), file=err)
            status = ExitStatus.BAD_INPUT
        except BadInput as e:
            print(f"uxchaos: {e}", file=err)
            status = ExitStatus.BAD_INPUT
        else:
            steps = sum(len(a.steps) for a in s.journey)
            print(f"{f}: ok — {s.name}: {len(s.journey)} action(s), {steps} step(s), "
                  f"fault: {s.fault.kind + ' via ' + s.fault.driver if s.fault else 'none'}", file=out)
    return int(status)


def cmd_list(out: TextIO) -> int:
    from uxchaos.scenario import ScenarioError, load_scenario, scenario_dirs

    for d in scenario_dirs():
        print(f"{d}:", file=out)
        for path in sorted(d.glob("*.y*ml")):
            try:
                s = load_scenario(path)
                print(f"  {s.name:<28} {s.description}", file=out)
            except (ScenarioError, BadInput) as e:
                print(f"  {path.stem:<28} (invalid: {str(e).splitlines()[0]})", file=out)
    return int(ExitStatus.OK)


def cmd_proxy_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from uxchaos.proxy import ProxyHub
    from uxchaos.proxy.control import ControlServer

    hub = ProxyHub()
    try:
        for item in args.proxy:
            name, sep, rest = item.partition("=")
            if not sep or not name:
                raise BadInput(f"--proxy {item!r}: write NAME=UPSTREAM[,listen=HOST:PORT]")
            upstream, *opts = rest.split(",")
            listen = "127.0.0.1:0"
            for opt in opts:
                key, _, value = opt.partition("=")
                if key != "listen":
                    raise BadInput(f"--proxy {item!r}: unknown option {key!r} (only listen=HOST:PORT)")
                listen = value
            try:
                info = hub.create(name, upstream, listen)
            except (ValueError, OSError) as e:
                raise BadInput(f"--proxy {item!r}: {e}") from None
            print(f"proxy {name}: {info['listen']} → {info['upstream']}", file=out, flush=True)
        host, _, port = args.control.rpartition(":")
        control = ControlServer(hub, host or "127.0.0.1", int(port))
        print(f"control API: {control.address}  (Ctrl-C to stop)", file=out, flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        control.close()
    finally:
        hub.close()
    return int(ExitStatus.OK)
