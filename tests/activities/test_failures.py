"""Which activity failures wait out an outage and which end (activities.failures)."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.failures import failure_for
from workflows.policies import INVALID_DATA, REPEATED_FAILURE, UNEXPECTED_ATTEMPTS


class _Strict(BaseModel):
    n: int


def _validation_error() -> ValidationError:
    try:
        _Strict.model_validate({"n": "x"})
    except ValidationError as err:
        return err
    raise AssertionError("no error")


@pytest.mark.parametrize(
    "err",
    [
        ConnectionRefusedError(111, "refused"),
        FileNotFoundError(2, "no socket"),  # PostgreSQL down, unix socket gone
        TimeoutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.TooManyConnectionsError("too many clients"),
        RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""),
        RPCError("deadline", RPCStatusCode.DEADLINE_EXCEEDED, b""),
    ],
)
def test_outages_keep_retrying_however_long(err: Exception) -> None:
    assert failure_for(err, attempt=1000) is err


@pytest.mark.parametrize(
    "err",
    [
        asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
        asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
        asyncpg.UniqueViolationError("duplicate key"),
        _validation_error(),
    ],
)
def test_bad_data_ends_at_once(err: Exception) -> None:
    failure = failure_for(err, attempt=1)
    assert isinstance(failure, ApplicationError)
    assert (failure.type, failure.non_retryable) == (INVALID_DATA, True)


def test_an_unexpected_error_ends_after_bounded_attempts() -> None:
    err = RuntimeError("surprise")
    assert failure_for(err, attempt=UNEXPECTED_ATTEMPTS - 1) is err
    failure = failure_for(err, attempt=UNEXPECTED_ATTEMPTS)
    assert isinstance(failure, ApplicationError)
    assert (failure.type, failure.non_retryable) == (REPEATED_FAILURE, True)
    assert "surprise" in failure.message
    assert failure_for(RPCError("bad", RPCStatusCode.INVALID_ARGUMENT, b""), 9).type == (  # type: ignore[union-attr]
        REPEATED_FAILURE
    )


def test_typed_failures_pass_as_raised() -> None:
    err = ApplicationError("later", type="MindbodyUnavailable")
    assert failure_for(err, attempt=99) is err
