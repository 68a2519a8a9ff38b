"""`uxchaos load worker --master HOST:PORT`: a Locust worker for a run's master on another machine
(a scenario with `load: {master: HOST:PORT, workers: N}`). The users come from the master, which
sends its locustfile to a worker that asks (as Locust's own `--locustfile -` does), or from
`--locustfile` (the same file as the scenario's) or `--scenario` (its locustfile, or its `requests:`
compiled); the target host comes from the master. The worker runs in a process of its own, as every Locust does."""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TextIO

from uxchaos.errors import BadInput, EnvironmentProblem, ExitStatus
from uxchaos.load.process import CHILD
from uxchaos.load.spec import parse_address

REACH_TIMEOUT_S = 5.0


def _locustfile(args: argparse.Namespace, folder: Path) -> Path | None:
    """The users' file on this machine; None: the master's, fetched by the worker."""
    if args.locustfile is not None and args.scenario is not None:
        raise BadInput("give --locustfile FILE or --scenario NAME_OR_PATH, not both (or neither: the master's)")
    if args.locustfile is None and args.scenario is None:
        return None
    if args.locustfile is not None:
        from uxchaos.load.process import check_locustfile

        path = Path(args.locustfile).resolve()
        check_locustfile(path)
        return path
    from uxchaos.run.background_load import locustfile_for
    from uxchaos.scenario.loading import load_scenario
    from uxchaos.scenario.lookup import find_scenario

    scenario = load_scenario(find_scenario(args.scenario))
    if scenario.load is None:
        raise BadInput(f"{scenario.path}: no load: block, so no Locust users to run")
    return locustfile_for(scenario.load, folder)


def reach(address: str) -> None:
    """The master answers on its port, or one line saying it does not (exit 3)."""
    parsed = parse_address(address)
    if parsed is None:
        raise BadInput(f"--master {address!r}: write HOST:PORT")
    try:
        socket.create_connection(parsed, timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        why = getattr(e, "strerror", None) or e
        raise EnvironmentProblem(f"cannot reach the Locust master at {address}: {why} (is the run started, with "
                                 "load.master?)") from None


def command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    reach(args.master)
    with tempfile.TemporaryDirectory(prefix="uxchaos-worker-") as folder:
        locustfile = _locustfile(args, Path(folder))
        users = "the master's locustfile" if locustfile is None else str(locustfile)
        print(f"Locust worker for the master at {args.master} with {users} (Ctrl-C to stop)", file=out, flush=True)
        try:
            done = subprocess.run([*CHILD, "--worker", "--master", args.master,
                                   "--locustfile", "-" if locustfile is None else str(locustfile)], check=False)
        except KeyboardInterrupt:
            return int(ExitStatus.OK)
    return int(ExitStatus.OK if done.returncode == 0 else ExitStatus.ENVIRONMENT)
