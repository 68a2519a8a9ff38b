"""Where a proxy listens or forwards to: HOST:PORT, [IPv6]:PORT, or unix:/path/to.sock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Address:
    """Where a proxy connects to: a TCP host:port or a Unix socket path."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @classmethod
    def parse(cls, text: str) -> Address:
        if text.startswith("unix:"):
            return cls(unix_path=text[5:])
        if text.startswith("/"):
            return cls(unix_path=text)
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"upstream {text!r}: write HOST:PORT (e.g. 127.0.0.1:5432) or unix:/path/to.sock")
        return cls(host=host.strip("[]") or "127.0.0.1", port=int(port))

    def __str__(self) -> str:
        if self.unix_path:
            return f"unix:{self.unix_path}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
