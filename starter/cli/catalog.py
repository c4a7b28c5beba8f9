"""Clients, package types and providers: the records packages are sold against."""

from __future__ import annotations

from typing import Annotated

import typer

from activities.providers import ProviderRepository
from activities.repository import (
    ClientRecord,
    ClientRepository,
    PackageTypeRecord,
)
from activities.repository.client_pages import ClientPageLinks, ClientPageReader
from starter.cli.render import parse_dollars, table
from starter.cli.runtime import CliError, database, run
from starter.clients import ClientService
from starter.package_types import PackageTypeService
from workers.settings import Settings
from workers.worker import build_client_pages
from workflows import texts
from workflows.models import PackageKind

client_app = typer.Typer(help="Add clients and record their SMS opt-out.", no_args_is_help=True)
type_app = typer.Typer(help="Add or change package types.", no_args_is_help=True)


def _policies(t: PackageTypeRecord) -> str:
    notes = []
    if t.no_show_forfeits:
        notes.append("no-show forfeits")
    if t.late_cancel_forfeits:
        notes.append("late cancel forfeits")
    if t.vip_rollover_max:
        notes.append(f"VIP rollover ≤{t.vip_rollover_max}")
    if t.min_interval_days:
        notes.append(f"≥{t.min_interval_days}d apart")
    if not t.enforce_zero_balance:
        notes.append("zero balance not enforced")
    if t.expiry_starts == "first_visit":
        notes.append(f"expiry from first visit (unused ≤{t.max_unused_months} mo)")
    return ", ".join(notes)


@client_app.command("add")
def client_add(
    client_id: Annotated[str, typer.Option("--id", help="Client id (the CRM's, ideally).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    phone: Annotated[str | None, typer.Option(help="Mobile in E.164, e.g. +15555550123.")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    location: Annotated[
        str | None,
        typer.Option(
            help="Home location (`punchcard locations`): sales to the client belong there "
            "unless one names another."
        ),
    ] = None,
) -> None:
    """Add a client, or update their name, contact details and home location."""

    async def action(settings: Settings) -> None:
        record = ClientRecord(
            client_id=client_id, name=name, phone=phone, email=email, home_location_id=location
        )
        async with database(settings) as pool:
            stored = (await ClientService(pool).save(record)).record
        typer.echo(
            f"client {stored.client_id}: {stored.name} · {stored.phone or 'no phone'} · {stored.email or 'no email'}"
        )

    run(action)


def _set_opt_out(client_id: str, opted_out: bool) -> None:
    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            await ClientService(pool).set_sms_opt_out(client_id, opted_out)
        typer.echo(f"client {client_id}: SMS {'off (opted out)' if opted_out else 'on'}")

    run(action)


@client_app.command("opt-out")
def client_opt_out(client_id: str) -> None:
    """Stop SMS to the client (what an inbound STOP does)."""
    _set_opt_out(client_id, True)


@client_app.command("opt-in")
def client_opt_in(client_id: str) -> None:
    """Resume SMS to the client (only with their consent)."""
    _set_opt_out(client_id, False)


@client_app.command("revoke-page")
def client_revoke_page(client_id: str) -> None:
    """Withdraw the links to the client's own page (/me/…); the next message has a new one."""

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            if await ClientPageReader(pool).first_name(client_id) is None:
                raise CliError(f"no client {client_id!r}")
            links = ClientPageLinks(pool, public_url=settings.api_public_url or "")
            revoked = await links.revoke(client_id)
        typer.echo(f"{client_id}: {revoked} page link(s) revoked")

    run(action)


@client_app.command("page-link")
def client_page_link(client_id: str) -> None:
    """Print the link to the client's own page (the live one, else a new one)."""

    async def action(settings: Settings) -> None:
        async with database(settings) as pool:
            links = build_client_pages(settings, pool)
            if links is None:
                raise CliError("client pages are off: set PUNCHCARD_API_PUBLIC_URL")
            if await ClientPageReader(pool).first_name(client_id) is None:
                raise CliError(f"no client {client_id!r}")
            typer.echo(await links.link_for(client_id))

    run(action)


@type_app.command("add")
def type_add(
    code: Annotated[str, typer.Argument(help="Type code, e.g. laser6.")],
    name: Annotated[str, typer.Option(help="What the client sees, e.g. 'Laser Hair Removal (6)'.")],
    price: Annotated[str, typer.Option(help="Price in dollars.")],
    kind: Annotated[
        PackageKind, typer.Option(help="Sessions or dollar credit.")
    ] = PackageKind.SESSIONS,
    units: Annotated[int | None, typer.Option(min=1, help="Sessions (session packages).")] = None,
    credit: Annotated[str | None, typer.Option(help="Dollars of credit (dollar packages).")] = None,
    expiry_months: Annotated[
        int | None, typer.Option(min=1, help="Default: PUNCHCARD_DEFAULT_EXPIRY_MONTHS.")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="Service category covered (repeat).")
    ] = None,
    no_show_forfeits: Annotated[bool, typer.Option(help="A no-show consumes a session.")] = False,
    late_cancel_forfeits: Annotated[
        bool, typer.Option(help="A late cancel consumes a session.")
    ] = False,
    vip_rollover: Annotated[
        int, typer.Option(min=0, help="Up to this many left at expiry go to staff review.")
    ] = 0,
    min_interval_days: Annotated[
        int | None, typer.Option(min=1, help="Days between treatments (pace alert).")
    ] = None,
    enforce: Annotated[bool, typer.Option(help="Refuse redemptions at zero balance.")] = True,
    max_freeze_days: Annotated[
        int, typer.Option(min=0, help="Longest freeze a manager may grant (0: none).")
    ] = 90,
    first_visit: Annotated[
        bool, typer.Option(help="The expiry clock starts at the first completed visit.")
    ] = False,
    max_unused_months: Annotated[
        int, typer.Option(min=1, help="With --first-visit: a package never used expires then.")
    ] = 24,
) -> None:
    """Add or replace a package type; packages already sold keep their terms."""

    async def action(settings: Settings) -> None:
        if kind is PackageKind.DOLLARS:
            if credit is None or units is not None:
                raise CliError("a dollar package takes --credit DOLLARS, not --units")
            amount = parse_dollars(credit, "--credit")
        else:
            if units is None or credit is not None:
                raise CliError("a session package takes --units N, not --credit")
            amount = units
        record = PackageTypeRecord(
            type_code=code,
            name=name,
            kind=kind,
            units=amount,
            price_cents=parse_dollars(price, "--price"),
            expiry_months=expiry_months,
            categories=category or [],
            no_show_forfeits=no_show_forfeits,
            late_cancel_forfeits=late_cancel_forfeits,
            vip_rollover_max=vip_rollover,
            min_interval_days=min_interval_days,
            enforce_zero_balance=enforce,
            max_freeze_days=max_freeze_days,
            expiry_starts="first_visit" if first_visit else "purchase",
            max_unused_months=max_unused_months,
        )
        async with database(settings) as pool:
            await PackageTypeService(pool).save(record)
        typer.echo(
            f"package type {code}: {name} · {texts.amount(kind, amount)} for {texts.money(record.price_cents)}"
        )

    run(action)


def register(app: typer.Typer) -> None:
    app.add_typer(client_app, name="client", rich_help_panel="Clients and catalogue")
    app.add_typer(type_app, name="type", rich_help_panel="Clients and catalogue")

    @app.command(rich_help_panel="Clients and catalogue")
    def clients(
        search: Annotated[str | None, typer.Argument(help="Part of a name, or a phone.")] = None,
        limit: Annotated[int, typer.Option(min=1)] = 100,
    ) -> None:
        """List clients, or find them by name or phone."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                repo = ClientRepository(pool)
                rows = await (repo.find(search, limit=limit) if search else repo.list(limit))
            if not rows:
                typer.echo("no clients found")
                return
            typer.echo(
                table(
                    ["id", "name", "phone", "email", "sms"],
                    [
                        [
                            c.client_id,
                            c.name,
                            c.phone or "",
                            c.email or "",
                            "opted out" if c.sms_opt_out else "on",
                        ]
                        for c in rows
                    ],
                )
            )

        run(action)

    @app.command(rich_help_panel="Clients and catalogue")
    def types() -> None:
        """The package types on sale."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                rows = await PackageTypeService(pool).list()
            if not rows:
                typer.echo("no package types yet: add one with `punchcard type add`")
                return
            typer.echo(
                table(
                    [
                        "code",
                        "name",
                        "amount",
                        "price",
                        "per session",
                        "expiry",
                        "categories",
                        "policies",
                    ],
                    [
                        [
                            t.type_code,
                            t.name,
                            texts.amount(t.kind, t.units),
                            texts.money(t.price_cents),
                            texts.money(t.price_cents // t.units)
                            if t.kind is PackageKind.SESSIONS
                            else "",
                            f"{t.expiry_months or settings.default_expiry_months} months",
                            ",".join(t.categories),
                            _policies(t),
                        ]
                        for t in rows
                    ],
                )
            )

        run(action)

    @app.command(rich_help_panel="Clients and catalogue")
    def providers() -> None:
        """The spa's providers."""

        async def action(settings: Settings) -> None:
            async with database(settings) as pool:
                rows = await ProviderRepository(pool).list()
            typer.echo(
                table(["id", "name", "role"], [[p.provider_id, p.name, p.role or ""] for p in rows])
                if rows
                else "no providers"
            )

        run(action)
