"""What every route needs (connections, repositories, the package service) and who is asking.

Staff authenticate with `Authorization: Bearer <token>`; tokens are per person and carry a
role. Front desk reads, sells and records visits; only a manager extends, cancels,
refunds, tops up and resolves the review queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from activities.intake import VisitGateway
from activities.repository import (
    ClientLinkRepository,
    InboundEventLog,
    ReviewQueue,
    Role,
    ServiceCatalog,
    StaffMember,
    StaffRepository,
)
from starter.packages import PackageService
from workers.settings import Settings


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

    @classmethod
    def build(cls, settings: Settings, client: Client, pool: asyncpg.Pool) -> ApiDeps:
        service = PackageService(client=client, pool=pool, settings=settings)
        return cls(
            settings=settings,
            client=client,
            pool=pool,
            service=service,
            gateway=VisitGateway(
                client, task_queue=settings.task_queue, idle_days=settings.visit_idle_days
            ),
            links=service.links,
            catalog=service.catalog,
            review=ReviewQueue(pool),
            inbound=InboundEventLog(pool),
            staff=StaffRepository(pool),
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
