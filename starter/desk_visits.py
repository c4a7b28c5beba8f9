"""Desk completions (the staff API's and the CLI's `complete`) as visit events.

A completion recorded at the desk for a platform's appointment goes through that
appointment's visit workflow like every other source (`VisitGateway.complete_at_desk`),
so it and the platform's report take one session between them, whichever comes first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from activities.intake import VisitGateway
from starter.packages import NotFound, PackageService, Refused
from workflows.models import PackageAnswer
from workflows.visit_models import Platform, VisitChange, VisitEvent


def desk_visit(
    appointment_id: str | None, ref: str, *, platform: Platform | None = None
) -> tuple[Platform, str] | None:
    """Which visit a desk completion belongs to.

    `<platform>:<id>` (as the ledger shows it) or `platform` names a platform's
    appointment: its visit, shared with the platform's own report. No appointment id:
    a desk visit of its own (`desk:<ref>`, as the ledger always showed it). A bare id
    names no platform, so no other source can report it: None, and it goes straight to
    the package under its old key, keeping the ledger's appointment id (and reversal).
    """
    if appointment_id is None:
        return Platform.DESK, ref
    if platform is not None:
        return platform, appointment_id
    prefix, _, rest = appointment_id.partition(":")
    if rest and prefix in {p.value for p in Platform}:
        return Platform(prefix), rest
    return None


def redeem_key(platform: Platform, appointment_id: str) -> str:
    """The key the visit workflow redeems under, so the package dedupes every source."""
    return f"complete:{platform.value}:{appointment_id}"


def desk_completion(
    *,
    ref: str,
    platform: Platform,
    appointment_id: str,
    actor: str,
    service_date: date | None = None,
    amount_cents: int | None = None,
    provider_id: str | None = None,
    rebooked_from: str | None = None,
) -> VisitEvent:
    """Raises pydantic.ValidationError for a value no visit may carry."""
    return VisitEvent(
        event_key=f"desk-complete:{ref}",
        platform=platform,
        appointment_id=appointment_id,
        change=VisitChange.COMPLETED,
        service_date=service_date,
        amount_cents=amount_cents,
        provider_id=provider_id,
        rebooked_from=rebooked_from,
        occurred_at=datetime.now(UTC),
        source="desk",
        actor=actor,
    )


async def complete_at_desk(
    gateway: VisitGateway,
    service: PackageService,
    event: VisitEvent,
    package_id: str,
    *,
    allow_same_day: bool = False,
) -> PackageAnswer:
    """The package's answer, or NotFound / Refused (rule in brackets) as `send` raises."""
    answer = await gateway.complete_at_desk(event, package_id, allow_same_day=allow_same_day)
    if answer.accepted and answer.answer is not None:
        return answer.answer
    if answer.rule == "PackageClosed" and await service.ledger.balance(package_id) is None:
        raise NotFound(f"no package {package_id!r}")
    raise Refused(answer.rule or "Refused", answer.detail)
