"""The CLI's last resort: what an unexpected exception (a bug) and a closed stdout become.

A bug is one line on stderr naming the error, the file that holds its traceback and where to report
it (exit 70, EX_SOFTWARE in sysexits.h), never a bare traceback between the user and their terminal.
A reader that went away (`uxchaos list | head -3`) ends the command quietly."""

from __future__ import annotations

import datetime as dt
import os
import select
import tempfile
import traceback
from pathlib import Path
from typing import TextIO

from uxchaos import __version__


def reader_gone(stream: TextIO) -> bool:
    """Is `stream` a pipe whose reading end is closed? (poll reports POLLERR for such a pipe.) A
    BrokenPipeError from anywhere else — a socket inside uxchaos — is not a reader going away."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return False
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR and POLLHUP are reported whatever is asked for
    return any(events & select.POLLERR for _, events in poller.poll(0))


def silence(stream: TextIO) -> None:
    """Point a closed stdout at /dev/null, so the interpreter's flush at exit stays quiet too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def save_traceback(error: BaseException, argv: list[str] | None) -> Path | None:
    """The traceback in a file of its own (the state folder's crashes/, else the temporary folder);
    None when neither can be written."""
    from uxchaos.util.procs import state_dir

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    text = (f"uxchaos {__version__}, argv {argv!r}\n"
            + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    for folder in (state_dir() / "crashes", Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"uxchaos-crash-{stamp}-", suffix=".txt", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            return Path(name)
        except OSError:
            continue
    return None


def bug_line(error: BaseException, argv: list[str] | None) -> str:
    saved = save_traceback(error, argv)
    where = f"the traceback is in {saved}" if saved else "the traceback could not be saved (run with -v to see it)"
    summary = " ".join(str(error).split())[:300]
    return (f"uxchaos: internal error: {type(error).__name__}" + (f": {summary}" if summary else "")
            + f". This is a bug in uxchaos: please report it with the command you ran; {where}")
