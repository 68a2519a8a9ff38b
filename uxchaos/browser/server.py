"""`uxchaos browser serve`: lend this machine's browsers to runs elsewhere.

Python Playwright has no `launchServer`, but its package bundles the Node driver it runs on
(`playwright/driver/node` and `playwright/driver/package`, i.e. playwright-core of the very same
version). A few lines of JavaScript calling that package's `chromium.launchServer({executablePath,
args, host, port, wsPath})` make a real Playwright browser server — the protocol of `playwright
run-server` — with the Chromium uxchaos finds. Clients connect with `chromium.connect(ws://…)`;
since both sides come from the same Playwright, their versions match.

The server listens on 127.0.0.1 on a port of its own; in front of it, a small TCP relay listens on
the address asked for and admits at most `--max-users` connections at once (one per virtual user):
one more is answered `503` and closed, so a client names the endpoint as full instead of piling
browsers onto a machine that cannot take them. (A run's local users each launch a Chromium of their
own, users/pool.py; this server is for browsers lent to runs elsewhere.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from uxchaos.browser.launch import find_browser, launch_args
from uxchaos.errors import EnvironmentProblem
from uxchaos.util.procs import die_with_parent

WS_PATH = "/uxchaos"

# Runs in the bundled Node: print the server's endpoint as one JSON line, then serve until killed.
LAUNCH_JS = """
const { chromium } = require(process.env.UXCHAOS_PW_PACKAGE);
const options = JSON.parse(process.env.UXCHAOS_SERVER_OPTIONS);
chromium.launchServer(options).then(server => {
  process.stdout.write(JSON.stringify({ ws: server.wsEndpoint() }) + "\\n");
  const stop = () => server.close().then(() => process.exit(0), () => process.exit(1));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}, error => { process.stderr.write(String(error && error.message || error) + "\\n"); process.exit(3); });
"""


def node_driver() -> tuple[Path, Path]:
    """(node binary, playwright-core package) bundled with the installed Python Playwright."""
    import playwright

    driver = Path(playwright.__file__).resolve().parent / "driver"
    node, package = driver / "node", driver / "package"
    if not node.exists() or not (package / "package.json").exists():
        raise EnvironmentProblem(f"the Playwright package at {driver.parent} has no bundled Node driver "
                                 "(expected driver/node and driver/package): reinstall playwright")
    return node, package


def playwright_version() -> str:
    _, package = node_driver()
    return str(json.loads((package / "package.json").read_text(encoding="utf-8"))["version"])


@dataclass
class ServerInfo:
    url: str  # what clients connect to
    inner_url: str  # the Node server behind the relay
    executable: str
    playwright_version: str
    max_users: int


class BrowserServer:
    """The Node browser server and the admitting relay in front of it, on one asyncio loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 3000, max_users: int = 8,
                 ws_path: str = WS_PATH) -> None:
        if max_users < 1:
            raise ValueError("max_users must be at least 1")
        self.host, self.port, self.max_users, self.ws_path = host, port, max_users, ws_path
        self.process: subprocess.Popen[str] | None = None
        self.active = 0
        self.refused = 0
        self.info: ServerInfo | None = None
        self._server: asyncio.Server | None = None
        self._inner_port = 0

    def launch(self, headless: bool = True) -> str:
        """Start Node's launchServer; returns its ws URL (loopback)."""
        node, package = node_driver()
        executable = find_browser(headless=headless)
        options = {"executablePath": executable, "args": launch_args(), "host": "127.0.0.1", "port": 0,
                   "wsPath": self.ws_path, "headless": headless}
        env = {**os.environ, "UXCHAOS_PW_PACKAGE": str(package), "UXCHAOS_SERVER_OPTIONS": json.dumps(options)}
        self.process = subprocess.Popen([str(node), "-e", LAUNCH_JS], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, preexec_fn=die_with_parent())
        assert self.process.stdout is not None and self.process.stderr is not None
        line = self.process.stdout.readline()
        if not line:
            error = self.process.stderr.read().strip()
            self.process.wait(10)
            first = error.splitlines()[0] if error else "no output"  # Playwright's launch log follows it
            raise EnvironmentProblem(f"the browser server did not start (Chromium {executable}): {first.rstrip('.')}. "
                                     "Is it a Chromium (UXCHAOS_BROWSER)?")
        inner = str(json.loads(line)["ws"])
        self._inner_port = int(inner.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        self.info = ServerInfo("", inner, executable, playwright_version(), self.max_users)
        return inner

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active >= self.max_users:
            self.refused += 1
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                                     asyncio.TimeoutError):
                # Read the upgrade request first: closing a socket with unread data resets it, and the
                # client would see ECONNRESET instead of the 503.
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                         + f"uxchaos browser server full: {self.max_users} users at most\n".encode())
            with contextlib.suppress(OSError):
                await writer.drain()
            writer.close()
            return
        self.active += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._inner_port)
        except OSError:
            self.active -= 1
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self.active -= 1

    async def serve(self, ready: Callable[[ServerInfo], None] | None = None) -> None:
        """Relay until cancelled (or the Node server ends); the Node server is stopped on the way out."""
        if self.process is None:
            self.launch()
        assert self.info is not None and self.process is not None
        try:
            self._server = await asyncio.start_server(self._relay, self.host, self.port)
        except OSError as e:
            self.stop()
            raise EnvironmentProblem(f"cannot listen on {self.host}:{self.port}: {e.strerror}") from None
        port = self._server.sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.info.url = f"ws://{host}:{port}{self.ws_path}"
        if ready is not None:
            ready(self.info)
        try:
            while self.process.poll() is None:
                await asyncio.sleep(0.2)
            raise EnvironmentProblem(f"the browser server's Node process ended (exit {self.process.returncode})")
        finally:
            self._server.close()
            self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
