"""Staff actions on packages from outside Temporal: sell, send messages, read state.

The CLI (and later the HTTP API) call this; it parses nothing and prints nothing. Errors
come out as `PunchcardError` subclasses whose message is one line a person can act on.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import asyncpg
from pydantic import Field
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.repository import (
    ClientLinkRepository,
    ClientRepository,
    LedgerReader,
    LocationRecord,
    LocationRepository,
    PackageTypeRepository,
    ServiceCatalog,
)
from activities.repository.locations import UnknownLocation
from workers.settings import Settings
from workers.worker import build_sale_policy
from workflows import schedule, visibility
from workflows.ids import package_workflow_id
from workflows.models import (
    AddUnitsRequest,
    AppointmentNotice,
    AttendanceRequest,
    CancelRequest,
    CorrectExpiryRequest,
    Entry,
    ExtendRequest,
    ForfeitRequest,
    FreezeRequest,
    Model,
    NoticePolicy,
    PackageAnswer,
    PackageInput,
    PackageMessage,
    PackageTerms,
    PackageView,
    PaymentRef,
    RedeemRequest,
    ReverseRequest,
    UnfreezeRequest,
)
from workflows.package import PackageWorkflow

# The package workflow's update for each message (from the class: no names as strings).
UPDATES: dict[type[PackageMessage], Any] = {
    RedeemRequest: PackageWorkflow.redeem,
    AppointmentNotice: PackageWorkflow.note_appointment,
    AttendanceRequest: PackageWorkflow.record_attendance,
    ReverseRequest: PackageWorkflow.reverse,
    AddUnitsRequest: PackageWorkflow.add_units,
    ExtendRequest: PackageWorkflow.extend,
    CorrectExpiryRequest: PackageWorkflow.correct_expiry,
    CancelRequest: PackageWorkflow.cancel,
    ForfeitRequest: PackageWorkflow.forfeit,
    FreezeRequest: PackageWorkflow.freeze,
    UnfreezeRequest: PackageWorkflow.unfreeze,
}


class PunchcardError(Exception):
    """Base of every error a staff action can meet; str() is the one line to show."""


class NotFound(PunchcardError):
    pass


class Invalid(PunchcardError):
    """Input the rules refuse before anything starts; `field` names it (a 422 in the API)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Conflict(PunchcardError):
    """A record with that id exists and differs from what was sent; str() names how."""


class Refused(PunchcardError):
    """The package refused the message; `rule` names why (ZeroBalance, PackageExpired…)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"refused ({rule}): {message}")
        self.rule = rule


class SaleRequest(Model):
    client_id: str = Field(min_length=1)
    type_code: str = Field(min_length=1)
    shared_with: list[str] = Field(
        default_factory=list, description="other attendees of a couples/shared purchase"
    )
    purchase_id: str | None = Field(default=None, description="idempotency key of the sale")
    purchased_at: datetime | None = None
    expires_at: datetime | None = None
    sold_by: str = "staff"
    payment_intent_id: str | None = Field(
        default=None, description="the Stripe payment, so a cancel can refund through Stripe"
    )
    notices: NoticePolicy | None = None
    max_messages_per_run: int | None = None
    location_id: str | None = Field(
        default=None,
        description="where it is sold (default: the client's home location, else the "
        "spa's default location)",
    )


class SaleResult(Model):
    purchase_id: str
    package_ids: list[str]
    already_sold: bool = False
    location_id: str | None = None


class PackageService:
    def __init__(self, *, client: Client, pool: asyncpg.Pool, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._sales = build_sale_policy(settings)
        self.clients = ClientRepository(pool)
        self.types = PackageTypeRepository(pool)
        self.ledger = LedgerReader(pool)
        self.links = ClientLinkRepository(pool)
        self.catalog = ServiceCatalog(pool)
        self.locations = LocationRepository(pool)

    def notice_policy(self) -> NoticePolicy:
        return self._sales.notices

    async def sale_location(
        self, location_id: str | None, *, client_id: str | None = None
    ) -> LocationRecord | None:
        """Where a sale belongs: the location named, else the client's home location, else
        the default; None while the spa has configured no location (its packages carry
        none)."""
        if location_id is None and client_id is not None:
            client = await self.clients.get(client_id)
            location_id = None if client is None else client.home_location_id
        try:
            return await self.locations.for_sale(location_id)
        except UnknownLocation as err:
            raise NotFound(str(err)) from None

    async def sell(self, request: SaleRequest) -> SaleResult:
        """Start one package workflow per attendee; selling the same purchase twice is a no-op."""
        attendees = [request.client_id, *request.shared_with]
        if len(set(attendees)) != len(attendees):
            raise PunchcardError("a client appears twice among the attendees of one purchase")
        for client_id in attendees:
            if await self.clients.get(client_id) is None:
                raise NotFound(f"unknown client {client_id!r}: add the client first")
        package_type = await self.types.get(request.type_code)
        if package_type is None:
            raise NotFound(f"unknown package type {request.type_code!r}")
        terms = self._sales.terms(package_type)
        location = await self.sale_location(request.location_id, client_id=request.client_id)
        purchase_id = request.purchase_id or f"pkg_{uuid.uuid4().hex[:12]}"
        purchased_at = request.purchased_at or datetime.now().astimezone()
        notices = request.notices or self.notice_policy()
        if location is not None:  # its reminders at its local hour, its days in its zone
            notices = notices.model_copy(update={"timezone": location.timezone})
        expires_at = request.expires_at or self._sales.expires_at(
            package_type, purchased_at, notices.timezone
        )
        if expires_at <= max(purchased_at, datetime.now(UTC)):
            last_day = schedule.good_through(expires_at, notices.timezone)
            raise Invalid(
                "expires_on",
                f"the package would be good through {last_day.isoformat()}, which is "
                + ("before its purchase" if expires_at <= purchased_at else "past")
                + ": a sale cannot start expired",
            )
        shares = _split_terms(terms, len(attendees))
        package_ids = (
            [purchase_id]
            if len(attendees) == 1
            else [f"{purchase_id}-{n}" for n in range(1, len(attendees) + 1)]
        )
        already = False
        for package_id, client_id, share in zip(package_ids, attendees, shares, strict=True):
            package_input = PackageInput(
                package_id=package_id,
                client_id=client_id,
                terms=share,
                purchased_at=purchased_at,
                expires_at=expires_at,
                parent_purchase_id=purchase_id if len(attendees) > 1 else None,
                shared_with=[c for c in attendees if c != client_id],
                sold_by=request.sold_by,
                payment=(
                    PaymentRef(payment_intent_id=request.payment_intent_id)
                    if request.payment_intent_id
                    else None
                ),
                notices=notices,
                location_id=None if location is None else location.location_id,
                **(
                    {"max_messages_per_run": request.max_messages_per_run}
                    if request.max_messages_per_run
                    else {}
                ),
            )
            try:
                await self._client.start_workflow(
                    PackageWorkflow.run,
                    package_input,
                    id=package_workflow_id(package_id),
                    task_queue=self._settings.task_queue,
                    # Running or closed, a package id is sold once: a repeat is "already sold".
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    # Findable in the Temporal UI from the first event (no upsert at start).
                    search_attributes=visibility.index_at_sale(package_input).at_start(),
                    static_summary=visibility.summary(package_input),
                    static_details=visibility.details(package_input),
                )
            except WorkflowAlreadyStartedError:
                already = True
            except RPCError as err:
                raise PunchcardError(
                    f"could not start package {package_id}: {err.message}"
                ) from None
        return SaleResult(
            purchase_id=purchase_id,
            package_ids=package_ids,
            already_sold=already,
            location_id=None if location is None else location.location_id,
        )

    async def wait_recorded(self, package_id: str, *, timeout: float = 10.0) -> bool:
        """True once the package's balance row is in Postgres (a worker is processing it)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if await self.ledger.balance(package_id) is not None:
                return True
            await asyncio.sleep(0.1)
        return False

    async def send(self, package_id: str, message: PackageMessage) -> PackageAnswer:
        """Deliver one message and wait for the package's answer (accepted or refused)."""
        handle = self._handle(package_id)
        try:
            answer = await handle.execute_update(UPDATES[type(message)], message, id=message.key)
            return cast(PackageAnswer, answer)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                raise Refused(cause.type or "Refused", cause.message) from None
            raise PunchcardError(f"package {package_id}: {cause or err}") from None
        except RPCError as err:
            # A closed package takes no updates, but a duplicate still gets its first answer.
            if (first := await self.first_answer(package_id, message.key)) is not None:
                return first
            raise await self._rpc_error(package_id, err) from None

    async def first_answer(self, package_id: str, key: str) -> PackageAnswer | None:
        """The answer the package gave to `key`, read from its (possibly closed) workflow."""
        try:
            return await self._handle(package_id).query(PackageWorkflow.answer, key)
        except (RPCError, WorkflowQueryFailedError):
            return None

    async def state(self, package_id: str) -> PackageView:
        try:
            return await self._handle(package_id).query(PackageWorkflow.state)
        except RPCError as err:
            raise await self._rpc_error(package_id, err) from None

    async def history(self, package_id: str) -> list[Entry]:
        try:
            return await self._handle(package_id).query(PackageWorkflow.history)
        except RPCError as err:
            raise await self._rpc_error(package_id, err) from None

    def _handle(self, package_id: str) -> WorkflowHandle[PackageWorkflow, object]:
        return self._client.get_workflow_handle_for(
            PackageWorkflow.run, package_workflow_id(package_id)
        )

    async def _rpc_error(self, package_id: str, err: RPCError) -> PunchcardError:
        balance = await self.ledger.balance(package_id)
        if err.status is RPCStatusCode.NOT_FOUND and balance is None:
            return NotFound(f"no package {package_id!r}")
        if balance is not None and balance.status in ("expired", "cancelled"):
            return Refused("PackageClosed", f"package {package_id} is {balance.status}")
        return PunchcardError(f"package {package_id}: {err.message}")


def freeze_until(*, days: int | None, until: date | None, today: date) -> date:
    """The last frozen day of a freeze asked as `days` (today counted) or as `until`."""
    if (days is None) == (until is None):
        raise Invalid("days", "give either days or until, not both")
    if until is not None:
        return until
    assert days is not None
    if days < 1:
        raise Invalid("days", "a freeze lasts at least 1 day")
    return today + timedelta(days=days - 1)


def _split_terms(terms: PackageTerms, people: int) -> list[PackageTerms]:
    """Per-person entitlements of a shared purchase: units split as evenly as whole units
    allow (the first attendees take the remainder), and the price split by units, so
    every share has the purchase's per-session value."""
    if people == 1:
        return [terms]
    if terms.units < people:
        raise PunchcardError(
            f"{terms.name} has {terms.units} units: too few to share among {people}"
        )
    units = [terms.units // people + (1 if n < terms.units % people else 0) for n in range(people)]
    prices = [terms.price_cents * u // terms.units for u in units]
    prices[0] += terms.price_cents - sum(prices)
    return [
        terms.model_copy(update={"units": u, "price_cents": p})
        for u, p in zip(units, prices, strict=True)
    ]
