"""`punchcard locations`: the spa group's locations, their zones and platform ids.

(`punchcard poll …` lists the platform locations *polled* for appointments; the two meet
in a location's `--zenoti` center id.)
"""

from __future__ import annotations

from typing import Annotated

import asyncpg
import typer

from activities.repository import LocationRecord
from starter.cli.render import table
from starter.cli.runtime import database, run
from starter.locations import LocationChanges, LocationService
from workers.settings import Settings

locations_app = typer.Typer(
    help="The spa's locations: time zone (reminders go out at its local hour) and the ids "
    "booking platforms give it.",
    no_args_is_help=True,
)

Boulevard = Annotated[
    str | None, typer.Option("--boulevard", help="Boulevard locationId (URN or UUID).")
]
MindbodySite = Annotated[str | None, typer.Option("--mindbody-site", help="Mindbody SiteId.")]
MindbodyLocation = Annotated[
    str | None, typer.Option("--mindbody-location", help="Mindbody LocationId within the site.")
]
Zenoti = Annotated[str | None, typer.Option("--zenoti", help="Zenoti center id.")]
Jane = Annotated[str | None, typer.Option("--jane", help="Jane location id.")]


def _service(settings: Settings, pool: asyncpg.Pool) -> LocationService:
    return LocationService(pool, spa_name=settings.spa_name, spa_timezone=settings.spa_timezone)


def _ids(loc: LocationRecord) -> str:
    parts = [
        f"boulevard {loc.boulevard_location_id}" if loc.boulevard_location_id else "",
        (
            f"mindbody {loc.mindbody_site_id or '*'}/{loc.mindbody_location_id}"
            if loc.mindbody_location_id
            else ""
        ),
        f"zenoti {loc.zenoti_center_id}" if loc.zenoti_center_id else "",
        f"jane {loc.jane_location_id}" if loc.jane_location_id else "",
    ]
    return ", ".join(p for p in parts if p) or "-"


def _line(loc: LocationRecord) -> str:
    default = " (default)" if loc.is_default else ""
    return f"location {loc.location_id}{default}: {loc.name} · {loc.timezone} · {_ids(loc)}"


@locations_app.command("list")
def locations_list() -> None:
    """Every location, the default first (one implied by the settings if none is set up)."""

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            service = _service(settings, pool)
            stored = await service.locations.list()
        rows = stored or [service.implied()]
        typer.echo(
            table(
                ["location", "name", "time zone", "default", "platform ids"],
                [
                    [
                        loc.location_id,
                        loc.name,
                        loc.timezone,
                        "yes" if loc.is_default else "",
                        _ids(loc),
                    ]
                    for loc in rows
                ],
            )
        )
        if not stored:
            typer.echo(
                "(implied by PUNCHCARD_SPA_NAME and PUNCHCARD_SPA_TIMEZONE: "
                "punchcard locations add ID --name N --timezone TZ to set up several)"
            )

    run(action)


@locations_app.command("add")
def locations_add(
    location_id: Annotated[str, typer.Argument(metavar="ID", help="A short id, e.g. soho.")],
    name: Annotated[str, typer.Option(help="As staff and reports show it.")],
    timezone: Annotated[str, typer.Option(help="IANA zone, e.g. America/Los_Angeles.")],
    default: Annotated[
        bool, typer.Option("--default", help="Sales naming no location belong here.")
    ] = False,
    boulevard: Boulevard = None,
    mindbody_site: MindbodySite = None,
    mindbody_location: MindbodyLocation = None,
    zenoti: Zenoti = None,
    jane: Jane = None,
) -> None:
    """Add a location (the first becomes the default); the same one again changes nothing."""

    async def action(settings: Settings) -> None:
        record = LocationRecord(
            location_id=location_id,
            name=name,
            timezone=timezone,
            is_default=default,
            boulevard_location_id=boulevard,
            mindbody_site_id=mindbody_site,
            mindbody_location_id=mindbody_location,
            zenoti_center_id=zenoti,
            jane_location_id=jane,
        )
        async with database(settings) as pool:
            saved = await _service(settings, pool).create(record)
        note = "" if saved.created else " (already there: nothing changed)"
        typer.echo(_line(saved.record) + note)

    run(action)


@locations_app.command("update")
def locations_update(
    location_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="New zone (packages sold from now on).")
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Make it the default location.")
    ] = False,
    boulevard: Boulevard = None,
    mindbody_site: MindbodySite = None,
    mindbody_location: MindbodyLocation = None,
    zenoti: Zenoti = None,
    jane: Jane = None,
) -> None:
    """Change what is given (an empty id, e.g. --jane "", clears it)."""
    given = {
        "name": name,
        "timezone": timezone,
        "is_default": True if default else None,
        "boulevard_location_id": boulevard,
        "mindbody_site_id": mindbody_site,
        "mindbody_location_id": mindbody_location,
        "zenoti_center_id": zenoti,
        "jane_location_id": jane,
    }
    changes = LocationChanges(**{k: v for k, v in given.items() if v is not None})

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            updated = await _service(settings, pool).update(location_id, changes)
        typer.echo(_line(updated))

    run(action)


def register(app: typer.Typer) -> None:
    app.add_typer(locations_app, name="locations", rich_help_panel="Clients and catalogue")
