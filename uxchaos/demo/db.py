"""The demo's database: a real PostgreSQL server (binaries from the `pgserver` wheel) on a free
loopback TCP port, in a temporary data directory that is removed on stop.

Why PostgreSQL via pgserver: it is a real client/server database spoken to over TCP (so a proxy
in between slows every round trip, as netem does on a database container), it installs with pip,
and it runs as root here by dropping to an unprivileged user. SQLite has no wire to delay."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from uxchaos.util.netutil import free_port, wait_until
from uxchaos.util.procs import die_with_parent

SCHEMA = """
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    email TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    last_activity TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE jobs (
    id SERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    processed_at TIMESTAMPTZ,
    processed_by INTEGER
);
CREATE TABLE audit_log (
    id SERIAL PRIMARY KEY,
    user_id INTEGER,
    event TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE worker_heartbeat (
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    beat_at TIMESTAMPTZ NOT NULL
);
"""


MIGRATION_LOCK = 741_105  # pg_advisory_lock key: the app and the worker may both migrate at start


def ensure_schema(dsn: str, seed_users: list[tuple[str, str, str]]) -> bool:
    """Create the tables and users unless they exist (True if it did). Safe to call from several
    processes at once: the first one migrates under an advisory lock, the others wait for it."""
    import psycopg

    from uxchaos.demo.passwords import hash_password

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            row = conn.execute("SELECT to_regclass('public.users')").fetchone()
            if row is not None and row[0] is not None:
                return False
            with conn.transaction():
                conn.execute(SCHEMA)
                for email, name, password in seed_users:
                    conn.execute("INSERT INTO users (email, name, password_hash) VALUES (%s, %s, %s)",
                                 (email, name, hash_password(password)))
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


class DemoStartError(RuntimeError):
    """A part of the demo could not start, for a reason outside uxchaos (said in the message)."""


def demo_start_errors() -> tuple[type[BaseException], ...]:
    """What the environment can make starting the demo raise (a bug keeps its traceback)."""
    import psycopg

    return (DemoStartError, TimeoutError, OSError, subprocess.SubprocessError, psycopg.Error)


def _bin_dir() -> Path:
    # Found without importing pgserver: its __init__ starts locking machinery we do not use.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise DemoStartError("the pgserver package is missing: pip install pgserver")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


DB_USER = "uxchaos-pg"


def _run_as_user() -> str | None:
    """PostgreSQL refuses to run as root: drop to an unprivileged system user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(DB_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", DB_USER], check=True, capture_output=True)
    # The user must be able to reach and run the binaries inside site-packages.
    install = _bin_dir().parent
    for parent in install.parents:
        parent.chmod(parent.stat().st_mode | 0o055)
    for root, dirs, files in os.walk(install):
        for name in dirs + files:
            path = Path(root, name)
            path.chmod(path.stat().st_mode | 0o055)
    return DB_USER


INITDB_ARGS = ["--auth=trust", "-U", "postgres", "--encoding=utf8", "--no-sync"]


def _chown_tree(root: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    os.chown(root, pw.pw_uid, pw.pw_gid)
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(Path(parent, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def _template_data_dir(user: str | None) -> Path:
    """A data directory fresh from initdb, made once per PostgreSQL build and copied for every demo
    start: initdb is most of a start (≈ 2 s of ≈ 3 s here), the copy a fraction of it. Kept in the
    user's cache folder; made in a temporary folder and renamed into place, so two demos starting at
    once never see half a template (the slower one's copy is thrown away)."""
    initdb = _bin_dir() / "initdb"
    stat = initdb.stat()
    key = hashlib.sha256(f"{initdb}|{stat.st_size}|{stat.st_mtime_ns}|{INITDB_ARGS}".encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uxchaos"
    template = cache / f"pgdata-{key}"
    if (template / "PG_VERSION").is_file():
        return template
    cache.mkdir(parents=True, exist_ok=True)
    # initdb runs as the database user, who cannot reach a home folder: it writes to /tmp first.
    work = Path(tempfile.mkdtemp(prefix="uxchaos-initdb-"))
    try:
        if user:
            _chown_tree(work, user)
        subprocess.run([str(initdb), "-D", str(work / "data"), *INITDB_ARGS], check=True, capture_output=True,
                       user=user)
        staging = Path(tempfile.mkdtemp(prefix=".pgdata-", dir=cache))
        shutil.copytree(work / "data", staging / "data", symlinks=True)
        try:
            os.rename(staging / "data", template)
        except OSError:  # another start put its template there first: same content
            pass
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return template


class PostgresServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="uxchaos-demo-db-"))
        self.data = self.dir / "data"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.user = _run_as_user()

    @property
    def dsn(self) -> str:
        return self.dsn_for("127.0.0.1", self.port)

    @staticmethod
    def dsn_for(host: str, port: int) -> str:
        # sslmode=disable: no SSL negotiation round trip, like a plain app-to-db link in a stack
        return f"host={host} port={port} user=postgres dbname=postgres sslmode=disable connect_timeout=10"

    def start(self, timeout_s: float = 30) -> None:
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chmod(self.dir, 0o755)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        shutil.copytree(_template_data_dir(self.user), self.data, symlinks=True)
        if self.user:
            _chown_tree(self.data, self.user)
        for _ in range(5):  # a free port can be taken between our probe and postgres' bind: retry
            self.port = free_port()
            with open(self.dir / "postgres.log", "ab") as server_log:
                self.process = subprocess.Popen(
                    [str(_bin_dir() / "postgres"), "-D", str(self.data), "-h", "127.0.0.1", "-p", str(self.port),
                     "-k", str(self.dir), "-c", "fsync=off", "-c", "synchronous_commit=off",
                     "-c", "full_page_writes=off", "-c", "max_connections=200"],
                    stdout=subprocess.DEVNULL, stderr=server_log, user=self.user, start_new_session=True,
                    preexec_fn=die_with_parent(signal.SIGINT),  # fast shutdown if uxchaos is killed
                )
            try:
                wait_until(self._ready, timeout_s, "the demo database")
                return
            except TimeoutError:
                if self.process.poll() is None:
                    raise
        raise DemoStartError(f"postgres did not start; see {self.dir / 'postgres.log'}")

    def _ready(self) -> bool:
        import psycopg

        assert self.process is not None
        if self.process.poll() is not None:
            raise TimeoutError("postgres exited")
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return True

    def migrate(self, seed_users: list[tuple[str, str, str]]) -> None:
        """Create the tables (the report's 'Base table or view not found' came from skipping this)."""
        import psycopg

        from uxchaos.demo.passwords import hash_password

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(SCHEMA)
            for email, name, password in seed_users:
                conn.execute(
                    "INSERT INTO users (email, name, password_hash) VALUES (%s, %s, %s)",
                    (email, name, hash_password(password)),
                )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast shutdown"
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
