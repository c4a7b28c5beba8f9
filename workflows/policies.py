"""Named timeouts and retry policies for every activity the workflows call.

Transient failures (network, 5xx, 429, database restarts) retry; adapters raise the
non-retryable types below for permanent ones (4xx, bad auth), which the workflow records.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.common import RetryPolicy

PROVIDER_REJECTED = "ProviderRejected"
BAD_CONFIGURATION = "BadConfiguration"
UNKNOWN_CLIENT = "UnknownClient"
# Raised by activities.failures: a value the database or a model refuses (out of range,
# NUL in text, an index row too large, a constraint: the same row is refused on every
# attempt, so retrying would only spin), and an unexpected exception that kept failing for
# UNEXPECTED_ATTEMPTS attempts. An outage (connection refused, reset, a restart) is never
# either type and retries as before.
INVALID_DATA = "InvalidData"
REPEATED_FAILURE = "RepeatedFailure"
# A local activity cut short because its worker stopped (workers/shutdown.py): not the
# activity's failure; the workflow task is failed so it runs again after the restart.
WORKER_SHUTDOWN = "WorkerShutdown"
PERMANENT_ERRORS = [PROVIDER_REJECTED, BAD_CONFIGURATION, UNKNOWN_CLIENT, INVALID_DATA]
UNEXPECTED_ATTEMPTS = 5  # with INTAKE's backoff: about 8 s of retrying
# A Mindbody appointment the Public API does not return, after UNRESOLVED_ATTEMPTS tries.
APPOINTMENT_NOT_FOUND = "AppointmentNotFound"
UNRESOLVED_ATTEMPTS = 4


@dataclass(frozen=True, kw_only=True)
class ActivityOptions:
    start_to_close: timedelta
    schedule_to_close: timedelta | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # For long activities that heartbeat: a worker that died is noticed after this, not
    # after the whole start_to_close.
    heartbeat: timedelta | None = None


LEDGER = ActivityOptions(
    start_to_close=timedelta(seconds=15),
    # The ledger is the record of money: retry until the database is back, never give up.
    # A row PostgreSQL refuses (INVALID_DATA) is not an outage: it fails at once and
    # the package records the failure and alerts staff instead of retrying forever.
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=0,
        non_retryable_error_types=[BAD_CONFIGURATION, INVALID_DATA],
    ),
)

STAFF_ALERT = LEDGER

MESSAGING = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    # A message a day late is worse than useless; after that the failure is recorded.
    schedule_to_close=timedelta(hours=24),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=5),
        maximum_attempts=0,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
)

INTAKE = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    # Routing a visit must finish: the visit waits (durably) through outages of the
    # database or of the package workers, and a permanent error is a bug to fix, not skip.
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=500),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=0,
        non_retryable_error_types=[BAD_CONFIGURATION],
    ),
)

# Polling runs every few minutes and its cursor moves only after a complete run, so a
# run that cannot finish should end and leave the window to the next one, rather than
# hold the schedule (overlap SKIP) retrying for hours.
POLL_FETCH = ActivityOptions(
    start_to_close=timedelta(seconds=60),
    schedule_to_close=timedelta(minutes=10),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=0,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
)

POLL_SUBMIT = ActivityOptions(
    start_to_close=timedelta(seconds=60),
    # Handing a page to intake is idempotent (event keys), so retrying is always safe;
    # past the bound the run fails and the next scheduled run re-reads the same window.
    schedule_to_close=timedelta(minutes=10),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=500),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=0,
        non_retryable_error_types=[BAD_CONFIGURATION],
    ),
)

POLL_CURSOR = ActivityOptions(
    start_to_close=timedelta(seconds=15),
    # A cursor write is a single row: retry through a database restart, but give up
    # within the run's interval; an unwritten cursor only means the window is re-read.
    schedule_to_close=timedelta(minutes=5),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=0,
        non_retryable_error_types=[BAD_CONFIGURATION],
    ),
)

# A renewal offer waits for its Checkout link a few minutes at most; past that the
# message goes out with the spa's renewal page instead.
CHECKOUT = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(minutes=5),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=0,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
)

# Refunds retry with one Idempotency-Key, which Stripe keeps for at least 24 hours: stop
# inside that window (then staff check the dashboard) so a late retry can never refund twice.
REFUND = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(hours=20),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=0,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
)

# CRM and booking write-back: retried (429s wait out Retry-After through the retry delay,
# never in workflow code) for a day; the next balance change writes the latest state anyway.
WRITE_BACK = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(hours=24),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=0,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
)

# Every effect of a drain (client texts and emails, staff alerts, CRM and booking
# write-back, lifecycle webhooks) in one activity. Each target is idempotent, so a retry
# redoes only what failed. Bounded: about an hour of retrying (1 s doubling to 10 min,
# 15 attempts); on the last attempt the activity records what still fails as given up
# and the package alerts staff, so nothing retries silently forever.
EFFECTS_ATTEMPTS = 15
EFFECTS = ActivityOptions(
    start_to_close=timedelta(seconds=90),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=EFFECTS_ATTEMPTS,
        non_retryable_error_types=[BAD_CONFIGURATION, INVALID_DATA],
    ),
)

# Lifecycle webhooks: at least once, retried for three days as Stripe does for its own.
EVENTS = ActivityOptions(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(days=3),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=30),
        maximum_attempts=0,
        non_retryable_error_types=[BAD_CONFIGURATION],
    ),
)

# Building reads Postgres only: retry through a database restart, give up after two hours
# (the next week's run, or `punchcard report reconcile`, covers a failed one).
REPORT_BUILD = ActivityOptions(
    start_to_close=timedelta(minutes=5),
    schedule_to_close=timedelta(hours=2),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=0,
        non_retryable_error_types=[BAD_CONFIGURATION],
    ),
)

# The email may wait out a mail-server outage for half a day; permanent refusals stop it
# (the report stays stored and readable from the CLI and API).
REPORT_EMAIL = ActivityOptions(
    start_to_close=timedelta(seconds=60),
    schedule_to_close=timedelta(hours=12),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=5),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=10),
        maximum_attempts=0,
        non_retryable_error_types=PERMANENT_ERRORS,
    ),
)

# A batch of import rows: every row is applied once (its outcome is written with its
# effects, or its key claimed first), so retrying a batch is always safe. An outage is
# waited out; a job that cannot go on (a bug) fails after a few hours and says so.
IMPORT_BATCH = ActivityOptions(
    start_to_close=timedelta(minutes=2),
    heartbeat=timedelta(seconds=20),  # a batch heartbeats per row: a dead worker's is redone soon
    schedule_to_close=timedelta(hours=6),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=0,
        non_retryable_error_types=[BAD_CONFIGURATION],
    ),
)
