"""`punchcard report …`: the reconciliation on demand and the overrun audit of an export."""

from __future__ import annotations

import asyncio
import uuid
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from activities.reports import (
    build_report,
    overruns_csv,
    reconciliation_csv,
    reconciliation_html,
    reconciliation_text,
)
from activities.reports.render import money
from activities.reports.tokens import ReportTokenStore
from activities.repository import LocationRepository
from activities.repository.locations import IMPLIED_ID
from starter.cli.render import parse_day, table
from starter.cli.runtime import CliError, answered, database, default_actor, run, temporal
from starter.reports import audit_export, report_period
from workers.settings import Settings
from workflows.reconcile import ReconciliationWorkflow
from workflows.reconcile_models import ReconcileInput

report_app = typer.Typer(
    help="Reports: the reconciliation and the overrun audit.", no_args_is_help=True
)


class AuditPlatform(StrEnum):
    CSV = "csv"
    BOULEVARD = "boulevard"
    MINDBODY = "mindbody"
    ZENOTI = "zenoti"
    JANE = "jane"


def reports_dir(settings: Settings) -> Path:
    return settings.reports_dir or settings.data_dir / "reports"


token_app = typer.Typer(
    help="Read-only report tokens for the BI feeds (/feeds/…): Power BI, Excel, scripts.",
    no_args_is_help=True,
)
report_app.add_typer(token_app, name="token")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report", rich_help_panel="Look up")


@token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help='What will read with it, e.g. "Power BI, finance".')],
) -> None:
    """Make a report token: it reads the feeds and nothing else. Shown once; keep it in the
    BI tool's credential store."""
    if not name.strip() or len(name.strip()) > 100:
        raise CliError("name the token for what reads it (1 to 100 characters)")

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            issued = await ReportTokenStore(pool).issue(name.strip(), created_by=default_actor())
        typer.echo(f"report token {issued.token_id} ({issued.name}), shown only now:")
        typer.echo(issued.token)
        typer.echo(
            "read: GET /feeds/reconciliation.csv (also liability, overruns; .csv or .json) "
            "with Authorization: Bearer <token>, or ?token=<token>"
        )

    run(action)


@token_app.command("list")
def token_list() -> None:
    """Report tokens, newest first, with their last use (secrets are not kept)."""

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            tokens = await ReportTokenStore(pool).list()
        if not tokens:
            typer.echo("no report tokens (punchcard report token add NAME)")
            return
        rows = [
            (
                t.token_id,
                t.name,
                t.created_by,
                f"{t.created_at:%Y-%m-%d}",
                "-" if t.last_used_at is None else f"{t.last_used_at:%Y-%m-%d %H:%M}",
                "revoked" if t.revoked_at else "live",
            )
            for t in tokens
        ]
        typer.echo(table(("id", "name", "by", "made", "last used", "state"), rows))

    run(action)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The id from `token list`.")],
) -> None:
    """Revoke a report token: the feeds refuse it from the next request on."""

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            revoked = await ReportTokenStore(pool).revoke(token_id)
        if revoked is None:
            raise CliError(f"no report token {token_id!r}")
        typer.echo(f"report token {revoked.token_id} ({revoked.name}) revoked")

    run(action)


@report_app.command("reconcile")
def reconcile(
    first: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: last Monday).")
    ] = None,
    last: Annotated[
        str | None, typer.Option("--to", help="Last day, inclusive (default: today with --from).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for the CSV and HTML (default: reports_dir).")
    ] = None,
    email: Annotated[
        bool,
        typer.Option(
            "--email", help="Run it through the worker instead: stored and emailed to the manager."
        ),
    ] = False,
    location: Annotated[
        str | None,
        typer.Option(help="Only this location's packages, in its zone's days."),
    ] = None,
) -> None:
    """Print the reconciliation for a period (default: last week, Monday to Sunday, in the
    spa's time zone) and write it as CSV and HTML. With several locations it has their
    figures by location; --location narrows it to one."""

    async def action(settings: Settings) -> None:
        where, zone = None, settings.spa_timezone
        if location is not None:
            async with database(settings) as pool:
                found = await LocationRepository(pool).get(location)
                if found is None and not (
                    location == IMPLIED_ID and not await LocationRepository(pool).list()
                ):
                    raise CliError(f"no location {location!r}")
            if found is not None:
                where, zone = found.location_id, found.timezone
        if email and where is not None:
            raise CliError("--email sends the whole spa's report: leave out --location")
        period = report_period(
            None if first is None else parse_day(first, "--from"),
            None if last is None else parse_day(last, "--to"),
            timezone=zone,
        )
        if email:
            client = await temporal(settings)
            result = await answered(
                settings,
                client.execute_workflow(
                    ReconciliationWorkflow.run,
                    ReconcileInput(
                        start=period.start, end=period.end, requested_by=default_actor()
                    ),
                    id=f"reconciliation-on-demand-{uuid.uuid4().hex[:12]}",
                    task_queue=settings.task_queue,
                ),
            )
            status = result.email.status if result.email else "not sent"
            typer.echo(
                f"reconciliation {period.label()} stored as {result.report.report_id}; "
                f"liability {money(result.report.liability_cents)}; email: {status}"
            )
            return
        async with database(settings) as pool:
            report = await build_report(pool, period, location=where)
        directory = out or reports_dir(settings)
        stem = f"reconciliation-{period.first_day}-to-{period.last_day}" + (
            f"-{where}" if where else ""
        )
        csv_path, html_path = directory / f"{stem}.csv", directory / f"{stem}.html"
        html = reconciliation_html(report, spa_name=settings.spa_name)

        def write() -> None:
            directory.mkdir(parents=True, exist_ok=True)
            csv_path.write_text(reconciliation_csv(report), encoding="utf-8")
            html_path.write_text(html, encoding="utf-8")

        await asyncio.to_thread(write)
        typer.echo(reconciliation_text(report), nl=False)
        typer.echo(f"\nwritten: {csv_path}\n         {html_path}")

    run(action)


@report_app.command("overruns")
def overruns(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    platform: Annotated[
        AuditPlatform, typer.Option(help="Platform of rows without a Platform column.")
    ] = AuditPlatform.CSV,
    out: Annotated[
        Path | None, typer.Option(help="Also write the overrun list as CSV into this directory.")
    ] = None,
) -> None:
    """Audit a booking-platform export of completed appointments (last 90 days): clients
    whose visits exceed what they bought, with the value. The audit is stored and shows in
    the next reconciliation."""

    async def action(settings: Settings) -> None:
        data = await asyncio.to_thread(path.read_bytes)
        async with database(settings) as pool:
            audit = await audit_export(
                data,
                pool=pool,
                platform=platform.value,
                timezone=settings.spa_timezone,
                actor=default_actor(),
            )
        typer.echo(
            f"Overrun audit {audit.report_id}: visits {audit.window_start} to "
            f"{audit.window_end}; {audit.visits_read} completed visits read, "
            f"{audit.counted} compared with purchases"
        )
        if audit.overruns:
            rows = [
                (
                    o.client_id,
                    o.client_name,
                    o.category,
                    str(o.visits),
                    str(o.available),
                    str(o.excess),
                    money(o.value_cents),
                )
                for o in audit.overruns
            ]
            headers = ("client", "name", "category", "visits", "had", "over", "value")
            typer.echo(table(headers, rows))
        typer.echo(
            f"{len({o.client_id for o in audit.overruns})} clients over by "
            f"{audit.excess_sessions} sessions, {money(audit.value_cents)}"
        )
        notes = [
            (audit.outside_window, "outside the 90-day window"),
            (audit.not_package_services, "for services no session package covers"),
            (audit.paid_from_credit, "paid from dollar credit"),
            (audit.skipped_rows, "rows not completed visits (booked, no-show, repeats…)"),
        ]
        for count, what in notes:
            if count:
                typer.echo(f"  {count} {what}")
        for n in audit.no_package:
            typer.echo(
                f"  {n.client_id} ({n.client_name}): {n.visits} {n.category} visits without "
                "a package for it in the window: paid at the visit?"
            )
        for u in audit.unknown_clients:
            typer.echo(f"  unknown client {u.reference!r}: lines {_lines(u.lines)}")
        for s in audit.unknown_services:
            typer.echo(f"  unknown service {s.service!r}: lines {_lines(s.lines)}")
        for e in audit.errors:
            typer.echo(f"  line {e.line}: {e.message}")
        if out is not None:
            target = out / f"{audit.report_id}.csv"
            await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(target.write_text, overruns_csv(audit), "utf-8")
            typer.echo(f"written: {target}")

    run(action)


def _lines(lines: list[int]) -> str:
    return ", ".join(str(n) for n in lines)
