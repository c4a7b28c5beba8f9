"""Booking-platform write-back: the remaining count where the front desk already looks.

What each platform's API lets us write (provider-formats.md §3, §4, §6 and the sources
named there)::

    mindbody   our own line in the client's staff notes: read the client
               (`GET /client/clients`), replace or add the line marked with the package id,
               `POST /client/updateclient` with `{"Client": {"Id", "Notes"}}`. Staff text
               around it is kept. Needs the staff token.
    zenoti     one guest note per package, kept current: `POST /v1/guests/{id}/notes`
               once, then `PUT /v1/guests/{id}/notes/{note_id}` (the id is remembered in
               integration_syncs.external_ref; a deleted note is created again).
    boulevard  a client note per balance change: the Admin API's `createClientNote`
               mutation (no update mutation is known, so notes accumulate, newest first).
    jane       read-only: Jane's partner API is gated and no write path is published.

A writer answers with a `Written` (updated, not_linked or rejected, plus a reference to
keep) and raises only what deserves a retry or an operator: transient trouble (retryable)
and refused credentials (BAD_CONFIGURATION).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from temporalio.exceptions import ApplicationError

from activities.booking.mindbody import MindbodyApi
from activities.booking.zenoti import ZenotiApi
from activities.crm.base import good_through_day
from activities.provider_errors import scrub
from activities.writeback.boulevard import BoulevardAdmin, client_urn
from workflows import texts
from workflows.contracts import PackageSync, SyncStatus
from workflows.policies import BAD_CONFIGURATION

WRITABLE = ("boulevard", "mindbody", "zenoti")
READ_ONLY = ("jane",)
BOOKING_PLATFORMS = (*WRITABLE, *READ_ONLY)


@dataclass(frozen=True)
class Written:
    """One platform's outcome, and what to remember for the next write (a note id)."""

    status: SyncStatus
    detail: str | None = None
    ref: str | None = None


class BookingWriter(Protocol):
    """One platform's write path; `name` is the target in results and integration_syncs."""

    @property
    def name(self) -> str: ...

    async def write(self, external_id: str, sync: PackageSync, ref: str | None) -> Written:
        """Show `sync` on the platform's record `external_id`; `ref` is the last `Written.ref`."""
        ...


# --- what staff read -----------------------------------------------------------------


def balance_text(sync: PackageSync) -> str:
    """ "2 of 6 left", or "$350.00 of $1,500.00 left" for a dollar package."""
    if sync.kind == "dollars":
        return f"{texts.money(sync.remaining)} of {texts.money(sync.purchased_units)} left"
    return f"{sync.remaining} of {sync.purchased_units} left"


def note_text(sync: PackageSync, zone: ZoneInfo) -> str:
    """One line: "Punchcard: Laser x6 — 2 of 6 left, good through 2027-04-30".

    The date is the good-through day, the last day the client may use the package (what
    the client's texts and the desk say); an expired package "was good through" it.
    """
    text = f"Punchcard: {sync.name} — {balance_text(sync)}"
    if sync.expires_at is not None:
        verb = "was good through" if sync.status == "expired" else "good through"
        text += f", {verb} {good_through_day(sync.expires_at, zone)}"
    if sync.status == "cancelled":
        text += " (cancelled)"
    elif sync.status == "in_review":
        text += " (expiry under staff review)"
    return text


def marked_line(text: str, package_id: str) -> str:
    """The note line with the package id at its end, so the next write finds it."""
    return f"{text} [{package_id}]"


def replace_marked_line(notes: str, package_id: str, line: str) -> str:
    """Staff notes with our line for this package replaced (or appended); the rest kept."""
    newline = "\r\n" if "\r\n" in notes else "\n"
    lines = notes.splitlines()
    ours = [i for i, old in enumerate(lines) if _is_ours(old, package_id)]
    if not ours:
        return newline.join([*lines, line])
    lines[ours[0]] = line
    for extra in reversed(ours[1:]):
        del lines[extra]
    return newline.join(lines)


def _is_ours(line: str, package_id: str) -> bool:
    return line.startswith("Punchcard:") and line.rstrip().endswith(f"[{package_id}]")


# --- Mindbody ------------------------------------------------------------------------


class MindbodyWriter:
    """Our line in the client's Mindbody staff notes (read, edit our line, update)."""

    name = "mindbody"

    def __init__(self, api: MindbodyApi, *, site_id: str, zone: ZoneInfo) -> None:
        self._api = api
        self._site_id = site_id
        self._zone = zone

    async def write(self, external_id: str, sync: PackageSync, ref: str | None) -> Written:
        try:
            client = await self._api.get_client(self._site_id, external_id)
            if client is None:
                return Written(
                    "not_linked", f"Mindbody site {self._site_id} has no client {external_id}"
                )
            notes = client.get("Notes")
            before = notes if isinstance(notes, str) else ""
            line = marked_line(note_text(sync, self._zone), sync.package_id)
            after = replace_marked_line(before, sync.package_id, line)
            if after != before:
                await self._api.update_client(self._site_id, {"Id": external_id, "Notes": after})
        except ApplicationError as err:
            return answer_or_raise(err, self.name, "PUNCHCARD_MINDBODY_API_KEY / _STAFF_TOKEN")
        return Written("updated", f"Mindbody client {external_id} notes")


# --- Zenoti --------------------------------------------------------------------------


class ZenotiWriter:
    """One Zenoti guest note per package, created once and then updated in place."""

    name = "zenoti"

    def __init__(self, api: ZenotiApi, *, zone: ZoneInfo) -> None:
        self._api = api
        self._zone = zone

    async def write(self, external_id: str, sync: PackageSync, ref: str | None) -> Written:
        text = note_text(sync, self._zone)
        try:
            if ref:
                try:
                    await self._api.update_guest_note(external_id, ref, text)
                    return Written("updated", f"Zenoti guest {external_id} note {ref}", ref)
                except ApplicationError as err:
                    if _http_status(err) != 404:
                        raise
                    # Staff deleted our note: write a new one below.
            note_id = await self._api.create_guest_note(external_id, text)
        except ApplicationError as err:
            return answer_or_raise(err, self.name, "PUNCHCARD_ZENOTI_API_KEY")
        return Written("updated", f"Zenoti guest {external_id} note {note_id}", note_id)


# --- Boulevard -----------------------------------------------------------------------


class BoulevardWriter:
    """A Boulevard client note for each balance change (no update mutation is known)."""

    name = "boulevard"

    def __init__(self, admin: BoulevardAdmin, *, zone: ZoneInfo) -> None:
        self._admin = admin
        self._zone = zone

    async def write(self, external_id: str, sync: PackageSync, ref: str | None) -> Written:
        client_id = client_urn(external_id)
        try:
            await self._admin.create_client_note(client_id, note_text(sync, self._zone))
        except ApplicationError as err:
            return answer_or_raise(
                err, self.name, "PUNCHCARD_BOULEVARD_API_KEY / _API_SECRET / _BUSINESS_ID"
            )
        return Written("updated", f"Boulevard client {client_id} note")


# --- shared --------------------------------------------------------------------------


def _http_status(err: ApplicationError) -> int | None:
    details = err.details[0] if err.details else None
    status = details.get("http_status") if isinstance(details, dict) else None
    return status if isinstance(status, int) else None


def answer_or_raise(err: ApplicationError, target: str, settings: str) -> Written:
    """A provider error as an answer (404 → not_linked, other refusals → rejected), or
    raised again: transient errors retry, refused credentials need an operator."""
    status = _http_status(err)
    if not err.non_retryable or err.type == BAD_CONFIGURATION:
        raise err
    if status in (401, 403):
        raise ApplicationError(
            f"{err.message} (check {settings})",
            {"http_status": status},
            type=BAD_CONFIGURATION,
            non_retryable=True,
        ) from err
    if status == 404:
        return Written(
            "not_linked", f"{target} does not know the linked record: {scrub(err.message)}"
        )
    return Written("rejected", scrub(err.message))
