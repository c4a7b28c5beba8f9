"""Intake and the people who run it: the HTTP API, staff tokens, client links, the service
catalog and the review queue (CSV imports: `starter.cli.moving_in`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import asyncpg
import typer

from activities.repository import (
    ClientLink,
    ReviewQueue,
    Role,
    ServiceMapping,
    StaffMember,
)
from activities.repository.poll_locations import PollLocationRepository
from starter.api.serve import run_api
from starter.cli.render import table
from starter.cli.runtime import CliError, database, default_actor, package_service, run, temporal
from starter.clients import ClientService
from starter.review import ReviewService
from starter.staff import StaffService
from workers.schedules import ensure_poll_schedules
from workers.settings import Settings
from workflows.visit_models import ResolveReview

PLATFORMS = ("boulevard", "mindbody", "zenoti", "jane", "csv", "hubspot", "gohighlevel")


def register(app: typer.Typer) -> None:
    @app.command(rich_help_panel="Run")
    def api() -> None:
        """Serve the HTTP API, webhooks and the front-desk page (`punchcard up` runs one)."""
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

        async def action(settings: Settings) -> None:
            typer.echo(f"api: http://{settings.api_host}:{settings.api_port} (Ctrl-C stops it)")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_api(settings, stop=stop)

        run(action)

    staff_app = typer.Typer(
        help="Staff who may use the API, and their tokens.", no_args_is_help=True
    )
    app.add_typer(staff_app, name="staff", rich_help_panel="Intake")

    @staff_app.command("add")
    def staff_add(
        staff_id: str,
        name: Annotated[str, typer.Option(help="Full name.")] = "",
        role: Annotated[Role, typer.Option(help="front_desk or manager.")] = Role.FRONT_DESK,
    ) -> None:
        """Create a staff member (or give them a new token); prints the token once."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                issued = await StaffService(pool).add_or_rekey(
                    StaffMember(staff_id=staff_id, name=name or staff_id, role=role)
                )
            typer.echo(f"{staff_id} ({role.value}): token {issued.token}")
            typer.echo("Send it as `Authorization: Bearer <token>`; it is not shown again.")

        run(action)

    @staff_app.command("list")
    def staff_list() -> None:
        """Staff and their roles."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                members = await StaffService(pool).list()
            typer.echo(
                table(
                    ["staff", "name", "role", "active"],
                    [
                        [m.staff_id, m.name, m.role.value, "yes" if m.active else "no"]
                        for m in members
                    ],
                )
                if members
                else "no staff yet: punchcard staff add <id> --role manager"
            )

        run(action)

    @staff_app.command("revoke")
    def staff_revoke(staff_id: str) -> None:
        """Revoke a staff member's token."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                await StaffService(pool).revoke(staff_id)
            typer.echo(f"{staff_id}: token revoked")

        run(action)

    @app.command("link", rich_help_panel="Intake")
    def link(
        client_id: str,
        platform: Annotated[str, typer.Argument(help="boulevard, mindbody, zenoti, jane or csv")],
        external_id: Annotated[str, typer.Argument(help="The platform's client id (URN, id…).")],
    ) -> None:
        """Tie a booking-platform client id to a Punchcard client."""
        if platform not in PLATFORMS:
            raise typer.BadParameter(f"platform must be one of {', '.join(PLATFORMS)}")

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                await ClientService(pool).link(
                    ClientLink(platform=platform, external_id=external_id, client_id=client_id)
                )
            typer.echo(f"{platform} client {external_id} → {client_id}")

        run(action)

    catalog_app = typer.Typer(help="Booking-platform services → categories.", no_args_is_help=True)
    app.add_typer(catalog_app, name="catalog", rich_help_panel="Intake")

    @catalog_app.command("list")
    def catalog_list() -> None:
        """Every mapping ('*' applies to all platforms)."""

        async def action(settings: Settings) -> None:
            async with package_service(settings) as service:
                rows = await service.catalog.list()
            typer.echo(
                table(
                    ["platform", "service", "category"],
                    [[m.platform, m.service_key, m.category] for m in rows],
                )
                if rows
                else "the catalog is empty: punchcard catalog map '<service>' <category>"
            )

        run(action)

    @catalog_app.command("map")
    def catalog_map(
        service: Annotated[str, typer.Argument(help="The service's id or name on the platform.")],
        category: str,
        platform: Annotated[str, typer.Option(help="A platform, or * for all.")] = "*",
    ) -> None:
        """Map a service to a category (package types say which categories they cover)."""

        async def action(settings: Settings) -> None:
            async with package_service(settings) as service_:
                saved = await service_.catalog.upsert(
                    ServiceMapping(
                        platform=platform,
                        service_key=service,
                        category=category,
                        updated_by=default_actor(),
                    )
                )
            typer.echo(f"{saved.platform} service {saved.service_key!r} → {saved.category}")

        run(action)

    @catalog_app.command("unmap")
    def catalog_unmap(
        service: str, platform: Annotated[str, typer.Option(help="A platform, or *.")] = "*"
    ) -> None:
        """Remove a mapping."""

        async def action(settings: Settings) -> None:
            async with package_service(settings) as service_:
                if not await service_.catalog.remove(platform, service):
                    raise CliError(f"no mapping for {platform} service {service!r}")
            typer.echo("removed")

        run(action)

    review_app = typer.Typer(help="The manual review queue.", no_args_is_help=True)
    app.add_typer(review_app, name="review", rich_help_panel="Intake")

    @review_app.command("list")
    def review_list(
        status: Annotated[
            str, typer.Option(help="open, assigned, dismissed, done or all.")
        ] = "open",
    ) -> None:
        """Items waiting for staff (oldest first)."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                items = await ReviewQueue(pool).list(None if status == "all" else status)
            if not items:
                typer.echo(f"no {status} review items")
                return
            typer.echo(
                table(
                    ["item", "since", "reason", "client", "detail"],
                    [
                        [
                            i.item_id,
                            f"{i.created_at:%Y-%m-%d %H:%M}",
                            i.reason,
                            i.client_id or "-",
                            i.detail,
                        ]
                        for i in items
                    ],
                )
            )

        run(action)

    @review_app.command("assign")
    def review_assign(
        item_id: str,
        package_id: str,
        amount: Annotated[int | None, typer.Option(help="Cents, for a dollar package.")] = None,
        same_day: Annotated[
            bool, typer.Option("--same-day", help="A second real visit that day: redeem it.")
        ] = False,
        actor: Annotated[str | None, typer.Option(help="Who decided (default: login).")] = None,
    ) -> None:
        """Give a waiting visit to a package: the package redeems it now."""
        _settle(
            item_id,
            ResolveReview(
                action="assign",
                package_id=package_id,
                amount_cents=amount,
                allow_same_day=same_day,
                actor=actor or default_actor(),
            ),
        )

    @review_app.command("dismiss")
    def review_dismiss(
        item_id: str,
        reason: Annotated[str, typer.Option(help="Why nothing is redeemed.")],
        actor: Annotated[str | None, typer.Option(help="Who decided (default: login).")] = None,
    ) -> None:
        """Close an item without redeeming."""
        _settle(
            item_id, ResolveReview(action="dismiss", reason=reason, actor=actor or default_actor())
        )

    location_app = typer.Typer(
        help="Booking-platform locations polled for changed appointments (Zenoti). The "
        "spa's own locations (zones, platform ids) are `punchcard locations`.",
        no_args_is_help=True,
    )
    app.add_typer(location_app, name="poll", rich_help_panel="Intake")

    @location_app.command("add")
    def location_add(
        platform: Annotated[str, typer.Argument(help="zenoti (jane is blocked: use import)")],
        location_id: Annotated[str, typer.Argument(help="The platform's center / clinic id.")],
        label: Annotated[str | None, typer.Option(help="A name staff recognise.")] = None,
    ) -> None:
        """Poll a location every PUNCHCARD_POLL_INTERVAL_MINUTES (a Temporal Schedule)."""
        if platform not in ("zenoti", "jane"):
            raise typer.BadParameter("platform must be zenoti or jane")

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                await PollLocationRepository(pool).add(platform, location_id, label)
                sync = await _sync_schedules(settings, pool)
            typer.echo(f"{platform} location {location_id}: {sync}")

        run(action)

    @location_app.command("list")
    def location_list() -> None:
        """Polled locations, their cursors and last results."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                locations = await PollLocationRepository(pool).list()
            typer.echo(
                table(
                    ["platform", "location", "active", "cursor", "last result"],
                    [
                        [
                            loc.platform,
                            loc.location_id,
                            "yes" if loc.active else "no",
                            f"{loc.cursor_at:%Y-%m-%d %H:%M}" if loc.cursor_at else "-",
                            loc.last_result or "-",
                        ]
                        for loc in locations
                    ],
                )
                if locations
                else "no polled locations: punchcard poll add zenoti <center id>"
            )

        run(action)

    @location_app.command("remove")
    def location_remove(platform: str, location_id: str) -> None:
        """Stop polling a location (its cursor is kept)."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                if not await PollLocationRepository(pool).deactivate(platform, location_id):
                    raise CliError(f"no {platform} location {location_id!r}")
                sync = await _sync_schedules(settings, pool)
            typer.echo(f"{platform} location {location_id}: {sync}")

        run(action)


async def _sync_schedules(settings: Settings, pool: asyncpg.Pool) -> str:
    """Bring the poll schedules in line with the locations table; say what changed."""
    client = await temporal(settings)
    sync = await ensure_poll_schedules(client, settings, await PollLocationRepository(pool).list())
    parts = [
        f"{label} {', '.join(ids)}"
        for label, ids in (
            ("schedule created:", sync.created),
            ("schedule updated:", sync.updated),
            ("schedule removed:", sync.removed),
            ("blocked (no public API; import its CSV):", sync.blocked),
        )
        if ids
    ]
    return "; ".join(parts) or "schedules unchanged"


def _settle(item_id: str, request: ResolveReview) -> None:
    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            client = await temporal(settings)
            settled = await ReviewService(client=client, queue=ReviewQueue(pool)).settle(
                item_id, request
            )
        typer.echo(f"{settled.item_id}: {settled.status} — {settled.detail}")

    run(action)
