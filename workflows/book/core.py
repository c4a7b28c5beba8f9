"""The book's state and the helpers every rule uses: entries, effects, values, identity."""

from __future__ import annotations

from datetime import datetime

from temporalio.exceptions import ApplicationError

from workflows import schedule, texts
from workflows.models import (
    CLOSED_STATUSES,
    ClientNoticeEffect,
    Entry,
    EntryKind,
    LedgerEffect,
    LifecycleEvent,
    LifecycleEventType,
    PackageAnswer,
    PackageInput,
    PackageKind,
    PackageMessage,
    PackageOutcome,
    PackageSnapshot,
    PackageState,
    PackageStatus,
    StaffAlertEffect,
)

MAX_KEPT_ENTRIES = 1000  # older entries live in the Postgres ledger

# Which entries subscribers hear about (outbound webhooks).
EVENT_TYPES: dict[EntryKind, LifecycleEventType] = {
    EntryKind.SALE: "package.created",
    EntryKind.OPENING_BALANCE: "package.created",
    EntryKind.REDEMPTION: "package.redeemed",
    EntryKind.REVERSAL: "package.reversed",
    EntryKind.REMINDER: "package.expiring",
    EntryKind.EXPIRY: "package.expired",
    EntryKind.CANCELLATION: "package.cancelled",
}
# Entries that change what a CRM or booking platform shows even when no unit moved.
SYNCED_KINDS = frozenset(
    {
        EntryKind.SALE,
        EntryKind.OPENING_BALANCE,
        EntryKind.EXTENSION,
        EntryKind.EXPIRY_CORRECTION,
        EntryKind.CANCELLATION,
        EntryKind.EXPIRY,
        EntryKind.EXPIRY_REVIEW,
        EntryKind.REFUND,
        EntryKind.REFUND_FAILED,
        EntryKind.FREEZE,
        EntryKind.UNFREEZE,
        EntryKind.ACTIVATION,
    }
)


class Refused(ApplicationError):
    """A message the package will not accept; `type` names the rule for callers."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message, type=rule, non_retryable=True)


class PackageBook:
    """One package's state plus the effects its changes owe the outside world."""

    def __init__(self, input: PackageInput, state: PackageState) -> None:
        self.input = input
        self.terms = input.terms
        self.state = state
        self.forfeited = 0
        self.breakage = 0

    # --- answers and identity -------------------------------------------------------------

    def known_answer(self, key: str) -> PackageAnswer | None:
        return self.state.answers.get(key)

    def answer(
        self, msg: PackageMessage, outcome: str, message: str, entry: Entry
    ) -> PackageAnswer:
        answer = PackageAnswer(
            package_id=self.input.package_id,
            key=msg.key,
            outcome=outcome,
            message=message,
            entry_seq=entry.seq,
            remaining=self.state.remaining,
            status=self.state.status,
            refund_due_cents=self.state.refund_due_cents,
        )
        self.state.answers[msg.key] = answer
        return answer

    def answer_as(self, key: str, first: PackageAnswer) -> PackageAnswer:
        """A duplicate under a new key gets the first answer, remembered under both keys."""
        self.state.answers[key] = first
        return first

    def root(self, appointment_id: str, rebooked_from: str | None) -> str:
        """A rebooked visit keeps the identity of the appointment it replaced."""
        if appointment_id in self.state.aliases:
            return self.state.aliases[appointment_id]
        if rebooked_from:
            return self.state.aliases.get(rebooked_from, rebooked_from)
        return appointment_id

    def link(self, appointment_id: str, root: str) -> None:
        if appointment_id != root:
            self.state.aliases[appointment_id] = root

    def require_open(self, verb: str, now: datetime) -> None:
        status = self.state.status
        name = self.terms.name
        if status is PackageStatus.CANCELLED:
            raise Refused("PackageCancelled", f"{name} was cancelled: cannot {verb} it")
        if status is PackageStatus.IN_REVIEW:
            raise Refused(
                "PackageInReview",
                f"{name} expired on {self.expiry_text()} and awaits staff review: cannot {verb} it",
            )
        expires_at = self.state.expires_at
        if status is PackageStatus.EXPIRED or (expires_at is not None and now >= expires_at):
            raise Refused(
                "PackageExpired", f"{name} expired on {self.expiry_text()}: cannot {verb} it"
            )

    def require_not_closed(self, what: str) -> None:
        if self.state.status in CLOSED_STATUSES:
            raise Refused(
                "PackageClosed", f"{self.terms.name} is {self.state.status.value}: {what}"
            )

    # --- money and pace -----------------------------------------------------------------

    def unused_value(self) -> int:
        """What the remaining units are worth (deferred revenue), in cents."""
        if self.state.unused_value_cents is None:  # carried from before the value was kept
            bought = max(self.state.purchased_units, 1)
            self.state.unused_value_cents = (
                max(self.state.remaining, 0) * self.state.paid_cents // bought
            )
        return self.state.unused_value_cents

    def consume(self, units: int) -> int:
        """Take `units` off the balance and return their value: a pro-rata share of the
        unused value, the last units taking all that is left, so nothing is lost to
        rounding and the values of every use, refund and forfeit add up to what was paid."""
        remaining, pool = self.state.remaining, self.unused_value()
        if remaining <= 0:
            value = 0
        elif units >= remaining:
            value = pool
        else:
            value = pool * units // remaining
        self.state.remaining -= units
        self.state.unused_value_cents = pool - value
        return value

    def restore(self, units: int, value: int) -> None:
        """Give back what an appointment took, at the value it took."""
        pool = self.unused_value()
        self.state.remaining += units
        self.state.unused_value_cents = pool + value

    def add(self, units: int, paid_cents: int) -> None:
        """A top-up: more units, and what they cost joins the unused value."""
        pool = self.unused_value()
        self.state.remaining += units
        self.state.purchased_units += units
        self.state.paid_cents += paid_cents
        self.state.unused_value_cents = pool + paid_cents

    def amount(self, units: int) -> str:
        return texts.amount(self.terms.kind, units)

    def held(self) -> texts.Held:
        """The package as its texts name it."""
        return texts.Held(
            kind=self.terms.kind,
            name=self.terms.name,
            shared=self.input.parent_purchase_id is not None,
        )

    @property
    def spa(self) -> str:
        return self.input.notices.spa_name

    def pace_due(self) -> datetime | None:
        """When the remaining sessions stop fitting before expiry; None if pace does not apply."""
        interval = self.terms.min_interval_days
        if (
            interval is None
            or self.terms.kind is not PackageKind.SESSIONS
            or self.state.expires_at is None
            or self.state.awaiting_activation
            or self.state.remaining <= 0
            or not self.input.notices.pace_warning
        ):
            return None
        return schedule.pace_deadline(self.state.expires_at, self.state.remaining, interval)

    # --- entries and effects --------------------------------------------------------------

    def append(
        self,
        *,
        key: str,
        kind: EntryKind,
        actor: str,
        outcome: str,
        at: datetime,
        delta: int = 0,
        value: int = 0,
        appointment_id: str | None = None,
        provider_id: str | None = None,
        source: str = "system",
        reason: str | None = None,
    ) -> Entry:
        """Record an entry and queue its ledger row with the balance as it stands after it."""
        entry = Entry(
            seq=self.state.next_seq,
            key=key,
            kind=kind,
            units_delta=delta,
            balance_after=self.state.remaining,
            value_cents=value,
            appointment_id=appointment_id,
            provider_id=provider_id,
            actor=actor,
            source=source,
            reason=reason,
            outcome=outcome,
            at=at,
        )
        self.state.next_seq += 1
        self.state.entries.append(entry)
        if len(self.state.entries) > MAX_KEPT_ENTRIES:
            self.state.entries.pop(0)
            self.state.dropped_entries += 1
        snapshot = self.snapshot(at)
        self.state.ledger_outbox.append(LedgerEffect(entry=entry, snapshot=snapshot))
        self._publish(entry, snapshot)
        return entry

    def _publish(self, entry: Entry, snapshot: PackageSnapshot) -> None:
        """Queue what integrations owe this entry: a CRM/booking sync, a lifecycle event."""
        if entry.kind is EntryKind.REDEMPTION:
            self.state.last_session_at = entry.at
        if entry.units_delta != 0 or entry.kind in SYNCED_KINDS:
            self.state.sync_version += 1
        types: list[LifecycleEventType] = []
        if entry.kind in EVENT_TYPES:
            types.append(EVENT_TYPES[entry.kind])
        if entry.kind is EntryKind.SALE and self.input.renews_package_id:
            types.append("package.renewed")
        for event_type in types:
            suffix = "" if event_type == types[0] else f":{event_type.split('.')[1]}"
            self.state.event_outbox.append(
                LifecycleEvent(
                    event_id=f"{self.input.package_id}:{entry.key}{suffix}",
                    type=event_type,
                    occurred_at=entry.at,
                    package=snapshot,
                    entry_seq=entry.seq,
                    appointment_id=entry.appointment_id,
                    units_delta=entry.units_delta,
                    value_cents=entry.value_cents,
                    renews_package_id=self.input.renews_package_id,
                )
            )

    def record(
        self,
        msg: PackageMessage,
        *,
        kind: EntryKind,
        outcome: str,
        at: datetime,
        delta: int = 0,
        value: int = 0,
        appointment_id: str | None = None,
        provider_id: str | None = None,
        reason: str | None = None,
    ) -> Entry:
        """Append the entry a message caused, signed with its key, actor and source."""
        return self.append(
            key=msg.key,
            kind=kind,
            actor=msg.actor,
            source=msg.source,
            outcome=outcome,
            at=at,
            delta=delta,
            value=value,
            appointment_id=appointment_id,
            provider_id=provider_id,
            reason=reason,
        )

    def notify_client(
        self, key: str, kind: str, subject: str, body: str, *, renewal_offer: bool = False
    ) -> None:
        """Queue a client message; a renewal offer's body carries RENEWAL_LINK, replaced by
        a Checkout link created when the message goes out."""
        self.state.notice_outbox.append(
            ClientNoticeEffect(
                key=f"{self.input.package_id}:{key}",
                kind=kind,
                subject=subject,
                body=body,
                renewal_offer=renewal_offer,
            )
        )

    def alert_staff(self, key: str, kind: str, message: str) -> None:
        self.state.notice_outbox.append(
            StaffAlertEffect(key=f"{self.input.package_id}:staff:{key}", kind=kind, message=message)
        )

    # --- views ------------------------------------------------------------------------

    def snapshot(self, now: datetime) -> PackageSnapshot:
        pace_due = self.pace_due()
        return PackageSnapshot(
            package_id=self.input.package_id,
            client_id=self.input.client_id,
            type_code=self.terms.type_code,
            name=self.terms.name,
            kind=self.terms.kind,
            status=self.state.status,
            remaining=self.state.remaining,
            purchased_units=self.state.purchased_units,
            paid_cents=self.state.paid_cents,
            unused_value_cents=self.unused_value(),
            purchased_at=self.input.purchased_at,
            expires_at=self.state.expires_at,
            parent_purchase_id=self.input.parent_purchase_id,
            refund_due_cents=self.state.refund_due_cents,
            pace_at_risk=pace_due is not None and now >= pace_due,
            frozen_through=self.state.frozen_through,
            awaiting_activation=self.state.awaiting_activation,
            payment_intent_id=self.input.payment.payment_intent_id if self.input.payment else None,
            location_id=self.input.location_id,
        )

    def outcome(self) -> PackageOutcome:
        return PackageOutcome(
            package_id=self.input.package_id,
            status=self.state.status,
            remaining=self.state.remaining,
            forfeited_units=self.forfeited,
            breakage_cents=self.breakage,
            refund_due_cents=self.state.refund_due_cents,
        )

    def expires_iso(self) -> str:
        return self.state.expires_at.isoformat() if self.state.expires_at else "never"

    def expiry_text(self) -> str:
        return texts.local_date(self.state.expires_at, self.input.notices.timezone)

    def renewal_url(self) -> str:
        """The spa's renewal page: the link when no Checkout link can be made."""
        return self.input.notices.renewal_url.format(package_id=self.input.package_id)

    def renewal_type_code(self) -> str:
        return self.terms.type_code


def sentence(text: str) -> str:
    """Capitalise the first letter only (str.capitalize would lowercase month names)."""
    return text[:1].upper() + text[1:]
