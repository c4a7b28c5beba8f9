"""Polling contracts: the poll workflow's input and outcome, and the `poll.*` activities.

Zenoti (and, once partner access exists, Jane) send no appointment webhooks we can rely
on, so a Temporal Schedule per location runs `PollLocationWorkflow`: read the location's
cursor, page through appointments in the window since it, hand them to the intake path
(`intake.submit_visits`), and only then move the cursor. A run that fails moves nothing,
so the next one fetches the same window again; re-feeding a visit is a no-op because each
`VisitEvent` carries a key built from the appointment and its state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from workflows import policies
from workflows.calls import Contract
from workflows.models import Model
from workflows.visit_models import Platform, VisitEvent

POLL_WORKFLOW = "PollLocationWorkflow"
POLLED_PLATFORMS = frozenset({Platform.ZENOTI, Platform.JANE})


def poll_schedule_id(platform: Platform | str, location_id: str) -> str:
    """One schedule (and one workflow id prefix) per polled location."""
    return f"poll-{Platform(platform).value}-{location_id}"


class PollInput(Model):
    """One run of one location's poll; the schedule passes the same input every time."""

    platform: Platform
    location_id: str = Field(min_length=1, max_length=200)
    overlap_minutes: int = Field(
        default=30, ge=0, description="re-read this much before the cursor: late edits"
    )
    first_lookback_hours: int = Field(
        default=24, ge=1, description="how far back the very first run of a location reads"
    )
    page_size: int = Field(default=100, ge=1, le=500)
    max_window_days: int = Field(
        default=31, ge=1, description="a longer gap is caught up over several runs"
    )

    @field_validator("platform")
    @classmethod
    def _pollable(cls, platform: Platform) -> Platform:
        if platform not in POLLED_PLATFORMS:
            raise ValueError(f"{platform.value} is not polled (webhooks or CSV import instead)")
        return platform


class PollWindow(Model):
    """Appointments changed in [start, end) are fetched; `end` becomes the new cursor."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> PollWindow:
        if self.end < self.start:
            raise ValueError("window end is before its start")
        return self

    @property
    def length(self) -> timedelta:
        return self.end - self.start


class PollOutcome(Model):
    """What one run did, for the Temporal UI and the location's `last_result`."""

    platform: Platform
    location_id: str
    status: Literal["polled", "inactive"]
    window: PollWindow | None = None
    pages: int = 0
    appointments: int = Field(default=0, description="appointments the platform listed")
    skipped: int = Field(default=0, description="rows with an unknown status, block-outs…")
    submitted: int = Field(default=0, description="visit events handed to intake")
    accepted: int = 0
    unknown_clients: list[str] = Field(default_factory=list)
    caught_up: bool = Field(default=True, description="False: the next run continues the gap")

    def summary(self) -> str:
        if self.window is None:
            return self.status
        return (
            f"{self.status}: {self.appointments} appointments in {self.pages} pages, "
            f"{self.accepted} accepted, {len(self.unknown_clients)} unknown clients, "
            f"{self.skipped} skipped"
        )


# --- activity contracts ----------------------------------------------------------------


class CursorInput(Model):
    platform: Platform
    location_id: str


class CursorState(Model):
    known: bool = Field(description="False: the location was never added")
    active: bool = False
    cursor_at: datetime | None = None


class FetchPageInput(Model):
    platform: Platform
    location_id: str
    window: PollWindow
    page_token: str | None = Field(default=None, description="None: the first page")
    page_size: int = Field(default=100, ge=1, le=500)


class FetchedPage(Model):
    visits: list[VisitEvent] = Field(default_factory=list)
    appointments: int = Field(default=0, description="rows the platform returned")
    skipped: int = 0
    next_page_token: str | None = None


class AdvanceCursorInput(Model):
    """Record a run; move the cursor to `cursor_at` when given (never backwards)."""

    platform: Platform
    location_id: str
    cursor_at: datetime | None = None
    result: str = Field(max_length=500)


class AdvanceCursorResult(Model):
    cursor_at: datetime | None


# --- activity contracts ----------------------------------------------------------------

READ_CURSOR = Contract(
    name="poll.read_cursor", arg=CursorInput, result=CursorState, options=policies.POLL_CURSOR
)
FETCH_PAGE = Contract(
    name="poll.fetch_page", arg=FetchPageInput, result=FetchedPage, options=policies.POLL_FETCH
)
ADVANCE_CURSOR = Contract(
    name="poll.advance_cursor",
    arg=AdvanceCursorInput,
    result=AdvanceCursorResult,
    options=policies.POLL_CURSOR,
)
