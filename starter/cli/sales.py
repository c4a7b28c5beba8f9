"""Selling and staff decisions on a whole package: sell, top up, extend, correct the expiry,
freeze, cancel, forfeit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from activities.repository import BalanceRow
from starter.cli import options as opt
from starter.cli.render import balance, last_day, parse_day, parse_dollars, table
from starter.cli.runtime import CliError, default_actor, package_service, run
from starter.cli.staff import send
from starter.packages import Invalid, SaleRequest, freeze_until
from starter.sale_dates import sale_dates
from workers.settings import Settings
from workflows import schedule, texts
from workflows.models import (
    AddUnitsRequest,
    CancelRequest,
    CorrectExpiryRequest,
    ExtendRequest,
    ForfeitRequest,
    FreezeRequest,
    PackageKind,
    PackageMessage,
    UnfreezeRequest,
)

RECORD_WAIT = 10.0


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Packages")
    def sell(
        client: Annotated[str, typer.Argument(help="Client id of the buyer.")],
        type_code: Annotated[str, typer.Argument(metavar="TYPE", help="Package type code.")],
        with_: Annotated[
            list[str] | None,
            typer.Option("--with", help="Another attendee of a shared (couples) purchase."),
        ] = None,
        purchase_id: Annotated[
            str | None,
            typer.Option(help="Idempotency key of the sale (the POS receipt id); default: new."),
        ] = None,
        purchased: Annotated[
            str | None,
            typer.Option(help="Day it was bought, YYYY-MM-DD (default: now; past backdates)."),
        ] = None,
        expires: Annotated[
            str | None,
            typer.Option(help="Last good day, YYYY-MM-DD (default: the type's months)."),
        ] = None,
        location: Annotated[
            str | None,
            typer.Option(
                help="Location sold at (`punchcard locations`; default: the client's home location, else the default one). "
                "Its reminders go out at that location's local hour; days are its days."
            ),
        ] = None,
        actor: opt.Actor = None,
    ) -> None:
        """Sell a package: one package per attendee, linked by the purchase id.

        A package bought earlier (moving in from another system) keeps its real dates:
        `--purchased 2026-04-12 --expires 2027-04-11`.
        """

        async def action(settings: Settings) -> None:
            async with package_service(settings) as service:
                where = await service.sale_location(location, client_id=client)
                tz = settings.spa_timezone if where is None else where.timezone
                try:
                    dates = sale_dates(
                        purchased_on=None
                        if purchased is None
                        else parse_day(purchased, "--purchased"),
                        expires_on=None if expires is None else parse_day(expires, "--expires"),
                        timezone=tz,
                        now=datetime.now(UTC),
                    )
                    result = await service.sell(
                        SaleRequest(
                            client_id=client,
                            type_code=type_code,
                            shared_with=with_ or [],
                            purchase_id=purchase_id,
                            sold_by=actor or default_actor(),
                            purchased_at=dates.purchased_at,
                            expires_at=dates.expires_at,
                            location_id=None if where is None else where.location_id,
                        )
                    )
                except Invalid as err:  # named by the API's fields: say the flag instead
                    flag = {"purchased_on": "--purchased", "expires_on": "--expires"}[err.field]
                    raise CliError(f"{flag}: {err.reason}") from None
                rows: list[BalanceRow] = []
                for package_id in result.package_ids:
                    if not await service.wait_recorded(package_id, timeout=RECORD_WAIT):
                        raise CliError(
                            f"purchase {result.purchase_id} is started in Temporal but no worker "
                            f"has recorded it: is a worker polling {settings.task_queue!r}?"
                        )
                    row = await service.ledger.balance(package_id)
                    assert row is not None
                    rows.append(row)
            note = " (already sold: nothing changed)" if result.already_sold else ""
            at = "" if result.location_id is None else f" at {result.location_id}"
            typer.echo(f"purchase {result.purchase_id}{at}{note}")
            typer.echo(
                table(
                    ["package", "client", "type", "balance", "paid", "good through"],
                    [
                        [
                            r.package_id,
                            r.client_id,
                            r.type_code,
                            balance(r.kind, r.remaining, r.purchased_units),
                            texts.money(r.paid_cents),
                            last_day(r.expires_at, tz),
                        ]
                        for r in rows
                    ],
                )
            )

        run(action)

    @app.command("add-sessions", rich_help_panel="Packages")
    def add_sessions(
        package: str,
        paid: Annotated[str, typer.Option("--paid", help="Dollars the client paid for them.")],
        reason: opt.Reason = "top-up",
        units: Annotated[
            int | None, typer.Option("--units", min=1, help="Sessions to add.")
        ] = None,
        credit: Annotated[
            str | None, typer.Option("--credit", help="Dollars of credit to add (dollar packages).")
        ] = None,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Upgrade / top-up: adds to what remains, never replaces it."""

        def build(settings: Settings, row: BalanceRow | None) -> PackageMessage:
            paid_cents = parse_dollars(paid, "--paid")
            dollars = row is not None and row.kind is PackageKind.DOLLARS
            if dollars and credit is None:
                raise CliError(f"{package} is a dollar package: give --credit DOLLARS")
            if not dollars and units is None:
                raise CliError(f"{package} counts sessions: give --units N")
            added = parse_dollars(credit, "--credit") if dollars and credit else units
            assert added is not None
            return AddUnitsRequest(
                key=key or f"add:{added}:{paid_cents}@{date.today().isoformat()}",
                units=added,
                paid_cents=paid_cents,
                reason=reason,
                actor=actor or default_actor(),
            )

        send(package, build)

    @app.command(rich_help_panel="Packages")
    def extend(
        package: str,
        until: Annotated[str, typer.Option("--until", help="New last good day, YYYY-MM-DD.")],
        reason: opt.Reason,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Extend the expiry (grace); reminders are re-planned for the new date.

        Only lengthens: a day before the current last good day is refused (BadExpiry). To
        fix a wrong date, earlier included, use `correct-expiry`.
        """

        def build(settings: Settings, row: BalanceRow | None) -> PackageMessage:
            day = parse_day(until, "--until")
            return ExtendRequest(
                key=key or f"extend:{day.isoformat()}",
                new_expires_at=schedule.ends_after(day, settings.spa_timezone),
                reason=reason,
                actor=actor or default_actor(),
            )

        send(package, build)

    @app.command("correct-expiry", rich_help_panel="Packages")
    def correct_expiry(
        package: str,
        to: Annotated[str, typer.Option("--to", help="The right last good day, YYYY-MM-DD.")],
        reason: opt.Reason,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Correct a wrong expiry (a manager's fix): earlier or later, never already past.

        Recorded as an expiry_correction, apart from extensions. Pending reminders and the
        expiry follow the new day; reminders already due for it are skipped, not sent late.
        """

        def build(settings: Settings, row: BalanceRow | None) -> PackageMessage:
            day = parse_day(to, "--to")
            return CorrectExpiryRequest(
                key=key or f"correct-expiry:{day.isoformat()}",
                new_expires_at=schedule.ends_after(day, settings.spa_timezone),
                reason=reason,
                actor=actor or default_actor(),
            )

        send(package, build)

    @app.command(rich_help_panel="Packages")
    def freeze(
        package: str,
        reason: opt.Reason,
        days: Annotated[
            int | None, typer.Option("--days", min=1, help="Days frozen, today counted.")
        ] = None,
        until: Annotated[
            str | None, typer.Option("--until", help="Last frozen day, YYYY-MM-DD.")
        ] = None,
        key: opt.Key = None,
        actor: opt.Actor = None,
    ) -> None:
        """Freeze (pause) a package, up to its type's max_freeze_days (a manager's call).

        Redemptions and check-ins are refused while frozen and reminders are held; the
        expiry moves by the span at once, and the freeze ends by itself after its last day
        (`unfreeze` ends it earlier and takes the unused days back off the expiry).
        """

        def build(settings: Settings, row: BalanceRow | None) -> PackageMessage:
            today = datetime.now(schedule.zone(settings.spa_timezone)).date()
            last = freeze_until(
                days=days,
                until=None if until is None else parse_day(until, "--until"),
                today=today,
            )
            return FreezeRequest(
                key=key or f"freeze:{today.isoformat()}:{last.isoformat()}",
                until=last,
                reason=reason,
                actor=actor or default_actor(),
            )

        send(package, build)

    @app.command(rich_help_panel="Packages")
    def unfreeze(
        package: str, reason: opt.Reason, key: opt.Key = None, actor: opt.Actor = None
    ) -> None:
        """End a freeze early: the frozen days not used come back off the expiry."""

        def build(settings: Settings, row: BalanceRow | None) -> PackageMessage:
            today = datetime.now(schedule.zone(settings.spa_timezone)).date()
            return UnfreezeRequest(
                key=key or f"unfreeze:{today.isoformat()}",
                reason=reason,
                actor=actor or default_actor(),
            )

        send(package, build)

    @app.command(rich_help_panel="Packages")
    def cancel(
        package: str,
        reason: opt.Reason,
        key: opt.Key = None,
        actor: opt.Actor = None,
        refund: Annotated[
            bool, typer.Option("--refund", help="refund the amount due through Stripe")
        ] = False,
    ) -> None:
        """Cancel the package; the refund due is the unused value, pro rata."""
        send(
            package,
            lambda settings, row: CancelRequest(
                key=key or "cancel",
                reason=reason,
                actor=actor or default_actor(),
                issue_refund=refund,
            ),
        )

    @app.command(rich_help_panel="Packages")
    def forfeit(
        package: str, reason: opt.Reason, key: opt.Key = None, actor: opt.Actor = None
    ) -> None:
        """Close a package in expiry review: what remains is forfeited as breakage."""
        send(
            package,
            lambda settings, row: ForfeitRequest(
                key=key or "forfeit", reason=reason, actor=actor or default_actor()
            ),
        )
