"""Ops commands: run the embedded stack, run a worker, migrate, load the demo."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from activities.db import apply_migrations
from activities.providers import ProviderRepository
from starter.cli.runtime import CliError, database, package_service, run
from starter.demo import load_demo
from starter.embedded import StackOptions, run_stack
from workers.settings import Settings
from workers.telemetry import configure_logging
from workers.worker import run_worker


def _logging(level: int) -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("punchcard").setLevel(level)


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Run")
    def up(
        no_demo: Annotated[
            bool, typer.Option("--no-demo", help="Start without the demo spa.")
        ] = False,
        data_dir: Annotated[
            Path | None,
            typer.Option(
                help="Where Temporal's SQLite file and PostgreSQL live (default: PUNCHCARD_DATA_DIR)."
            ),
        ] = None,
    ) -> None:
        """Run everything on this machine: Temporal dev server, PostgreSQL, worker, demo."""
        _logging(logging.WARNING)

        async def action(settings: Settings) -> None:
            configure_logging(settings, level=logging.WARNING, punchcard_level=logging.WARNING)
            options = StackOptions(data_dir=data_dir or settings.data_dir, demo=not no_demo)
            await run_stack(settings, options, out=typer.echo)

        run(action, use_running_stack=False)

    @app.command(rich_help_panel="Run")
    def worker() -> None:
        """Run a worker against the configured Temporal and PostgreSQL (add replicas freely)."""
        _logging(logging.INFO)

        async def action(settings: Settings) -> None:
            configure_logging(settings, level=logging.WARNING, punchcard_level=logging.INFO)
            async with package_service(settings):  # fail fast, in one line, if either is down
                pass
            typer.echo(
                f"worker: polling {settings.task_queue!r} at {settings.temporal_address}; Ctrl-C stops it"
            )
            await run_worker(settings)
            typer.echo("worker: stopped")

        run(action)

    @app.command(rich_help_panel="Run")
    def migrate() -> None:
        """Apply pending schema migrations (the worker does this at start too)."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                applied = await apply_migrations(pool)
            typer.echo("applied " + ", ".join(applied) if applied else "schema up to date")

        run(action)

    @app.command(rich_help_panel="Run")
    def demo() -> None:
        """Load the demo spa into the configured stack (idempotent: twice changes nothing)."""

        async def action(settings: Settings) -> None:
            async with package_service(settings) as service, database(settings) as pool:
                try:
                    summary = await load_demo(service, ProviderRepository(pool))
                except TimeoutError as err:
                    raise CliError(f"{err}: is a worker running?") from None
            typer.echo(
                f"demo spa: {summary.providers} providers, {summary.clients} clients, "
                f"{summary.types} types, {len(summary.packages)} packages"
                + ("" if summary.new_entries else " (already loaded: nothing changed)")
            )

        run(action)
