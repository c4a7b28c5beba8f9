"""Staff endpoints: clients, packages and their actions, sales, the review queue, the catalog."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from activities.providers import ProviderRepository
from activities.repository import BalanceRow, ClientLink, Role, ServiceMapping
from starter.api.deps import Deps, Manager, Staff
from starter.api.desk_view import desk_package, history_line
from starter.api.schemas import (
    AddUnitsBody,
    AssignBody,
    AttendanceBody,
    BookBody,
    CancelBody,
    CatalogBody,
    ClientDetail,
    ClientOut,
    CompleteBody,
    CorrectExpiryBody,
    DeskPackage,
    DismissBody,
    ErrorBody,
    ExtendBody,
    ForfeitBody,
    FreezeBody,
    HistoryLine,
    LinkBody,
    LinkOut,
    Me,
    ProviderOut,
    RenewalLinkOut,
    ResolveOut,
    ReverseBody,
    SaleBody,
    SaleOut,
    SharedHolder,
    UnfreezeBody,
)
from starter.api.setup_schemas import ReviewItemOut
from starter.desk_visits import complete_at_desk, desk_completion, desk_visit
from starter.history_days import service_dates
from starter.packages import Invalid, Refused, SaleRequest, freeze_until
from starter.review import ReviewService
from starter.sale_dates import sale_dates
from workflows import schedule
from workflows.contracts import RenewalCheckoutInput
from workflows.models import (
    AddUnitsRequest,
    AppointmentNotice,
    AttendanceRequest,
    CancelRequest,
    CorrectExpiryRequest,
    ExtendRequest,
    ForfeitRequest,
    FreezeRequest,
    PackageAnswer,
    PackageMessage,
    PackageStatus,
    RedeemRequest,
    ReverseRequest,
    UnfreezeRequest,
)
from workflows.visit_models import ResolveReview

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "missing or unknown staff token"},
    403: {"model": ErrorBody, "description": "the role may not do this"},
    404: {"model": ErrorBody, "description": "no such client, package or item"},
    409: {"model": ErrorBody, "description": "refused by the package's rules"},
}

router = APIRouter(prefix="/api", responses=ERRORS)


@router.get("/me", tags=["staff"])
async def me(member: Staff) -> Me:
    return Me(staff_id=member.staff_id, name=member.name, role=member.role.value)


# --- clients ------------------------------------------------------------------------------


@router.get("/clients", tags=["clients"])
async def find_clients(
    deps: Deps, member: Staff, q: Annotated[str, Query(max_length=200)] = ""
) -> list[ClientOut]:
    """Front-desk search: part of a name, or a phone typed in any format."""
    found = await deps.service.clients.find(q) if q.strip() else await deps.service.clients.list(50)
    return [ClientOut(**c.model_dump()) for c in found]


@router.get("/clients/{client_id}", tags=["clients"])
async def client_detail(client_id: str, deps: Deps, member: Staff) -> ClientDetail:
    """A client with every package: active ones first, closed ones after."""
    client = await deps.service.clients.get(client_id)
    if client is None:
        raise HTTPException(404, f"no client {client_id!r}")
    rows = await deps.service.ledger.balances_for_client(client_id)
    now = datetime.now(UTC)
    zones = await deps.locations.zones()
    packages = [
        desk_package(
            r,
            now=now,
            timezone=zones.get(r.location_id, zones[None]),
            shared_with=await _shared(deps, r),
        )
        for r in rows
    ]
    packages.sort(key=lambda p: (p.status != "active", p.expires_at or now + timedelta(days=9999)))
    links = await deps.links.for_client(client_id)
    return ClientDetail(
        client=ClientOut(**client.model_dump()),
        packages=packages,
        links=[LinkOut(platform=link.platform, external_id=link.external_id) for link in links],
    )


@router.put("/clients/{client_id}/links", tags=["clients"], status_code=200)
async def link_client(client_id: str, body: LinkBody, deps: Deps, member: Staff) -> LinkOut:
    """Tie a booking-platform client id (Boulevard URN, Mindbody id…) to this client; an id
    linked to another client moves to this one."""
    await deps.clients.link(
        ClientLink(platform=body.platform, external_id=body.external_id, client_id=client_id)
    )
    return LinkOut(platform=body.platform, external_id=body.external_id)


# --- packages -----------------------------------------------------------------------------


@router.get("/packages/{package_id}", tags=["packages"])
async def package(package_id: str, deps: Deps, member: Staff) -> DeskPackage:
    row = await deps.service.ledger.balance(package_id)
    if row is None:
        raise HTTPException(404, f"no package {package_id!r}")
    zones = await deps.locations.zones()
    return desk_package(
        row,
        now=datetime.now(UTC),
        timezone=zones.get(row.location_id, zones[None]),
        shared_with=await _shared(deps, row),
    )


@router.get("/packages/{package_id}/history", tags=["packages"])
async def package_history(package_id: str, deps: Deps, member: Staff) -> list[HistoryLine]:
    """The package's ledger, oldest first (the permanent record in Postgres).

    A visit's line is dated by the appointment's date of service, which the package
    workflow keeps (its `state` query); other lines, or when the workflow cannot say, by
    the day they were recorded. Both in the package's time zone (its location's).
    """
    balance = await deps.service.ledger.balance(package_id)
    if balance is None:
        raise HTTPException(404, f"no package {package_id!r}")
    rows = await deps.service.ledger.entries(package_id)
    dates = await service_dates(deps.service, package_id) if rows else {}
    tz = await deps.locations.zone_of(balance.location_id)
    return [history_line(r, dates=dates, timezone=tz) for r in rows]


@router.post(
    "/packages/{package_id}/renewal-link",
    tags=["packages"],
    responses={
        409: {
            "model": ErrorBody,
            "description": "the package is not active, or no payment page is set up",
        },
        502: {"model": ErrorBody, "description": "Stripe did not make the checkout"},
    },
)
async def renewal_link(package_id: str, deps: Deps, member: Staff) -> RenewalLinkOut:
    """A renewal checkout the client pays on their phone at the desk.

    The same package type at its catalogue price, through Stripe Checkout (the spa's
    renewal page, `PUNCHCARD_RENEWAL_URL`, when Stripe is not configured). The offer key
    is the package and the spa's day, so asking again that day gives the same session;
    Stripe's payment then starts the new package like any renewal. With neither Stripe nor
    a renewal page set up (the placeholder under `.invalid`), 409 says so: a link that can
    never open must not be handed to a client.
    """
    row = await deps.service.ledger.balance(package_id)
    if row is None:
        raise HTTPException(404, f"no package {package_id!r}")
    if row.status is not PackageStatus.ACTIVE:
        raise HTTPException(
            409,
            f"package {package_id} is {row.status.value.replace('_', ' ')}: a renewal link is "
            "made for an active package; sell a new package instead",
        )
    package_type = await deps.service.types.get(row.type_code)
    if package_type is None:
        raise HTTPException(
            409, f"package type {row.type_code!r} of {package_id} is not in the catalogue"
        )
    offer_key = f"desk-renewal:{package_id}:{_today(deps).isoformat()}"
    try:
        result = await deps.payments.create_renewal_checkout(
            RenewalCheckoutInput(
                offer_key=offer_key,
                package_id=package_id,
                client_id=row.client_id,
                type_code=package_type.type_code,
                name=package_type.name,
                price_cents=package_type.price_cents,
            )
        )
    except ApplicationError as err:
        raise HTTPException(502, f"Stripe did not make the checkout: {err.message}") from None
    if result.status == "not_configured" and _placeholder(result.url):
        raise HTTPException(
            409,
            "no payment page is set up for renewal links (ask a manager: Stripe or "
            "PUNCHCARD_RENEWAL_URL): sell the package at the desk instead",
        )
    return RenewalLinkOut(
        package_id=package_id,
        client_id=row.client_id,
        type_code=package_type.type_code,
        name=package_type.name,
        price_cents=package_type.price_cents,
        url=result.url,
        status=result.status,
        session_id=result.session_id,
        offer_key=offer_key,
    )


@router.post("/packages/{package_id}/complete", tags=["packages"])
async def complete(package_id: str, body: CompleteBody, deps: Deps, member: Staff) -> PackageAnswer:
    """Record a completed visit at the desk: takes one session (or the amount).

    A platform's appointment (`mindbody:104233`, as the ledger shows it, or `platform`)
    goes through its visit workflow like every other source, so the platform's own
    completion of it (before or after) takes nothing more. Without an appointment id the
    desk's completion is a visit of its own (see starter.desk_visits).
    """
    ref = body.request_id or body.appointment_id or uuid.uuid4().hex
    visit = desk_visit(body.appointment_id, ref, platform=body.platform)
    service_date = (
        body.service_date or datetime.now(ZoneInfo(await _package_zone(deps, package_id))).date()
    )
    if visit is None:  # a bare desk reference: no other source can report it
        return await _send(
            deps,
            package_id,
            RedeemRequest(
                key=f"desk-complete:{ref}",
                actor=member.staff_id,
                source="desk",
                appointment_id=body.appointment_id or ref,
                amount_cents=body.amount_cents,
                provider_id=body.provider_id,
                service_date=service_date,
                allow_same_day=body.allow_same_day,
            ),
        )
    platform, appointment = visit
    try:
        event = desk_completion(
            ref=ref,
            platform=platform,
            appointment_id=appointment,
            actor=member.staff_id,
            service_date=service_date,
            amount_cents=body.amount_cents,
            provider_id=body.provider_id,
        )
    except ValidationError as err:
        first = err.errors()[0]
        raise HTTPException(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return await complete_at_desk(
        deps.gateway, deps.service, event, package_id, allow_same_day=body.allow_same_day
    )


@router.post("/packages/{package_id}/no-show", tags=["packages"])
async def no_show(
    package_id: str, body: AttendanceBody, deps: Deps, member: Staff
) -> PackageAnswer:
    """Record a no-show or late cancel: never takes a session unless the type forfeits."""
    ref = body.request_id or body.appointment_id or uuid.uuid4().hex
    return await _send(
        deps,
        package_id,
        AttendanceRequest(
            key=f"desk-{body.outcome}:{ref}",
            actor=member.staff_id,
            source="desk",
            appointment_id=body.appointment_id or f"desk:{ref}",
            outcome=body.outcome,
        ),
    )


@router.post("/packages/{package_id}/reverse", tags=["packages"])
async def reverse(package_id: str, body: ReverseBody, deps: Deps, member: Staff) -> PackageAnswer:
    """Give back a session taken in error (with the reason)."""
    return await _send(
        deps,
        package_id,
        ReverseRequest(
            key=f"desk-reverse:{body.appointment_id}",
            actor=member.staff_id,
            source="desk",
            appointment_id=body.appointment_id,
            reason=body.reason,
        ),
    )


@router.post("/packages/{package_id}/add-units", tags=["packages"])
async def add_units(
    package_id: str, body: AddUnitsBody, deps: Deps, member: Manager
) -> PackageAnswer:
    """Upgrade / top-up (manager): adds to what remains."""
    return await _send(
        deps,
        package_id,
        AddUnitsRequest(
            key=f"desk-add:{body.request_id or uuid.uuid4().hex}",
            actor=member.staff_id,
            source="desk",
            units=body.units,
            paid_cents=body.paid_cents,
            reason=body.reason,
        ),
    )


@router.post("/packages/{package_id}/extend", tags=["packages"])
async def extend(package_id: str, body: ExtendBody, deps: Deps, member: Manager) -> PackageAnswer:
    """Grace (manager): the package stays good through `new_expires_on`, a later day than
    now. It only lengthens: an earlier day is 409 `BadExpiry` (fix a wrong date with
    `correct-expiry`)."""
    ends = schedule.ends_after(body.new_expires_on, await _package_zone(deps, package_id))
    return await _send(
        deps,
        package_id,
        ExtendRequest(
            key=f"desk-extend:{package_id}:{body.new_expires_on}",
            actor=member.staff_id,
            source="desk",
            new_expires_at=ends,
            reason=body.reason,
        ),
    )


@router.post("/packages/{package_id}/correct-expiry", tags=["packages"])
async def correct_expiry(
    package_id: str, body: CorrectExpiryBody, deps: Deps, member: Manager
) -> PackageAnswer:
    """Correct a wrong expiry (manager): earlier or later, with a reason; recorded as an
    `expiry_correction`, apart from extensions. Pending reminders and the expiry follow the
    new day; reminders already due for it are skipped. A day already past is 409
    `BadExpiry`: a correction never expires a package (cancel or forfeit do that)."""
    ends = schedule.ends_after(body.new_expires_on, await _package_zone(deps, package_id))
    return await _send(
        deps,
        package_id,
        CorrectExpiryRequest(
            key=f"desk-correct-expiry:{package_id}:{body.new_expires_on}",
            actor=member.staff_id,
            source="desk",
            new_expires_at=ends,
            reason=body.reason,
        ),
    )


@router.post("/packages/{package_id}/freeze", tags=["packages"])
async def freeze(package_id: str, body: FreezeBody, deps: Deps, member: Manager) -> PackageAnswer:
    """Freeze (manager): `days` from today or through `until`, with a reason. Redemptions
    and check-ins are refused until then (409 `PackageFrozen`), reminders are held, and the
    expiry moves by the span at once (every pending reminder with it); the freeze ends by
    itself after its last day. Longer than the type allows: 422 naming the maximum."""
    zone = await _package_zone(deps, package_id)
    until = freeze_until(
        days=body.days, until=body.until, today=datetime.now(ZoneInfo(zone)).date()
    )
    try:
        return await _send(
            deps,
            package_id,
            FreezeRequest(
                key=f"desk-freeze:{package_id}:{datetime.now(UTC).date()}:{until}",
                actor=member.staff_id,
                source="desk",
                until=until,
                reason=body.reason,
            ),
        )
    except Refused as err:
        if err.rule in ("FreezeTooLong", "FreezeNotAllowed", "BadFreeze"):
            raise Invalid("days" if body.days is not None else "until", str(err)) from err
        raise


@router.post("/packages/{package_id}/unfreeze", tags=["packages"])
async def unfreeze(
    package_id: str, body: UnfreezeBody, deps: Deps, member: Manager
) -> PackageAnswer:
    """End a freeze early (manager): the days not used come back off the expiry. 409
    `NotFrozen` when it is not frozen."""
    through = (await deps.service.state(package_id)).snapshot.frozen_through
    return await _send(
        deps,
        package_id,
        UnfreezeRequest(
            key=f"desk-unfreeze:{package_id}:{through}",
            actor=member.staff_id,
            source="desk",
            reason=body.reason,
        ),
    )


@router.post("/packages/{package_id}/cancel", tags=["packages"])
async def cancel(package_id: str, body: CancelBody, deps: Deps, member: Manager) -> PackageAnswer:
    """Cancel (manager): the answer carries the pro-rata refund due."""
    return await _send(
        deps,
        package_id,
        CancelRequest(
            key=f"desk-cancel:{package_id}",
            actor=member.staff_id,
            source="desk",
            reason=body.reason,
            issue_refund=body.issue_refund,
        ),
    )


@router.post("/packages/{package_id}/forfeit", tags=["packages"])
async def forfeit(package_id: str, body: ForfeitBody, deps: Deps, member: Manager) -> PackageAnswer:
    """Close a package in expiry review (manager): what remains is forfeited as breakage."""
    return await _send(
        deps,
        package_id,
        ForfeitRequest(
            key=f"desk-forfeit:{package_id}",
            actor=member.staff_id,
            source="desk",
            reason=body.reason,
        ),
    )


@router.post("/packages/{package_id}/book", tags=["packages"])
async def book(package_id: str, body: BookBody, deps: Deps, member: Staff) -> PackageAnswer:
    """Record a booking change (never consumes; a booking at zero alerts staff)."""
    when = f"@{body.scheduled_at.isoformat()}" if body.scheduled_at else ""
    key = body.request_id or f"{body.change}:{body.appointment_id}{when}"
    return await _send(
        deps,
        package_id,
        AppointmentNotice(
            key=f"desk-{key}",
            actor=member.staff_id,
            source="desk",
            appointment_id=body.appointment_id,
            change=body.change,
            scheduled_at=body.scheduled_at,
            provider_id=body.provider_id,
            rebooked_from=body.rebooked_from,
        ),
    )


@router.post("/sales", tags=["packages"], status_code=201)
async def sell(body: SaleBody, deps: Deps, member: Staff) -> SaleOut:
    """Sell a package type to a client (and the attendees of a shared purchase), today or,
    for a manager, on a day in the past; with its own last good day if given."""
    location = await deps.service.sale_location(body.location_id, client_id=body.client_id)
    dates = sale_dates(
        purchased_on=body.purchased_on,
        expires_on=body.expires_on,
        timezone=deps.settings.spa_timezone if location is None else location.timezone,
        now=datetime.now(UTC),
    )
    if dates.backdated and member.role is not Role.MANAGER:
        raise HTTPException(
            403,
            f"only a manager may sell with a purchase date in the past "
            f"({member.staff_id} is front desk)",
        )
    result = await deps.service.sell(
        SaleRequest(
            client_id=body.client_id,
            type_code=body.type_code,
            shared_with=body.shared_with,
            purchase_id=body.purchase_id,
            payment_intent_id=body.payment_intent_id,
            sold_by=member.staff_id,
            purchased_at=dates.purchased_at,
            expires_at=dates.expires_at,
            location_id=None if location is None else location.location_id,
        )
    )
    return SaleOut(**result.model_dump())


# --- review queue -------------------------------------------------------------------------


@router.get("/review", tags=["review"])
async def review_items(
    deps: Deps,
    member: Staff,
    status: Literal["open", "assigned", "dismissed", "done", "all"] = "open",
) -> list[ReviewItemOut]:
    """Items waiting for staff (or settled, by `status`), oldest first."""
    items = await deps.review.list(None if status == "all" else status)
    return [ReviewItemOut(**item.model_dump()) for item in items]


@router.post("/review/{item_id}/assign", tags=["review"])
async def assign(item_id: str, body: AssignBody, deps: Deps, member: Manager) -> ResolveOut:
    """Give a waiting visit to a package (manager): the package redeems it now."""
    return await _resolve(
        deps,
        item_id,
        ResolveReview(
            action="assign",
            package_id=body.package_id,
            amount_cents=body.amount_cents,
            allow_same_day=body.allow_same_day,
            actor=member.staff_id,
        ),
    )


@router.post("/review/{item_id}/dismiss", tags=["review"])
async def dismiss(item_id: str, body: DismissBody, deps: Deps, member: Manager) -> ResolveOut:
    """Close a review item without redeeming (manager), with the reason."""
    return await _resolve(
        deps, item_id, ResolveReview(action="dismiss", reason=body.reason, actor=member.staff_id)
    )


# --- catalog ------------------------------------------------------------------------------


@router.get("/providers", tags=["catalog"])
async def providers(deps: Deps, member: Staff) -> list[ProviderOut]:
    """The spa's providers (a visit's `provider_id`)."""
    return [ProviderOut(**p.model_dump()) for p in await ProviderRepository(deps.pool).list()]


@router.get("/catalog/services", tags=["catalog"])
async def catalog(deps: Deps, member: Staff) -> list[ServiceMapping]:
    return await deps.catalog.list()


@router.put("/catalog/services", tags=["catalog"])
async def map_service(body: CatalogBody, deps: Deps, member: Staff) -> ServiceMapping:
    """Map a platform's service (id or name) to a category package types cover."""
    return await deps.catalog.upsert(
        ServiceMapping(
            platform=body.platform,
            service_key=body.service_key,
            category=body.category,
            label=body.label,
            updated_by=member.staff_id,
        )
    )


@router.delete("/catalog/services/{platform}/{service_key}", tags=["catalog"], status_code=204)
async def unmap_service(platform: str, service_key: str, deps: Deps, member: Staff) -> None:
    if not await deps.catalog.remove(platform, service_key):
        raise HTTPException(404, f"no mapping for {platform} service {service_key!r}")


# --- helpers ------------------------------------------------------------------------------


async def _shared(deps: Deps, row: BalanceRow) -> list[SharedHolder]:
    """The other attendees of the purchase a shared package is a share of."""
    if not row.parent_purchase_id:
        return []
    holders = await deps.service.ledger.shared_holders(row.parent_purchase_id)
    return [
        SharedHolder(client_id=client_id, name=name)
        for package_id, client_id, name in holders
        if package_id != row.package_id and client_id != row.client_id
    ]


def _placeholder(url: str) -> bool:
    """The shipped default renewal page: `.invalid` never resolves (RFC 2606)."""
    host = urlsplit(url).hostname or ""
    return host == "invalid" or host.endswith(".invalid")


async def _package_zone(deps: Deps, package_id: str) -> str:
    """The zone a package counts its days in: its location's (the spa's without one)."""
    row = await deps.service.ledger.balance(package_id)
    return await deps.locations.zone_of(None if row is None else row.location_id)


def _today(deps: Deps) -> date:
    return datetime.now(ZoneInfo(deps.settings.spa_timezone)).date()


async def _send(deps: Deps, package_id: str, message: PackageMessage) -> PackageAnswer:
    """Errors become 404 / 409 / 400 in the app's PunchcardError handler."""
    return await deps.service.send(package_id, message)


async def _resolve(deps: Deps, item_id: str, request: ResolveReview) -> ResolveOut:
    settled = await ReviewService(client=deps.client, queue=deps.review).settle(item_id, request)
    return ResolveOut(**settled.model_dump())
