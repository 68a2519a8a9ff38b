"""The command line. A thin layer: parse arguments, call the core, map typed errors to exit codes.

Exit codes: 0 success, 1 an expectation failed, 2 bad usage or scenario, 3 environment problem
(no browser, target unreachable, …), 70 a bug in uxchaos (one line, the traceback in a file),
130 interrupted."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TextIO

from uxchaos import __version__
from uxchaos.errors import ExitStatus, UxchaosError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitStatus.BAD_INPUT)


TEMPLATES_HELP = ("a folder of Jinja2 templates replacing the package's, file by file (report.md.j2, "
                  "report.html.j2, compare.md.j2, …; see uxchaos/report/templates/)")


def build_parser() -> argparse.ArgumentParser:
    from uxchaos.demo.swarmstack import PORT_BASE, STACK
    from uxchaos.faults import DRIVERS
    from uxchaos.scenario.steptypes import STEPS

    p = _Parser(prog="uxchaos", description="What do your users live through while part of your system is broken?")
    p.add_argument("--version", action="version", version=f"uxchaos {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario: before → fault → during → revert → after",
                         description="Run a scenario by name (from scenarios/) or path. Steps: "
                         f"{', '.join(STEPS)}. Drivers: {', '.join(DRIVERS)}.")
    run.add_argument("scenario", help="scenario name (e.g. login-under-db-delay) or path to a .yaml file")
    run.add_argument("--base-url", help="run against this URL instead of the scenario's target")
    run.add_argument("--attempts", type=int, help="attempts per phase (per user; overrides the scenario)")
    run.add_argument("--users", type=int, help="virtual users in every phase (overrides the scenario)")
    run.add_argument("--browser-endpoint", action="append", default=[], metavar="URL", dest="browser_endpoints",
                     help="run the users' browsers there (repeatable): ws://HOST:PORT/PATH of a browser server "
                     "(`uxchaos browser serve`), cdp+http://HOST:PORT of a CDP endpoint, or 'local'")
    run.add_argument("--out", type=Path, default=Path("reports"), help="where run folders go (default: reports/)")
    run.add_argument("--headed", action="store_true", help="show the browser window")
    run.add_argument("--templates", type=Path, metavar="DIR", help=TEMPLATES_HELP)
    run.add_argument("--trace", choices=("off", "on", "retain-on-failure", "slowest"),
                     help="Playwright traces kept in the run folder as trace-PHASE-ATTEMPT.zip (secrets redacted): "
                     "slowest (default) = failed attempts and each action's slowest during attempt (every attempt "
                     "is traced, the rest discarded); on = all; retain-on-failure; off. $UXCHAOS_TRACE sets the "
                     "default")
    run.add_argument("--trace-screenshots", action="store_true",
                     help="traces also record screenshots (a filmstrip in the trace viewer). They cost time inside "
                     "the clock, about as much again as the DOM snapshots a trace always records")
    run.add_argument("--dry-run", action="store_true",
                     help="print the matched targets and the exact commands, touch nothing")
    run.add_argument("--force", action="store_true",
                     help="allow a fault target that matches many or all containers")
    run.add_argument("--deadline", default="2h",
                     help="stop (and revert) when the whole run takes longer than this (default 2h; 0 = none)")
    rec = sub.add_parser("recover", help="revert what a killed run left behind (faults, demo processes)")
    rec.add_argument("--force", action="store_true", help="also ledgers whose run still seems to be alive")

    val = sub.add_parser("validate", help="check scenarios without running them")
    val.add_argument("files", nargs="+", metavar="scenario",
                     help="scenario name (e.g. login-under-db-delay) or path to a .yaml file")
    sub.add_parser("list", help="list the scenarios found (name and description)")
    imp = sub.add_parser("import", help="turn a `playwright codegen` Python script into a scenario YAML",
                         description="Translate a script written by `playwright codegen --target python` or "
                         "`--target python-pytest` (parsed, never run) into a scenario.")
    imp.add_argument("script", type=Path, help="the recorded .py file")
    imp.add_argument("-o", "--output", type=Path, help="write the YAML here (default: print it)")
    imp.add_argument("--base-url", help="the scenario's target: demo or a URL (default: the recorded origin)")
    imp.add_argument("--name", help="the scenario's name (default: from the file name)")
    rep = sub.add_parser("report", help="re-render every report of a run folder from its results.jsonl")
    rep.add_argument("run_dir", type=Path)
    rep.add_argument("--templates", type=Path, metavar="DIR", help=TEMPLATES_HELP)
    cmp_ = sub.add_parser("compare", help="compare two runs of the same scenario, action by action")
    cmp_.add_argument("run_a", type=Path)
    cmp_.add_argument("run_b", type=Path)
    cmp_.add_argument("--html", type=Path, help="also write the comparison as an HTML file")
    cmp_.add_argument("--templates", type=Path, metavar="DIR", help=TEMPLATES_HELP)
    doc = sub.add_parser("doctor", help="pre-flight checks: browser, Docker, images, targets, netem, app health")
    doc.add_argument("scenario", nargs="?", help="also check what this scenario needs")
    doc.add_argument("--force", action="store_true", help="allow targets that match many containers")
    sub.add_parser("reference", help="print the scenario reference: steps, drivers, fault kinds")

    demo = sub.add_parser("demo", help="the bundled demo app: up, down, status")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True, parser_class=_Parser)
    up = demo_sub.add_parser("up", help="start the demo in the background and print its URL")
    up.add_argument("--foreground", action="store_true", help="stay in the foreground until Ctrl-C")
    up.add_argument("--app", choices=["python", "laravel"], default=None,
                    help="python: the bundled Python app on PostgreSQL (the default without --swarm); laravel: the "
                    "real Laravel 8 app on MariaDB (needs Debian's php-cli, php-mysql, php-laravel-framework, "
                    "mariadb-server; the default with --swarm, where it also runs Redis)")
    up.add_argument("--port", type=int, default=0,
                    help="with --app laravel: the 127.0.0.1 port users reach the app on (default 0: any free port)")
    down = demo_sub.add_parser("down", help="stop the demo and remove its data")
    status = demo_sub.add_parser("status", help="is the demo running, and healthy?")
    for cmd in (up, down, status):
        cmd.add_argument("--swarm", action="store_true",
                         help="the demo as the Docker Swarm stack myapplication (images from `uxchaos demo build`)")
        cmd.add_argument("--stack", default=STACK, help=f"the stack's name with --swarm (default {STACK})")
    up.add_argument("--port-base", type=int, default=PORT_BASE, metavar="PORT",
                    help=f"with --swarm: the stack's first 127.0.0.1 port (default {PORT_BASE}; it uses 7 from there)")
    demo_sub.add_parser("build", help="build the demo's Docker images (mmdebstrap base, no registry; cached)")
    serve = demo_sub.add_parser("serve", help=argparse.SUPPRESS)
    serve.add_argument("--state", type=Path, required=True)
    serve.add_argument("--app", choices=["python", "laravel"], default="python")
    serve.add_argument("--port", type=int, default=0)

    proxy = sub.add_parser("proxy", help="the fault proxy as its own process")
    proxy_sub = proxy.add_subparsers(dest="proxy_command", required=True, parser_class=_Parser)
    pserve = proxy_sub.add_parser("serve", help="serve proxies and Toxiproxy's control API until Ctrl-C")
    pserve.add_argument("--proxy", action="append", default=[], metavar="NAME=UPSTREAM[,listen=HOST:PORT]",
                        help="e.g. database=127.0.0.1:5432,listen=127.0.0.1:15432 (repeatable; none is fine)")
    pserve.add_argument("--config", metavar="FILE", help="proxies from a Toxiproxy JSON config file")
    pserve.add_argument("--control", default="127.0.0.1:8474",
                        help="Toxiproxy-compatible control API address (default 127.0.0.1:8474)")

    load = sub.add_parser("load", help="Locust's side of a run's load: workers for a master on another machine")
    load_sub = load.add_subparsers(dest="load_command", required=True, parser_class=_Parser)
    lworker = load_sub.add_parser("worker", help="a Locust worker for a run whose scenario has load.master")
    lworker.add_argument("--master", required=True, metavar="HOST:PORT", help="the run's load.master")
    lworker.add_argument("--locustfile", help="the scenario's locustfile (default: the one the master sends)")
    lworker.add_argument("--scenario", help="or the scenario (name or path): its locustfile or requests")

    browser = sub.add_parser("browser", help="lend this machine's browsers to runs elsewhere")
    browser_sub = browser.add_subparsers(dest="browser_command", required=True, parser_class=_Parser)
    bserve = browser_sub.add_parser("serve", help="a Playwright browser server (ws://) with the Chromium uxchaos "
                                    "finds, until Ctrl-C; point runs at it with --browser-endpoint or browsers:")
    bserve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    bserve.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 = any free port)")
    bserve.add_argument("--max-users", type=int, default=8,
                        help="connections (virtual users) served at once; more are refused with 503 (default 8)")
    return p


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=err)
    from uxchaos.commands.dispatch import dispatch
    from uxchaos.commands.lastresort import bug_line, reader_gone, silence

    try:
        return int(dispatch(args, out, err))
    except UxchaosError as e:
        print(f"uxchaos: {e}", file=err)
        return int(e.exit_status)
    except KeyboardInterrupt as e:
        from uxchaos.run.interrupts import DeadlineReached

        if isinstance(e, DeadlineReached):
            print(f"uxchaos: stopped: {e}; the fault was reverted and the results kept", file=err)
            return int(ExitStatus.ENVIRONMENT)
        print("uxchaos: interrupted; the fault was reverted and the results kept", file=err)
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError as e:
        if reader_gone(out):  # `uxchaos list | head -3`: the reader has what it wanted
            silence(out)
            return int(ExitStatus.OK)
        print(bug_line(e, argv), file=err)
        if args.verbose:
            logging.getLogger("uxchaos").exception("the traceback")
        return int(ExitStatus.SOFTWARE)
    except Exception as e:  # the last resort: a bug, said in one line, its traceback kept in a file
        print(bug_line(e, argv if argv is not None else sys.argv[1:]), file=err)
        if args.verbose:
            logging.getLogger("uxchaos").exception("the traceback")
        return int(ExitStatus.SOFTWARE)
