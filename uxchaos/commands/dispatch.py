"""What each CLI command does. Raises typed errors; never exits."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from uxchaos.errors import BadInput, EnvironmentProblem, ExitStatus, UxchaosError

if TYPE_CHECKING:
    from uxchaos.scenario.model import Phase, Scenario


def dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    match args.command:
        case "run":
            return cmd_run(args, out, err)
        case "validate":
            return cmd_validate(args.files, out, err)
        case "list":
            return cmd_list(out)
        case "report":
            return cmd_report(args.run_dir, out, args.templates)
        case "compare":
            return cmd_compare(args, out)
        case "recover":
            return cmd_recover(args.force, out, err)
        case "doctor":
            from uxchaos.commands.doctor import doctor

            return doctor(args.scenario, args.force, out)
        case "reference":
            from uxchaos.commands.reference import render_reference

            print(render_reference(), file=out, end="")
            return int(ExitStatus.OK)
        case "demo":
            from uxchaos.demo import daemon

            return daemon.command(args, out, err)
        case "proxy":
            return cmd_proxy_serve(args, out, err)
        case "import":
            return cmd_import(args, out, err)
        case "browser":
            return cmd_browser_serve(args, out)
        case "load":
            from uxchaos.commands.loadworker import command as load_worker

            return load_worker(args, out, err)
    raise BadInput(f"unknown command {args.command}")


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from uxchaos.faults.ledger import orphaned_ledgers
    from uxchaos.run.engine import Engine
    from uxchaos.run.options import RunOptions
    from uxchaos.run.progress import Progress
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.lookup import find_scenario
    from uxchaos.util.durations import DurationError, parse_duration

    if args.attempts is not None and args.attempts < 1:
        raise BadInput("--attempts must be at least 1")
    if args.users is not None and not 1 <= args.users <= 1000:
        raise BadInput("--users must be from 1 to 1000")
    from uxchaos.browser.endpoints import parse_endpoint
    from uxchaos.journey.traces import default_mode

    trace = args.trace or default_mode()  # a bad $UXCHAOS_TRACE is bad input before anything starts
    for url in args.browser_endpoints:
        parse_endpoint(url)  # a malformed URL is bad input (exit 2) before anything starts
    try:
        deadline = None if args.deadline in ("0", "none") else parse_duration(args.deadline)
    except DurationError as e:
        raise BadInput(f"--deadline: {e}") from None
    scenario = load_scenario(find_scenario(args.scenario))
    if not scenario.journey and scenario.python_journey is None:
        raise BadInput(f"{scenario.path}: no journey: give one (a list of actions, or {{python: FILE.py:FUNCTION}}), "
                       "or run it from pytest with @pytest.mark.uxchaos")
    if args.dry_run:
        return dry_run(scenario, args, out)
    for ledger in orphaned_ledgers():
        print(f"uxchaos: WARNING: an earlier run ({ledger.run_id}, pid {ledger.owner_pid}) ended without undoing: "
              + "; ".join(e.get("fault") or e.get("what", e["kind"]) for e in ledger.entries)
              + ". Run `uxchaos recover`.", file=err)
    options = RunOptions(out_dir=args.out, attempts=args.attempts, base_url=args.base_url, headed=args.headed,
                         deadline_s=deadline, force=args.force, users=args.users,
                         endpoints=args.browser_endpoints, trace=trace,
                         trace_screenshots=args.trace_screenshots)
    from uxchaos.run.background_load import check_load

    check_load(scenario.load)  # the locustfile imports in a Locust process and defines users: else file:line, exit 2
    engine = Engine(scenario, options, [Progress(err)])
    engine.check_users()  # more local users than this machine holds: bad input, before anything starts
    print(f"uxchaos: running {scenario.name} → {engine.run_dir}", file=err, flush=True)
    passed = True
    try:
        engine.run()
    except BaseException:
        # Whatever happened, what was measured gets a report (it names why the run ended early); the
        # run's own error is the one that ends the command, also when the report cannot be written.
        if engine.outcome.samples or engine.outcome.events:
            try:
                _report(engine.run_dir, out, scenario.secrets, args.templates)
            except UxchaosError as e:
                print(f"uxchaos: no report either: {e}", file=err)
        raise
    if engine.outcome.samples or engine.outcome.events:
        passed = _report(engine.run_dir, out, scenario.secrets, args.templates)
    return int(ExitStatus.OK if passed else ExitStatus.EXPECTATION_FAILED)


def dry_run(scenario: Scenario, args: argparse.Namespace, out: TextIO) -> int:
    from uxchaos.faults import DriverOptions
    from uxchaos.faults.choice import plan as fault_plan
    from uxchaos.run.target import planned_runtime
    from uxchaos.util.durations import format_rate

    def plan(p: Phase) -> str:
        users = args.users or p.users
        if p.arrival_rate is not None:
            return f"{p.attempts} at {format_rate(p.arrival_rate)} on at most {users} users"
        return f"{p.attempts}" + (f" × {users} users" if users > 1 else "")

    phases = ", ".join(f"{name} {plan(p)}" for name, p in scenario.phases.items())
    target = args.base_url or scenario.target.base_url
    print(f"dry run of {scenario.name}: target {target}; attempts: {phases}", file=out)
    if scenario.load is not None:
        load = scenario.load
        source = str(load.locustfile) if load.locustfile else ", ".join(r.name for r in load.requests)
        print(f"load: {load.users} Locust users at {load.spawn_rate:g}/s from {source}"
              + (f", {load.workers} workers" if load.workers else ""), file=out)
    if scenario.fault is None:
        print("no fault", file=out)
        return int(ExitStatus.OK)
    for line in fault_plan(scenario.fault, planned_runtime(scenario, args.base_url), DriverOptions(force=args.force)):
        print(f"  {line}", file=out)
    if scenario.fault.sweep is not None:
        print(f"  {sweep_plan(scenario)}", file=out)
    if scenario.phase_order == "alternating":
        print("  phases alternate: before, during (fault on), before (fault off), during … then after", file=out)
    print("nothing was touched", file=out)
    return int(ExitStatus.OK)


def sweep_plan(scenario: Scenario) -> str:
    """"sweep of delay over 3 levels: 0ms, 150ms, 300ms (mode step), 2 during attempt(s) at each"."""
    from uxchaos.faults import DRIVERS
    from uxchaos.util.durations import format_level

    fault = scenario.fault
    assert fault is not None and fault.sweep is not None
    sweep = fault.sweep
    kind = DRIVERS[fault.driver].kinds[fault.kind][sweep.param].kind
    levels = ", ".join(format_level(x, "s" if kind == "duration" else "") for x in sweep.levels)
    during = scenario.phases["during"].attempts if "during" in scenario.phases else 0
    return (f"sweep of {sweep.param} over {len(sweep.levels)} levels: {levels} (mode {sweep.mode}), "
            f"{during} during attempt(s) at each")


def _report(run_dir: Path, out: TextIO, secrets: set[str] | None = None, templates: Path | None = None) -> bool:
    from uxchaos.report import write_reports
    from uxchaos.report.markdown import render_terminal_table

    run, analysis = write_reports(run_dir, secrets, templates)
    print(render_terminal_table(run, analysis, templates), file=out)
    print(f"\nreport: {run_dir / 'report.md'}  ·  {run_dir / 'report.html'}", file=out)
    return analysis.passed


def cmd_report(run_dir: Path, out: TextIO, templates: Path | None = None) -> int:
    if not (run_dir / "results.jsonl").exists():
        raise BadInput(f"{run_dir} is not a run folder (no results.jsonl)")
    return int(ExitStatus.OK if _report(run_dir, out, None, templates) else ExitStatus.EXPECTATION_FAILED)


def cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    from uxchaos.report.compare import compare_runs, render_compare_html, render_compare_markdown
    from uxchaos.results.rundata import RunData

    runs = []
    for d in (args.run_a, args.run_b):
        if not (d / "results.jsonl").exists():
            raise BadInput(f"{d} is not a run folder (no results.jsonl)")
        runs.append(RunData.load(d))
    rows = compare_runs(runs[0], runs[1])
    from uxchaos.analysis.sweeps import analyze_sweep, compare_slopes

    slopes = compare_slopes(analyze_sweep(runs[0]), analyze_sweep(runs[1]))
    print(render_compare_markdown(runs[0], runs[1], rows, slopes, args.templates).rstrip("\n"), file=out)
    if args.html:
        try:
            args.html.write_text(render_compare_html(runs[0], runs[1], rows, slopes, args.templates), encoding="utf-8")
        except OSError as e:
            raise EnvironmentProblem(f"cannot write {args.html}: {e.strerror or e}") from None
        print(f"\n{args.html}", file=out)
    return int(ExitStatus.OK)


def cmd_recover(force: bool, out: TextIO, err: TextIO) -> int:
    from uxchaos.faults.ledger import open_ledgers, undo_entry

    status = ExitStatus.OK
    ledgers = open_ledgers()
    if not ledgers:
        print("nothing to recover: no open ledger", file=out)
    for ledger in ledgers:
        if ledger.owner_alive and not force:
            print(f"{ledger.run_id}: its run (pid {ledger.owner_pid}) is still running; leaving it alone "
                  "(--force to recover anyway)", file=out)
            continue
        remaining = []
        for entry in ledger.entries:
            try:
                print(f"{ledger.run_id}: {entry.get('fault') or entry.get('what', entry['kind'])}: "
                      f"{undo_entry(entry)}", file=out)
            except (UxchaosError, OSError, KeyError) as e:  # keep it listed, say why, go on with the rest
                print(f"uxchaos: {ledger.run_id}: could not undo {entry['id']}: {e}", file=err)
                remaining.append(entry)
                status = ExitStatus.ENVIRONMENT
        ledger.keep_only(remaining)
    return int(status)


def cmd_validate(files: list[str], out: TextIO, err: TextIO) -> int:
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.lookup import find_scenario
    from uxchaos.scenario.model import ScenarioError

    status = ExitStatus.OK
    for f in files:
        try:
            s = load_scenario(find_scenario(f))  # a shipped scenario's name, as `run` and `doctor` take
        except ScenarioError as e:
            print(str(e), file=err)
            status = ExitStatus.BAD_INPUT
        except BadInput as e:
            print(f"uxchaos: {e}", file=err)
            status = ExitStatus.BAD_INPUT
        else:
            steps = sum(len(a.steps) for a in s.journey)
            journey = (f"Python journey {s.python_journey.ref}" if s.python_journey
                       else f"{len(s.journey)} action(s), {steps} step(s)" if s.journey
                       else "no journey (for the pytest plugin)")
            fault = "none" if s.fault is None else f"{s.fault.kind} via {s.fault.driver}"
            if s.fault is not None and s.fault.otherwise is not None:
                fault += (f", otherwise (if its pre-flight fails) {s.fault.otherwise.kind} via "
                          f"{s.fault.otherwise.driver}")
            print(f"{f}: ok — {s.name}: {journey}, fault: {fault}", file=out)
    return int(status)


def cmd_list(out: TextIO) -> int:
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.lookup import scenario_dirs
    from uxchaos.scenario.model import ScenarioError

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
    """Like toxiproxy-server: proxies from --config (Toxiproxy's JSON) and --proxy, maybe none at all,
    and Toxiproxy's control API on --control."""
    import json

    from uxchaos.proxy import ProxyHub
    from uxchaos.proxy.control import ControlServer

    hub = ProxyHub()
    try:
        if args.config:
            try:
                config = json.loads(Path(args.config).read_text())
                created = hub.populate(config)
            except (OSError, ValueError) as e:  # unreadable, not JSON, or a bad proxy: never start half-configured
                raise BadInput(f"--config {args.config}: {e}") from None
            for info in created:
                print(f"proxy {info['name']}: {info['listen']} → {info['upstream']}", file=out, flush=True)
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
            except ValueError as e:
                raise BadInput(f"--proxy {item!r}: {e}") from None
            except OSError as e:  # the listen address is taken (or not this machine's): the surroundings
                raise EnvironmentProblem(f"--proxy {item!r}: cannot listen on {listen}: {e.strerror or e}") from None
            print(f"proxy {name}: {info['listen']} → {info['upstream']}", file=out, flush=True)
        host, _, port = args.control.rpartition(":")
        try:
            control = ControlServer(hub, host.strip("[]") or "127.0.0.1", int(port))
        except ValueError as e:
            raise BadInput(f"--control {args.control}: {e}") from None
        except OSError as e:  # taken by another process (a toxiproxy-server?): the surroundings, exit 3
            raise EnvironmentProblem(f"--control {args.control}: cannot listen there: {e.strerror or e}; stop what "
                                     "listens there, or give --control another HOST:PORT") from None
        print(f"control API: {control.address}  (Toxiproxy 2.x API; Ctrl-C to stop)", file=out, flush=True)
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


def cmd_browser_serve(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio

    from uxchaos.browser.server import BrowserServer, ServerInfo

    if not 1 <= args.max_users <= 1000:
        raise BadInput("--max-users must be from 1 to 1000")
    if not 0 <= args.port <= 65535:
        raise BadInput("--port must be from 0 to 65535")
    server = BrowserServer(args.host, args.port, args.max_users)

    def ready(info: ServerInfo) -> None:
        print(f"browser server: {info.url}  (Playwright {info.playwright_version}, Chromium {info.executable}, "
              f"at most {info.max_users} users; Ctrl-C to stop)", file=out, flush=True)

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it the way Ctrl-C does
    try:
        asyncio.run(server.serve(ready))
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return int(ExitStatus.OK)


def cmd_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from uxchaos.scenario.codegen import import_codegen

    try:
        source = args.script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"cannot read {args.script}: {e}") from None
    imported = import_codegen(source, str(args.script), args.base_url, args.name)
    if args.output is None:
        print(imported.yaml, file=out, end="")
    else:
        args.output.write_text(imported.yaml, encoding="utf-8")
        print(f"{args.output}: {len(imported.actions)} action(s): {', '.join(imported.actions)}"
              + ("; the recorded password was replaced by {{ password }}" if imported.replaced_password else ""),
              file=err)
    return int(ExitStatus.OK)
