"""Which PostgreSQL failures are permanent: the value is refused, not the database away.

    asyncpg.PostgresError
    ├── DataError (SQLSTATE 22…)  — out of range, NUL in text, bad encoding, too long;
    │                               also asyncpg's own "invalid input for query argument"
    ├── IntegrityConstraintViolationError (23…) — a check, not-null or foreign key
    └── ProgramLimitExceededError (54…) — e.g. an index row larger than a page allows
        → `refused(err)` is an ApplicationError(type=DATABASE_REFUSED, non_retryable)

Everything else — OSError (no socket, connection refused), connection errors (08…),
a restart (57P…), serialization failures (40…), timeouts — is transient and retried by the
activity's policy, forever for the ledger: money survives a PostgreSQL outage.
"""

from __future__ import annotations

import asyncpg
from temporalio.exceptions import ApplicationError

from workflows.policies import DATABASE_REFUSED

PERMANENT = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


def is_refusal(err: BaseException) -> bool:
    """Whether retrying the same statement with the same values can never succeed."""
    return isinstance(err, PERMANENT)


def refused(err: BaseException, what: str) -> ApplicationError:
    """The non-retryable failure for a refused value; `what` names the row being written."""
    sqlstate = getattr(err, "sqlstate", None)
    code = f" [{sqlstate}]" if sqlstate else ""
    return ApplicationError(
        f"PostgreSQL refused {what}: {type(err).__name__}{code}: {err}",
        type=DATABASE_REFUSED,
        non_retryable=True,
    )
