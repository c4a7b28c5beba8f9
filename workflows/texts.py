"""Every text a client or staff member reads, in one place: plain functions of plain facts,
so the wording is tested per package kind without Temporal.

Client texts start with the spa's name (carriers and the 10DLC rules expect the sender
named in the message). Staff alerts name the client, the package and what to do.

Money is formatted here for the whole code base: `money` for people ("$1,234.50"),
`plain_dollars` for machines (CSV cells, CRM number fields: "1234.50").

Texts are made in workflow code and travel to the messaging activities as their input.
Temporal's replay compares commands (their types and order), not activity inputs, so a
change of wording changes only what is sent from then on; a change of *which* messages go
out is workflow logic and goes behind `workflow.patched`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflows.models import PackageKind
from workflows.schedule import good_through

# --- money and amounts ------------------------------------------------------------------


def money(cents: int) -> str:
    """ "$1,234.50" (and "-$5.00"): integer arithmetic, no float rounding."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def plain_dollars(cents: int) -> str:
    """ "1234.50": no sign of currency, no thousands separator (CSV cells, CRM fields)."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def sessions(units: int) -> str:
    return f"{units} session" + ("" if units == 1 else "s")


def amount(kind: PackageKind, units: int) -> str:
    """A balance in the package's unit: "3 sessions" or "$350.00"."""
    if kind is PackageKind.DOLLARS:
        return money(units)
    return sessions(units)


def local_date(at: datetime | None, timezone: str) -> str:
    """The good-through day of an expiry, "Mar 09, 2027" ("no expiry" for none)."""
    if at is None:
        return "no expiry"
    return good_through(at, timezone).strftime("%b %d, %Y")


# --- what a text is about -----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Held:
    """The package as its texts name it."""

    kind: PackageKind
    name: str
    shared: bool = False  # one person's share of a couples / shared purchase

    def your(self) -> str:
        return f"your share of the {self.name}" if self.shared else f"your {self.name}"

    def left(self, units: int) -> str:
        """ "2 sessions left", "no sessions left", "$350.00 left", "no credit left"."""
        if units <= 0:
            return "no credit left" if self.kind is PackageKind.DOLLARS else "no sessions left"
        return f"{amount(self.kind, units)} left"


def signed(spa: str, body: str) -> str:
    """A client text from the spa: the sender named first."""
    return f"{spa}: {body}"


# --- client texts -------------------------------------------------------------------------


def redemption_confirmation(
    *,
    kind: PackageKind,
    name: str,
    used: int,
    purchased: int,
    remaining: int,
    spent: int,
    shared: bool = False,
) -> str:
    """The answer to a completed visit (also the core of the client's confirmation)."""
    if kind is PackageKind.DOLLARS:
        return (
            f"{money(spent)} redeemed from your {name} — {money(remaining)} remaining "
            f"of {money(purchased)}."
        )
    share = "your share of " if shared else ""
    return f"Session {used} of {purchased} complete — {remaining} remaining ({share}{name})."


def confirmation_text(spa: str, held: Held, *, core: str, remaining: int) -> str:
    """The client's text after a visit; at zero it says so plainly."""
    body = core
    if remaining <= 0:
        body += (
            " That was the last of your credit: ask us about a renewal."
            if held.kind is PackageKind.DOLLARS
            else " That was your last session: ask us about a renewal."
        )
    return signed(spa, body)


def two_left_text(spa: str, held: Held) -> str:
    return signed(spa, f"you have 2 sessions left on {held.your()}.")


def one_left_text(spa: str, held: Held, renewal_link: str) -> str:
    return signed(spa, f"you have 1 session left on {held.your()}. Renew now: {renewal_link}")


def low_balance_text(spa: str, held: Held, remaining: int, renewal_link: str) -> str:
    return signed(
        spa, f"{money(remaining)} of credit left on {held.your()}. Renew now: {renewal_link}"
    )


def reminder_text(
    spa: str, held: Held, *, remaining: int, good_through_day: str, renewal_link: str | None
) -> str:
    """The 60/30/14-day reminder, with the balance as it stands when it goes out."""
    body = f"you have {held.left(remaining)} on {held.your()}, good through {good_through_day}."
    if renewal_link is not None:
        body += f" Renew: {renewal_link}"
    return signed(spa, body)


def expired_text(spa: str, held: Held, *, unused: int) -> str:
    return signed(spa, f"{held.your()} expired with {amount(held.kind, unused)} unused.")


def thanks_text(spa: str, held: Held, *, units: int, good_through_day: str, renewal: bool) -> str:
    """After a paid purchase or renewal."""
    thanks = "thank you for renewing!" if renewal else "thank you!"
    return signed(
        spa,
        f"{thanks} Your {held.name} is ready: {amount(held.kind, units)}, "
        f"good through {good_through_day}.",
    )


def refund_text(spa: str, held: Held, *, refunded_cents: int) -> str:
    return signed(
        spa,
        f"we refunded {money(refunded_cents)} for {held.your()}. It reaches your card in "
        "5 to 10 business days.",
    )


def top_up_text(held: Held, *, added: int, remaining: int) -> str:
    """The answer to a top-up (the client's text is this, signed)."""
    return f"{amount(held.kind, added)} added to {held.your()} — {held.left(remaining)}."


def reversal_text(held: Held, *, returned: int, remaining: int) -> str:
    """The answer to a reversal (the client's text is this, signed)."""
    return f"Correction: {amount(held.kind, returned)} returned to {held.your()} — {held.left(remaining)}."


def pace_text(held: Held, *, remaining: int, interval_days: int | None, expiry_day: str) -> str:
    """Paced packages: the remaining sessions no longer fit before expiry."""
    return (
        f"{sessions(remaining)} of {held.name} need about {interval_days} days between "
        f"visits; to use them all before {expiry_day}, book now."
    )


# --- staff alerts ------------------------------------------------------------------------


def consumed_share_alert(client_id: str, held: Held, *, bought: int, remaining: int) -> str:
    """The staff alert once 80% or more is used, stating what is actually used: on a small
    package the first whole session past 80% may be all of it."""
    used = bought - remaining
    percent = used * 100 // max(bought, 1)
    share = " (a share of a shared purchase)" if held.shared else ""
    if held.kind is PackageKind.DOLLARS:
        usage = f"{money(used)} of {money(bought)} ({percent}%)"
    else:
        usage = f"{used} of {sessions(bought)} ({percent}%)"
    return (
        f"Client {client_id} has used {usage} of {held.name}{share}, {held.left(remaining)}: "
        "offer a renewal."
    )


def booking_at_zero_alert(client_id: str, held: Held, *, appointment_id: str) -> str:
    return (
        f"Appointment {appointment_id} was booked against {held.name} for client {client_id}, "
        f"which has {held.left(0)} (zero balance): collect payment before the visit."
    )


def expiry_review_alert(client_id: str, held: Held, *, remaining: int) -> str:
    return (
        f"{held.name} for client {client_id} reached expiry with {held.left(remaining)} "
        "(VIP rollover): extend or forfeit."
    )


def pace_alert(client_id: str, pace: str) -> str:
    return f"Client {client_id}: {pace}"


def refund_refused_alert(name: str, package_id: str, *, amount_cents: int, why: str) -> str:
    return (
        f"Stripe refused the refund of {money(amount_cents)} for {name} ({package_id}): "
        f"{why}. The cancellation was undone; refund by hand and cancel again without a "
        "Stripe refund."
    )


def refund_unconfirmed_alert(name: str, package_id: str, *, amount_cents: int, why: str) -> str:
    return (
        f"The refund of {money(amount_cents)} for {name} ({package_id}) was not confirmed by "
        f"Stripe ({why}). Check the payment in the Stripe dashboard before refunding by hand."
    )


def refund_after_close_alert(name: str, package_id: str, *, amount_cents: int, status: str) -> str:
    return (
        f"{money(amount_cents)} was refunded in Stripe for {name} ({package_id}), which is "
        f"already {status}: check the books."
    )
