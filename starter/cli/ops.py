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
        temporal_port: Annotated[
            int | None,
            typer.Option(
                min=1,
                max=65535,
                help="Temporal's gRPC port (default: the port of PUNCHCARD_TEMPORAL_ADDRESS).",
            ),
        ] = None,
        ui_port: Annotated[
            int | None,
            typer.Option(
                min=1, max=65535, help="Temporal Web UI port (default: PUNCHCARD_TEMPORAL_UI_PORT)."
            ),
        ] = None,
        api_port: Annotated[
            int | None,
            typer.Option(
                min=1, max=65535, help="The HTTP API's port (default: PUNCHCARD_API_PORT)."
            ),
        ] = None,
    ) -> None:
        """Run everything on this machine: Temporal dev server, PostgreSQL, worker, demo."""
        _logging(logging.WARNING)

        async def action(settings: Settings) -> None:
            configure_logging(settings, level=logging.WARNING, punchcard_level=logging.WARNING)
            settings = with_ports(settings, temporal=temporal_port, ui=ui_port, api=api_port)
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


def with_ports(
    settings: Settings, *, temporal: int | None, ui: int | None, api: int | None
) -> Settings:
    """`up`'s port flags over the environment: a second stack beside the first (another
    checkout, a benchmark) needs only flags. Other terminals find Temporal's address in
    DATA/run/stack.json."""
    update: dict[str, object] = {}
    if temporal is not None:
        host, _, _ = settings.temporal_address.rpartition(":")
        update["temporal_address"] = f"{host or 'localhost'}:{temporal}"
    if ui is not None:
        update["temporal_ui_port"] = ui
    if api is not None:
        update["api_port"] = api
    return settings.model_copy(update=update) if update else settings
