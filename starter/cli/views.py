"""Read-only views for the front desk and ops: a client's packages, a package's history,
open staff alerts and what a client was sent. They read the Postgres ledger (the record
finance keeps), not Temporal, so they work for packages closed years ago."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from activities.repository import (
    BalanceRow,
    ClientRecord,
    ClientRepository,
    LedgerReader,
    LedgerRow,
)
from starter.cli.render import balance, last_day, local_time, table
from starter.cli.runtime import CliError, database, package_service, run
from starter.history_days import line_day, service_dates
from workers.settings import Settings
from workflows import texts
from workflows.models import Entry, PackageKind, PackageStatus

EXPIRING_SOON = timedelta(days=30)


async def resolve_client(clients: ClientRepository, text: str) -> ClientRecord:
    """A client id, or a name/phone search that matches exactly one client."""
    found = await clients.get(text)
    if found is not None:
        return found
    matches = await clients.find(text)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"no client {text!r} (search by id, part of the name, or phone)")
    names = ", ".join(f"{c.client_id} ({c.name})" for c in matches[:5])
    raise CliError(f"{text!r} matches {len(matches)} clients: {names} — give the client id")


def warnings(row: BalanceRow, now: datetime) -> str:
    """What the front desk must not miss, most urgent first."""
    notes: list[str] = []
    active = row.status is PackageStatus.ACTIVE
    if active and row.remaining <= 0:
        notes.append("ZERO BALANCE — collect payment")
    if row.status is PackageStatus.IN_REVIEW:
        notes.append("EXPIRY REVIEW — extend or forfeit")
    if active and row.frozen_through is not None:
        notes.append(f"FROZEN until {row.frozen_through:%b %d, %Y}")
    if active and row.remaining > 0 and row.expires_at and row.expires_at - now <= EXPIRING_SOON:
        notes.append(f"expiring soon ({max((row.expires_at - now).days, 0)} days left)")
    if active and row.pace_at_risk:
        notes.append("pace at risk — book the next visit now")
    if row.refund_due_cents:
        notes.append(f"refund due {texts.money(row.refund_due_cents)}")
    if row.parent_purchase_id:
        notes.append(f"shared purchase {row.parent_purchase_id}")
    return "; ".join(notes)


def _contact(client: ClientRecord) -> str:
    parts = [f"{client.name} ({client.client_id})", client.phone or "no phone"]
    parts.append(client.email or "no email")
    if client.sms_opt_out:
        parts.append("SMS opted out")
    if client.email_opt_out:
        parts.append("email opted out")
    return " · ".join(parts)


def _signed(kind: PackageKind, delta: int) -> str:
    if delta == 0:
        return ""
    text = texts.money(abs(delta)) if kind is PackageKind.DOLLARS else str(abs(delta))
    return ("+" if delta > 0 else "-") + text


def _entry_cells(entry: Entry, kind: PackageKind, tz: str, dates: dict[str, date]) -> list[str]:
    outcome = entry.outcome + (f" — {entry.reason}" if entry.reason else "")
    day = line_day(
        kind=entry.kind,
        appointment_id=entry.appointment_id,
        recorded_at=entry.at,
        dates=dates,
        timezone=tz,
    )
    return [
        str(entry.seq),
        day.day.isoformat() + ("" if day.from_service_date else "*"),
        f"{local_time(entry.at, tz)} {entry.at.astimezone(ZoneInfo(tz)).tzname()}",
        entry.kind.value,
        _signed(kind, entry.units_delta),
        texts.money(entry.balance_after)
        if kind is PackageKind.DOLLARS
        else str(entry.balance_after),
        texts.money(entry.value_cents) if entry.value_cents else "",
        entry.appointment_id or "",
        entry.actor,
        outcome,
    ]


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Look up")
    def show(client: Annotated[str, typer.Argument(help="Client id, name or phone.")]) -> None:
        """A client's packages: balance, status, last good day, unused value, warnings."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                record = await resolve_client(ClientRepository(pool), client)
                rows = await LedgerReader(pool).balances_for_client(record.client_id)
            typer.echo(_contact(record))
            if not rows:
                typer.echo("no packages")
                return
            now, tz = datetime.now().astimezone(), settings.spa_timezone
            typer.echo(
                table(
                    [
                        "package",
                        "name",
                        "remaining",
                        "status",
                        "good through",
                        "unused value",
                        "notes",
                    ],
                    [
                        [
                            r.package_id,
                            r.name,
                            balance(r.kind, r.remaining, r.purchased_units),
                            r.status.value,
                            last_day(r.expires_at, tz),
                            texts.money(r.unused_value_cents),
                            warnings(r, now),
                        ]
                        for r in rows
                    ],
                )
            )

        run(action)

    @app.command(rich_help_panel="Look up")
    def history(package: str) -> None:
        """A package's audit trail from the ledger (the workflow's own if not yet mirrored).

        "date" is the visit's date of service for visits (kept by the package workflow),
        else the day recorded (marked *); "recorded" is when. Both in the spa's zone.
        """

        async def action(settings: Settings) -> None:
            tz = settings.spa_timezone
            async with database(settings) as pool:
                ledger = LedgerReader(pool)
                row, rows = await ledger.balance(package), await ledger.entries(package)
            dates: dict[str, date] = {}
            if row is not None and rows:
                typer.echo(
                    f"{row.package_id} · {row.name} · client {row.client_id} · "
                    f"{balance(row.kind, row.remaining, row.purchased_units)} · {row.status.value}"
                )
                entries = [_as_entry(r) for r in rows]
                kind = row.kind
                # The service dates live in the workflow; without Temporal, recorded days.
                with contextlib.suppress(CliError):
                    async with package_service(settings) as service:
                        dates = await service_dates(service, package)
            else:
                async with package_service(settings) as service:
                    view = await service.state(package)
                    entries = await service.history(package)
                dates = {
                    a.appointment_id: a.service_date for a in view.appointments if a.service_date
                }
                kind = view.snapshot.kind
                typer.echo(
                    f"{package} · {view.snapshot.name} · not yet in the ledger (from Temporal)"
                )
            typer.echo(
                table(
                    [
                        "#",
                        "date",
                        "recorded",
                        "kind",
                        "change",
                        "balance",
                        "value",
                        "appointment",
                        "by",
                        "outcome",
                    ],
                    [_entry_cells(e, kind, tz, dates) for e in entries],
                )
            )

        run(action)

    @app.command(rich_help_panel="Look up")
    def alerts(
        limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    ) -> None:
        """Open staff alerts, oldest first: zero-balance bookings, 80% used, pace, expiry review."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                rows = await LedgerReader(pool).open_alerts(limit)
            if not rows:
                typer.echo("no open alerts")
                return
            tz = settings.spa_timezone
            typer.echo(
                table(
                    ["when", "kind", "client", "package", "message"],
                    [
                        [
                            local_time(a.created_at, tz),
                            a.kind,
                            a.client_id or "-",
                            a.package_id or "-",
                            a.message,
                        ]
                        for a in rows
                    ],
                )
            )

        run(action)

    @app.command(rich_help_panel="Look up")
    def messages(client: Annotated[str, typer.Argument(help="Client id, name or phone.")]) -> None:
        """What the client was sent (or why not: opted out, no address, not configured)."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                record = await resolve_client(ClientRepository(pool), client)
                rows = await LedgerReader(pool).messages_for_client(record.client_id)
            if not rows:
                typer.echo(f"nothing sent to {record.name} yet")
                return
            tz = settings.spa_timezone
            typer.echo(
                table(
                    ["when", "channel", "kind", "to", "status", "text"],
                    [
                        [
                            local_time(m.created_at, tz),
                            m.channel,
                            m.kind,
                            m.recipient or "",
                            m.status,
                            m.body,
                        ]
                        for m in rows
                    ],
                )
            )

        run(action)


def _as_entry(row: LedgerRow) -> Entry:
    """A ledger row read back as the workflow's entry, so both sources print alike."""
    return Entry(
        seq=row.seq,
        key=row.idempotency_key,
        kind=row.kind,
        units_delta=row.units_delta,
        balance_after=row.balance_after,
        value_cents=row.value_cents,
        appointment_id=row.appointment_id,
        provider_id=row.provider_id,
        actor=row.actor,
        source=row.source,
        reason=row.reason,
        outcome=row.outcome,
        at=row.occurred_at,
    )
