"""Sort an activity's exceptions into "wait for the outage to end" and "this will never work".

Temporal retries an activity until it succeeds or raises a non-retryable failure. That is
right for outages (PostgreSQL restarting, Temporal unreachable) and wrong for bad data: a
value PostgreSQL refuses fails the same way on every attempt, forever, and nobody hears
of it. `classified` wraps an activity so that::

    exception raised by the activity
    ├── ApplicationError                  as raised (the adapter already decided)
    ├── refused by PostgreSQL (`is_refusal`): DataError (22…: out of range, NUL in text,
    │   bad encoding, too long; asyncpg's own "invalid input for query argument"),
    │   IntegrityConstraintViolationError (23…), ProgramLimitExceededError (54…: an index
    │   row larger than a page allows); or a pydantic ValidationError, a UnicodeError
    │                                     ApplicationError(INVALID_DATA, non-retryable)
    ├── transient: OSError, asyncpg connection errors, PostgreSQL shutting down or out
    │   of connections, Temporal UNAVAILABLE / DEADLINE_EXCEEDED, update RPC timeouts
    │                                     re-raised: retried until the outage ends
    └── anything else                     retried; from attempt UNEXPECTED_ATTEMPTS on,
                                          ApplicationError(REPEATED_FAILURE, non-retryable)

The workflow then records the failure, opens a review item and alerts staff.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg
from pydantic import ValidationError
from temporalio import activity
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows.policies import INVALID_DATA, REPEATED_FAILURE, UNEXPECTED_ATTEMPTS

P = ParamSpec("P")
R = TypeVar("R")

_TRANSIENT_RPC = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
    }
)
_TRANSIENT_PG: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, a missing socket file (FileNotFoundError)
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,  # the connection closed under the query
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash recovery
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,  # the package's worker is down: wait for it
)
_REFUSED_BY_DATABASE: tuple[type[BaseException], ...] = (
    asyncpg.DataError,  # refused by PostgreSQL: NUL in text, a number out of range…
    asyncpg.exceptions._base.DataError,  # refused by asyncpg before sending
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)
_INVALID: tuple[type[BaseException], ...] = (*_REFUSED_BY_DATABASE, ValidationError, UnicodeError)


def is_refusal(err: BaseException) -> bool:
    """Whether PostgreSQL (or asyncpg) refused the values: the same statement with the
    same values can never succeed, unlike an outage."""
    return isinstance(err, _REFUSED_BY_DATABASE)


def refused(err: BaseException, what: str) -> ApplicationError:
    """The non-retryable failure for a refused value; `what` names the row being written."""
    sqlstate = getattr(err, "sqlstate", None)
    code = f" [{sqlstate}]" if sqlstate else ""
    return ApplicationError(
        f"PostgreSQL refused {what}: {type(err).__name__}{code}: {str(err)[:500]}",
        type=INVALID_DATA,
        non_retryable=True,
    )


def is_transient(err: BaseException) -> bool:
    """True for failures an outage explains, which a later attempt may not meet."""
    if isinstance(err, RPCError):
        return err.status in _TRANSIENT_RPC
    return isinstance(err, _TRANSIENT_PG)


def failure_for(err: BaseException, attempt: int) -> BaseException:
    """What the activity should raise for `err` on this attempt (see the module tree)."""
    if isinstance(err, ApplicationError):
        return err
    text = f"{type(err).__name__}: {str(err)[:500]}"
    if isinstance(err, _INVALID):  # before transient: asyncpg's DataError is an InterfaceError
        return ApplicationError(text, type=INVALID_DATA, non_retryable=True)
    if is_transient(err):
        return err
    if attempt >= UNEXPECTED_ATTEMPTS:
        return ApplicationError(
            f"failed {attempt} times: {text}", type=REPEATED_FAILURE, non_retryable=True
        )
    return err


def classified(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an activity (under `@activity.defn`) so non-transient failures end."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as err:
            failure = failure_for(err, activity.info().attempt)
            if failure is err:
                raise
            activity.logger.warning("activity gives up: %s", failure)
            raise failure from err

    return wrapper


__all__ = ["classified", "failure_for", "is_refusal", "is_transient", "refused"]
