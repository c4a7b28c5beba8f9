"""What every route needs (connections, repositories, the package service) and who is asking.

Staff authenticate with `Authorization: Bearer <token>`; tokens are per person and carry a
role. Front desk reads, sells, records visits and keeps clients' details; only a manager
extends, cancels, refunds, tops up, resolves the review queue, opts a client back in to
SMS and changes the setup (package types, locations, staff and their tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
import httpx
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from activities.intake import VisitGateway
from activities.payments.activities import PaymentActivities
from activities.repository import (
    ClientLinkRepository,
    InboundEventLog,
    ReviewQueue,
    Role,
    ServiceCatalog,
    StaffMember,
    StaffRepository,
)
from starter.clients import ClientService
from starter.locations import LocationService
from starter.moving_in import ImportService
from starter.package_types import PackageTypeService
from starter.packages import PackageService
from starter.staff import StaffService
from workers.settings import Settings
from workers.worker import build_payments


@dataclass(frozen=True)
class ApiDeps:
    settings: Settings
    client: Client
    pool: asyncpg.Pool
    service: PackageService
    gateway: VisitGateway
    links: ClientLinkRepository
    catalog: ServiceCatalog
    review: ReviewQueue
    inbound: InboundEventLog
    staff: StaffRepository
    payments: PaymentActivities
    clients: ClientService
    types: PackageTypeService
    team: StaffService
    imports: ImportService
    locations: LocationService

    @classmethod
    def build(
        cls, settings: Settings, client: Client, pool: asyncpg.Pool, http: httpx.AsyncClient
    ) -> ApiDeps:
        """`http` carries the desk's Stripe calls (renewal links); the lifespan owns it."""
        service = PackageService(client=client, pool=pool, settings=settings)
        review = ReviewQueue(pool)
        return cls(
            settings=settings,
            client=client,
            pool=pool,
            service=service,
            gateway=VisitGateway(
                client,
                task_queue=settings.visit_queue,
                idle_days=settings.visit_idle_days,
                review=review,
            ),
            links=service.links,
            catalog=service.catalog,
            review=review,
            inbound=InboundEventLog(pool),
            staff=StaffRepository(pool),
            # The worker's own adapter and activity code, called in-process: one Checkout
            # Session per offer key, recorded in stripe_checkouts like the workflow's.
            payments=build_payments(settings, pool, http),
            clients=ClientService(pool),
            types=PackageTypeService(pool),
            team=StaffService(pool),
            imports=ImportService(client=client, pool=pool, settings=settings),
            locations=LocationService(
                pool, spa_name=settings.spa_name, spa_timezone=settings.spa_timezone
            ),
        )


def get_deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.deps
    return deps


Deps = Annotated[ApiDeps, Depends(get_deps)]

_bearer = HTTPBearer(auto_error=False, description="a staff token from `punchcard staff add`")


async def current_staff(
    deps: Deps,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StaffMember:
    if credentials is None:
        raise HTTPException(
            401,
            "missing staff token: send Authorization: Bearer <token> (punchcard staff add)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    member = await deps.staff.by_token(credentials.credentials)
    if member is None:
        raise HTTPException(
            401, "unknown or revoked staff token", headers={"WWW-Authenticate": "Bearer"}
        )
    return member


Staff = Annotated[StaffMember, Depends(current_staff)]


async def current_manager(member: Staff, request: Request) -> StaffMember:
    if member.role is not Role.MANAGER:
        raise HTTPException(
            403,
            f"only a manager may {request.method} {request.url.path} ({member.staff_id} is front desk)",
        )
    return member


Manager = Annotated[StaffMember, Depends(current_manager)]
