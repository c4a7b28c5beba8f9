"""`punchcard import …`: CSV imports. Completed appointments (the same path as webhooks),
and moving in — clients and open packages from the old system — as import jobs the worker
runs, followed here with a progress bar until the report is in.

`punchcard import FILE` (no kind) is still the appointment import, as it always was.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer._click import Context  # typer vendors click and re-exports neither
from typer.core import TyperGroup

from activities.imports import ImportOptions
from activities.intake import VisitGateway
from starter.cli.runtime import (
    ANSWER_TIMEOUT,
    CliError,
    database,
    default_actor,
    package_service,
    run,
    temporal,
)
from starter.imports import import_csv
from starter.moving_in import ImportService, ImportStatus, parse_pairs
from starter.packages import Invalid
from workers.settings import Settings

FormatName = Literal["generic", "mindbody", "boulevard"]
POLL_SECONDS = 0.25


class ImportGroup(TyperGroup):
    """`punchcard import FILE` reads as `punchcard import appointments FILE`."""

    def resolve_command(self, ctx: Context, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["appointments", *args]
        return super().resolve_command(ctx, args)


import_app = typer.Typer(
    cls=ImportGroup,
    help="Import CSV files: completed appointments, or clients and open packages when "
    "moving in from another system.",
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Report what would happen; change nothing.")
]
Format = Annotated[
    FormatName,
    typer.Option("--format", help="Whose export: generic, mindbody or boulevard headers."),
]
Columns = Annotated[
    list[str] | None,
    typer.Option(
        "--column", help="field=Header: read a field from a column not named as expected (repeat)."
    ),
]
ShowAll = Annotated[bool, typer.Option("--all", help="List every line, not only the problems.")]


@import_app.command("appointments")
def import_appointments(
    path: FileArg,
    platform: Annotated[
        str, typer.Option(help="Platform of rows without a Platform column.")
    ] = "csv",
) -> None:
    """Import a CSV export of completed appointments (twice changes nothing)."""

    async def action(settings: Settings) -> None:
        data = await asyncio.to_thread(path.read_bytes)
        async with package_service(settings) as service:
            client = await temporal(settings)
            report = await import_csv(
                data,
                platform=platform,
                actor=default_actor(),
                timezone=settings.spa_timezone,
                links=service.links,
                gateway=VisitGateway(
                    client, task_queue=settings.visit_queue, idle_days=settings.visit_idle_days
                ),
            )
        typer.echo(
            f"{report.rows} rows: {report.accepted} handed to their visits, "
            f"{report.skipped} skipped, {len(report.errors)} with problems"
        )
        for problem in report.errors:
            typer.echo(f"  line {problem.line}: {problem.message}")

    run(action)


@import_app.command("clients")
def import_clients(
    path: FileArg,
    dry_run: DryRun = False,
    format: Format = "generic",
    column: Columns = None,
    show_all: ShowAll = False,
) -> None:
    """Import clients: name, phone (to E.164 in PUNCHCARD_SPA_COUNTRY), email, each
    platform's client id (linked). Duplicates by platform id, phone or email are reported,
    never merged; the same file twice changes nothing."""
    _submit("clients", path, dry_run=dry_run, format=format, column=column, show_all=show_all)


@import_app.command("packages")
def import_packages(
    path: FileArg,
    dry_run: DryRun = False,
    format: Format = "generic",
    include_expired: Annotated[
        bool,
        typer.Option(help="Keep packages already expired, as expired, instead of refusing them."),
    ] = False,
    type_map: Annotated[
        list[str] | None,
        typer.Option(
            "--type", help="'Old package name=type_code': the old system's names (repeat)."
        ),
    ] = None,
    column: Columns = None,
    day_first: Annotated[bool, typer.Option(help="Read 03/04/2026 as 3 April.")] = False,
    location: Annotated[
        str | None,
        typer.Option(help="Location of rows that name none (default: the default location)."),
    ] = None,
    show_all: ShowAll = False,
) -> None:
    """Import open packages with their opening balances: client, package type, purchase and
    expiry dates, sessions bought and remaining (or credit and balance), price paid, the old
    purchase id. Each becomes a running package; the same file twice changes nothing."""
    _submit(
        "packages",
        path,
        dry_run=dry_run,
        format=format,
        column=column,
        show_all=show_all,
        include_expired=include_expired,
        type_map=type_map,
        day_first=day_first,
        location=location,
    )


@import_app.command("status")
def import_status(
    job_id: str,
    show_all: ShowAll = False,
) -> None:
    """Show an import job: its progress and its report by line."""

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            service = ImportService(client=await temporal(settings), pool=pool, settings=settings)
            status = await service.status(job_id, problems_only=not show_all)
        _report(status, show_all=show_all)

    run(action)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import", rich_help_panel="Intake")


def _submit(
    kind: Literal["clients", "packages"],
    path: Path,
    *,
    dry_run: bool,
    format: FormatName,
    column: list[str] | None,
    show_all: bool,
    include_expired: bool = False,
    type_map: list[str] | None = None,
    day_first: bool = False,
    location: str | None = None,
) -> None:
    async def action(settings: Settings) -> None:
        options = ImportOptions(
            include_expired=include_expired,
            type_map=parse_pairs(type_map, "--type"),
            location_id=location,
        )
        mapping = parse_pairs(column, "--column")
        data = await asyncio.to_thread(path.read_bytes)
        async with database(settings) as pool:
            service = ImportService(client=await temporal(settings), pool=pool, settings=settings)
            try:
                started = await service.submit(
                    kind,
                    data,
                    actor=default_actor(),
                    format=format,
                    dry_run=dry_run,
                    file_name=path.name,
                    options=options,
                    mapping=mapping,
                    day_first=day_first,
                )
            except Invalid as err:
                raise CliError(f"{path.name}: {err.reason}") from None
            status = await _follow(service, started)
        _report(status, show_all=show_all)

    run(action)


async def _follow(service: ImportService, started: ImportStatus) -> ImportStatus:
    """A progress bar on stderr until the job is finished; the report goes to stdout."""
    loop = asyncio.get_running_loop()
    label = f"{'dry run: ' if started.dry_run else ''}{started.kind} ({started.job_id})"
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=started.rows_total)
        last_done, last_change = -1, loop.time()
        while True:
            status = await service.status(started.job_id, lines=False)
            progress.update(task, completed=status.rows_done)
            if status.finished:
                break
            if status.rows_done != last_done:
                last_done, last_change = status.rows_done, loop.time()
            elif loop.time() - last_change > ANSWER_TIMEOUT:
                raise CliError(
                    f"no progress within {ANSWER_TIMEOUT:.0f}s: is a worker polling task queue "
                    f"{service.task_queue!r}? The job goes on when one is: "
                    f"punchcard import status {started.job_id}"
                )
            await asyncio.sleep(POLL_SECONDS)
    return await service.status(started.job_id)


def _report(status: ImportStatus, *, show_all: bool) -> None:
    c = status.counts
    verbs = (
        ("would create", "would update", "would skip")
        if status.dry_run
        else ("created", "updated", "skipped")
    )
    typer.echo(
        f"{'Dry run, nothing changed. ' if status.dry_run else ''}"
        f"{status.kind} import {status.job_id} {status.status}: {status.rows_done} of "
        f"{status.rows_total} rows — {c['created']} {verbs[0]}, {c['updated']} {verbs[1]}, "
        f"{c['skipped']} {verbs[2]}, {c['duplicate']} duplicate, {c['refused']} refused"
    )
    if status.detail:
        typer.echo(f"  {status.detail}")
    for line in status.lines:
        if show_all or line.outcome in ("duplicate", "refused"):
            typer.echo(f"  line {line.line}: {line.outcome}: {line.message}")
