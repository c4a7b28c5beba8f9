"""A small demo spa, loaded idempotently: running it twice changes nothing.

Every sale has a fixed purchase id and every visit a fixed idempotency key, so a second
load meets existing workflows and duplicate keys and gets the first answers back. Dates
are relative to the first load (purchases a few weeks back; one package near expiry so
its reminders and pending timers show).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from activities.providers import ProviderRecord, ProviderRepository
from activities.repository import (
    ClientLink,
    ClientRecord,
    PackageTypeRecord,
    Role,
    ServiceMapping,
    StaffMember,
    StaffRepository,
)
from starter.packages import PackageService, Refused, SaleRequest
from workflows.models import (
    AppointmentNotice,
    AttendanceRequest,
    PackageKind,
    PackageMessage,
    RedeemRequest,
)

ACTOR = "demo"

PROVIDERS = [
    ProviderRecord(provider_id="prov_mia", name="Mia Chen, RN", role="nurse injector"),
    ProviderRecord(provider_id="prov_sam", name="Dr. Samuel Park", role="medical director"),
    ProviderRecord(provider_id="prov_lena", name="Lena Ortiz, LE", role="laser technician"),
]

CLIENTS = [
    ClientRecord(
        client_id="ava", name="Ava Martinez", phone="+15555550101", email="ava@example.com"
    ),
    ClientRecord(client_id="ben", name="Ben Okafor", phone="+15555550102", email="ben@example.com"),
    ClientRecord(
        client_id="chloe", name="Chloe Nguyen", phone="+15555550103", email="chloe@example.com"
    ),
    ClientRecord(client_id="dan", name="Dan Kim", phone="+15555550104", email="dan@example.com"),
    ClientRecord(
        client_id="ella", name="Ella Rossi", phone="+15555550105", email="ella@example.com"
    ),
]

TYPES = [
    PackageTypeRecord(
        type_code="laser6",
        name="Laser Hair Removal (6)",
        units=6,
        price_cents=180_000,
        categories=["laser"],
        min_interval_days=28,
    ),
    PackageTypeRecord(
        type_code="sculpt12",
        name="Body Sculpting Series (12)",
        units=12,
        price_cents=360_000,
        categories=["body"],
        late_cancel_forfeits=True,
        min_interval_days=7,
    ),
    PackageTypeRecord(
        type_code="inject1500",
        name="Injectables Credit $1,500",
        kind=PackageKind.DOLLARS,
        units=150_000,
        price_cents=150_000,
        categories=["injectables"],
    ),
    PackageTypeRecord(
        type_code="couples4",
        name="Couples Facial (4)",
        units=4,
        price_cents=72_000,
        categories=["facial"],
    ),
    PackageTypeRecord(
        type_code="vip6",
        name="VIP HydraFacial (6)",
        units=6,
        price_cents=120_000,
        categories=["facial"],
        vip_rollover_max=2,
    ),
]


# Ava's ids on the booking platforms, as in the README's webhook walkthrough.
LINKS = [
    ClientLink(
        platform="boulevard",
        external_id="urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000020",
        client_id="ava",
    ),
    ClientLink(platform="mindbody", external_id="100015531", client_id="ava"),
]

# Booking-platform services mapped to the categories the demo package types cover.
SERVICES = [
    ServiceMapping(platform="*", service_key="Laser Hair Removal - Underarm", category="laser"),
    ServiceMapping(platform="*", service_key="Laser Hair Removal", category="laser"),
    ServiceMapping(platform="*", service_key="Laser - Full Face", category="laser"),
    ServiceMapping(platform="mindbody", service_key="12", category="laser"),
    ServiceMapping(platform="*", service_key="HydraFacial", category="facial"),
    ServiceMapping(platform="*", service_key="Couples Facial", category="facial"),
    ServiceMapping(platform="*", service_key="Botox", category="injectables"),
    ServiceMapping(platform="*", service_key="Body Sculpting", category="body"),
]


@dataclass(frozen=True)
class DemoSale:
    purchase_id: str
    client_id: str
    type_code: str
    days_ago: int
    shared_with: tuple[str, ...] = ()

    @property
    def package_ids(self) -> list[str]:
        """As PackageService.sell names them: one per attendee of a shared purchase."""
        people = 1 + len(self.shared_with)
        if people == 1:
            return [self.purchase_id]
        return [f"{self.purchase_id}-{n}" for n in range(1, people + 1)]


SALES = [
    DemoSale("demo-ava-laser", "ava", "laser6", days_ago=70),
    DemoSale("demo-ben-credit", "ben", "inject1500", days_ago=45),
    DemoSale("demo-couples", "chloe", "couples4", days_ago=40, shared_with=("dan",)),
    DemoSale("demo-dan-sculpt", "dan", "sculpt12", days_ago=50),
    DemoSale("demo-ella-vip", "ella", "vip6", days_ago=345),  # expires in about 3 weeks
]


def _visit(
    appointment: str, provider: str, days_ago: int, amount_cents: int | None = None
) -> RedeemRequest:
    return RedeemRequest(
        key=f"demo:complete:{appointment}",
        appointment_id=appointment,
        provider_id=provider,
        service_date=date.today() - timedelta(days=days_ago),
        amount_cents=amount_cents,
        actor=ACTOR,
        source="demo",
    )


def demo_messages() -> list[tuple[str, PackageMessage]]:
    """What happened at the demo spa, in order; every key is fixed."""
    return [
        ("demo-ava-laser", _visit("appt-101", "prov_lena", 60)),
        ("demo-ava-laser", _visit("appt-102", "prov_lena", 30)),
        ("demo-ben-credit", _visit("appt-201", "prov_mia", 20, 42_500)),
        (
            "demo-ben-credit",
            AttendanceRequest(
                key="demo:no-show:appt-202",
                appointment_id="appt-202",
                outcome="no_show",
                actor=ACTOR,
                source="demo",
            ),
        ),
        ("demo-couples-1", _visit("appt-301", "prov_sam", 35)),
        ("demo-couples-2", _visit("appt-301", "prov_sam", 35)),
        ("demo-couples-1", _visit("appt-302", "prov_sam", 7)),
        (
            "demo-couples-1",
            AppointmentNotice(
                key="demo:booked:appt-303",
                appointment_id="appt-303",
                change="booked",
                actor=ACTOR,
                source="demo",
            ),
        ),
        ("demo-dan-sculpt", _visit("appt-401", "prov_sam", 42)),
        ("demo-dan-sculpt", _visit("appt-402", "prov_sam", 35)),
        ("demo-dan-sculpt", _visit("appt-403", "prov_sam", 28)),
        (
            "demo-dan-sculpt",
            AttendanceRequest(
                key="demo:late-cancel:appt-404",
                appointment_id="appt-404",
                outcome="late_cancel",
                actor=ACTOR,
                source="demo",
            ),
        ),
        *[("demo-ella-vip", _visit(f"appt-50{n}", "prov_mia", 300 - 60 * n)) for n in range(1, 5)],
    ]


@dataclass
class DemoSummary:
    providers: int = 0
    clients: int = 0
    types: int = 0
    packages: list[str] = field(default_factory=list)
    new_entries: int = 0  # ledger rows this load added: 0 on every load after the first


async def load_demo(
    service: PackageService, providers: ProviderRepository, *, timeout: float = 30.0
) -> DemoSummary:
    """Load (or re-check) the demo spa and wait until the ledger shows every balance."""
    summary = DemoSummary(providers=len(PROVIDERS), clients=len(CLIENTS), types=len(TYPES))
    for provider in PROVIDERS:
        if await providers.get(provider.provider_id) != provider:
            await providers.upsert(provider)
    for client in CLIENTS:
        if await service.clients.get(client.client_id) != client:
            await service.clients.upsert(client)
    for package_type in TYPES:
        if await service.types.get(package_type.type_code) != package_type:
            await service.types.upsert(package_type)
    for link in LINKS:
        await service.links.link(link)
    known = {(m.platform, m.service_key) for m in await service.catalog.list()}
    for mapping in SERVICES:
        if (mapping.platform, " ".join(mapping.service_key.lower().split())) not in known:
            await service.catalog.upsert(mapping.model_copy(update={"updated_by": ACTOR}))
    summary.packages = [p for sale in SALES for p in sale.package_ids]
    before = await _ledger_rows(service, summary.packages)
    now = datetime.now().astimezone()
    for sale in SALES:
        await service.sell(
            SaleRequest(
                client_id=sale.client_id,
                type_code=sale.type_code,
                shared_with=list(sale.shared_with),
                purchase_id=sale.purchase_id,
                purchased_at=now - timedelta(days=sale.days_ago),
                sold_by=ACTOR,
            )
        )
    for package_id, message in demo_messages():
        try:
            await service.send(package_id, message)
        except Refused as err:
            if err.rule != "PackageClosed":  # an expired demo package takes no more visits
                raise
    await asyncio.gather(*(settle(service, p, timeout=timeout) for p in summary.packages))
    summary.new_entries = await _ledger_rows(service, summary.packages) - before
    return summary


async def _ledger_rows(service: PackageService, package_ids: list[str]) -> int:
    return sum([await service.ledger.count_entries(p) for p in package_ids])


async def settle(service: PackageService, package_id: str, *, timeout: float) -> None:
    """Wait until the balance table has caught up with the workflow's last entry."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        balance = await service.ledger.balance(package_id)
        if balance is not None and balance.status in ("expired", "cancelled"):
            return
        history = await service.history(package_id)
        if balance is not None and history and balance.last_seq >= history[-1].seq:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the ledger did not catch up with {package_id} in {timeout:.0f}s")
        await asyncio.sleep(0.1)


DEMO_STAFF = [
    StaffMember(staff_id="frontdesk", name="Front Desk (demo)", role=Role.FRONT_DESK),
    StaffMember(staff_id="manager", name="Practice Manager (demo)", role=Role.MANAGER),
]


async def demo_staff_tokens(staff: StaffRepository, path: Path) -> dict[str, str]:
    """Tokens for the demo's front desk and manager, made once and kept in `path` (0600)."""
    saved = await asyncio.to_thread(_read_tokens, path)
    valid = [await staff.by_token(saved.get(m.staff_id, "")) for m in DEMO_STAFF]
    if saved and all(valid):
        return saved
    tokens = {m.staff_id: await staff.add(m) for m in DEMO_STAFF}
    await asyncio.to_thread(_write_tokens, path, tokens)
    return tokens


def _read_tokens(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _write_tokens(path: Path, tokens: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in tokens.items()))
