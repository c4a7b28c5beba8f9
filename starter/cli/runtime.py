"""What every CLI command shares: settings, connections, and the one-line error contract.

Failures a person can act on end as one line on stderr and exit status 1:

    PunchcardError (starter.packages) — refused / not found, from the package service
    StackError (starter.processes)    — the embedded stack could not start or stop
    CliError                          — bad input, unreachable Temporal or PostgreSQL
"""

from __future__ import annotations

import asyncio
import getpass
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import asyncpg
import typer
from pydantic import ValidationError
from temporalio.client import Client

from activities.db import create_pool
from starter.packages import PackageService, PunchcardError
from starter.processes import StackError, redact_dsn
from starter.stackfile import stack_path, with_running_stack
from workers.settings import Settings
from workers.worker import connect_temporal

T = TypeVar("T")

ANSWER_TIMEOUT = 30.0


class CliError(Exception):
    """A problem the user can fix; str() is the line to print."""


def fail(message: str, *, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def load_settings(*, use_running_stack: bool = True) -> Settings:
    try:
        settings = Settings()
    except ValidationError as err:
        first = err.errors()[0]
        name = "PUNCHCARD_" + "_".join(str(part) for part in first["loc"]).upper()
        raise CliError(f"bad configuration: {name}: {first['msg']}") from None
    return with_running_stack(settings) if use_running_stack else settings


def run(
    action: Callable[[Settings], Coroutine[Any, Any, None]], *, use_running_stack: bool = True
) -> None:
    """Run one command's coroutine; every expected failure becomes one line on stderr."""
    try:
        settings = load_settings(use_running_stack=use_running_stack)
        asyncio.run(action(settings))
    except (PunchcardError, StackError, CliError) as err:
        fail(str(err))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "input"
        fail(f"invalid {where}: {first['msg']}")
    except asyncpg.UndefinedTableError:
        fail("the database has no Punchcard schema yet: run `punchcard migrate`")
    except asyncpg.PostgresError as err:
        fail(f"database error: {err}")
    except OSError as err:  # e.g. a data directory that cannot be written
        fail(f"error: {err}")
    except KeyboardInterrupt:
        fail("interrupted", code=130)


def default_actor() -> str:
    """Staff actions are signed with the login name unless --actor says otherwise."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "staff"


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    if settings.database_url is None:
        raise CliError(
            "no database: PUNCHCARD_DATABASE_URL is unset and no running `punchcard up` was "
            f"found ({stack_path(settings.data_dir)}) — start one with `punchcard up`"
        )
    dsn = settings.database_dsn()
    try:
        pool = await create_pool(dsn, max_size=2)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CliError(
            f"cannot reach PostgreSQL at {redact_dsn(dsn)} ({reason}) — is `punchcard up` running?"
        ) from None
    try:
        yield pool
    finally:
        await pool.close()


async def temporal(settings: Settings) -> Client:
    try:
        return await connect_temporal(settings)
    except RuntimeError:
        raise CliError(
            f"cannot reach Temporal at {settings.temporal_address} — is `punchcard up` running?"
        ) from None


@asynccontextmanager
async def package_service(settings: Settings) -> AsyncIterator[PackageService]:
    async with database(settings) as pool:
        client = await temporal(settings)
        yield PackageService(client=client, pool=pool, settings=settings)


async def answered(settings: Settings, pending: Awaitable[T]) -> T:
    """An update waits for a worker; say so instead of hanging when none is polling."""
    try:
        return await asyncio.wait_for(pending, timeout=ANSWER_TIMEOUT)
    except TimeoutError:
        raise CliError(
            f"no answer within {ANSWER_TIMEOUT:.0f}s: is a worker polling task queue "
            f"{settings.task_queue!r}? (`punchcard up` runs one, `punchcard worker` adds one)"
        ) from None
