"""What happens to appointments: complete, no-show / late cancel, booking changes, reversal.

Each command (here and in `sales`) sends one update through `send` and prints the
package's answer; a refusal is one line on stderr (e.g. `refused (ZeroBalance): …`) and
exit status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

import typer

from activities.intake import VisitGateway
from activities.repository import BalanceRow
from starter.cli import options as opt
from starter.cli.render import amount, parse_day, parse_dollars, parse_when
from starter.cli.runtime import answered, default_actor, package_service, run, temporal
from starter.desk_visits import complete_at_desk, desk_completion, desk_visit, redeem_key
from workers.settings import Settings
from workflows import texts
from workflows.models import (
    AppointmentNotice,
    AttendanceRequest,
    PackageAnswer,
    PackageMessage,
    RedeemRequest,
    ReverseRequest,
)


class Change(StrEnum):
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    CANCELLED = "cancelled"


MessageBuilder = Callable[[Settings, BalanceRow | None], PackageMessage]


def send(package_id: str, build: MessageBuilder) -> None:
    """Build the message (it may need the package's kind), deliver it, print the answer."""

    async def action(settings: Settings) -> None:
        async with package_service(settings) as service:
            row = await service.ledger.balance(package_id)
            # Days and times typed for a package are its location's: the builder reads the
            # zone it counts them in from `spa_timezone`.
            zones = await service.locations.zones(settings.spa_timezone)
            zone = zones.get(None if row is None else row.location_id, settings.spa_timezone)
            message = build(settings.model_copy(update={"spa_timezone": zone}), row)
            repeat = await service.first_answer(package_id, message.key) is not None
            answer = await answered(settings, service.send(package_id, message))
            row = await service.ledger.balance(package_id) or row
        _print_answer(answer, message.key, row, repeat=repeat)

    run(action)


def _print_answer(answer: PackageAnswer, key: str, row: BalanceRow | None, *, repeat: bool) -> None:
    left = str(answer.remaining) if row is None else amount(row.kind, answer.remaining)
    details = f"package {answer.package_id} · {left} remaining · {answer.status.value}"
    if answer.refund_due_cents is not None:
        details += f" · refund due {texts.money(answer.refund_due_cents)}"
    typer.echo(answer.message)
    typer.echo(f"{details} · key {answer.key}")
    if repeat or answer.key != key:
        typer.echo(
            f"already recorded under key {answer.key}: nothing changed "
            "(a new event needs its own --key)"
        )


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Appointments")
    def complete(
        package: str,
        appointment: opt.Appointment,
        amount_: Annotated[
            str | None, typer.Option("--amount", help="Dollars to redeem (dollar packages).")
        ] = None,
        provider: opt.Provider = None,
        service_date: Annotated[
            str | None, typer.Option("--date", help="Day of the visit (YYYY-MM-DD).")
        ] = None,
        rebooked_from: Annotated[
            str | None, typer.Option(help="Earlier appointment id of the same visit.")
        ] = None,
        same_day: Annotated[
            bool, typer.Option("--same-day", help="Allow a second visit on the same day.")
        ] = False,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Record a completed appointment: the only thing that consumes a session.

        A platform's appointment (`--appointment mindbody:104233`) goes through its visit,
        like the platform's own report of it, so the two take one session between them.
        """

        def build(settings: Settings, row: BalanceRow | None) -> PackageMessage:
            return RedeemRequest(
                key=key or f"complete:{appointment}",
                appointment_id=appointment,
                amount_cents=None if amount_ is None else parse_dollars(amount_, "--amount"),
                provider_id=provider,
                service_date=None if service_date is None else parse_day(service_date, "--date"),
                rebooked_from=rebooked_from,
                allow_same_day=same_day,
                actor=actor or default_actor(),
            )

        visit = desk_visit(appointment, key or appointment)
        if visit is None:  # a bare desk reference: straight to the package, as always
            send(package, build)
            return
        ref, (platform, appointment_id) = key or appointment, visit

        async def action(settings: Settings) -> None:
            event = desk_completion(
                ref=ref,
                platform=platform,
                appointment_id=appointment_id,
                actor=actor or default_actor(),
                service_date=None if service_date is None else parse_day(service_date, "--date"),
                amount_cents=None if amount_ is None else parse_dollars(amount_, "--amount"),
                provider_id=provider,
                rebooked_from=rebooked_from,
            )
            async with package_service(settings) as service:
                redeem = redeem_key(platform, appointment_id)
                repeat = await service.first_answer(package, redeem) is not None
                gateway = VisitGateway(
                    await temporal(settings),
                    task_queue=settings.visit_queue,
                    idle_days=settings.visit_idle_days,
                )
                answer = await answered(
                    settings,
                    complete_at_desk(gateway, service, event, package, allow_same_day=same_day),
                )
                row = await service.ledger.balance(package)
            _print_answer(answer, redeem, row, repeat=repeat)

        run(action)

    @app.command("no-show", rich_help_panel="Appointments")
    def no_show(
        package: str,
        appointment: opt.Appointment,
        late_cancel: Annotated[
            bool, typer.Option("--late-cancel", help="A late cancel rather than a no-show.")
        ] = False,
        provider: opt.Provider = None,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Record a no-show or late cancel; it consumes only under the type's forfeit policy."""
        outcome = "late_cancel" if late_cancel else "no_show"
        send(
            package,
            lambda settings, row: AttendanceRequest(
                key=key or f"{outcome.replace('_', '-')}:{appointment}",
                appointment_id=appointment,
                outcome=outcome,
                provider_id=provider,
                actor=actor or default_actor(),
            ),
        )

    @app.command(rich_help_panel="Appointments")
    def book(
        package: str,
        appointment: opt.Appointment,
        change: Annotated[Change, typer.Option(help="What happened to the booking.")] = (
            Change.BOOKED
        ),
        at: Annotated[
            str | None, typer.Option(help="Appointment time, e.g. 2027-03-31T14:30 (spa time).")
        ] = None,
        rebooked_from: Annotated[
            str | None, typer.Option(help="Earlier appointment id of the same visit.")
        ] = None,
        provider: opt.Provider = None,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Record a booking change; never consumes. Booking at zero alerts staff."""

        def build(settings: Settings, row: BalanceRow | None) -> PackageMessage:
            when = None if at is None else parse_when(at, settings.spa_timezone, "--at")
            default_key = f"{change.value}:{appointment}" + (f"@{when.isoformat()}" if when else "")
            return AppointmentNotice(
                key=key or default_key,
                appointment_id=appointment,
                change=change.value,
                scheduled_at=when,
                provider_id=provider,
                rebooked_from=rebooked_from,
                actor=actor or default_actor(),
            )

        send(package, build)

    @app.command(rich_help_panel="Appointments")
    def reverse(
        package: str,
        appointment: opt.Appointment,
        reason: opt.Reason,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Reverse a completion marked in error: the session comes back."""
        send(
            package,
            lambda settings, row: ReverseRequest(
                key=key or f"reverse:{appointment}",
                appointment_id=appointment,
                reason=reason,
                actor=actor or default_actor(),
            ),
        )
