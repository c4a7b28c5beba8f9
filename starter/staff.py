"""Staff who may use the API, and their tokens (CLI and HTTP API alike).

A token is shown once, in the answer that made it, and stored only as its hash; so a
second create of the same staff id cannot answer with the token again and is a
`Conflict` (issue a new token instead). The very first manager comes from the CLI
(`punchcard staff add ID --role manager`), from `punchcard up`'s demo, or from
`PUNCHCARD_BOOTSTRAP_MANAGER_TOKEN` (`bootstrap`, run when the API starts).
"""

from __future__ import annotations

import asyncpg

from activities.repository import Role, StaffMember, StaffRepository
from starter.packages import Conflict, NotFound
from workflows.models import Model

BOOTSTRAP_MANAGER = StaffMember(staff_id="owner", name="Owner (bootstrap)", role=Role.MANAGER)


class Issued(Model):
    member: StaffMember
    token: str
    created: bool


class StaffService:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.staff = StaffRepository(pool)

    async def list(self) -> list[StaffMember]:
        return await self.staff.list()

    async def create(self, member: StaffMember) -> Issued:
        token = await self.staff.insert(member)
        if token is None:
            stored = await self.staff.get(member.staff_id)
            state = (
                ""
                if stored is None
                else f" ({stored.role.value}, " + ("active)" if stored.active else "revoked)")
            )
            raise Conflict(
                f"staff member {member.staff_id!r} already exists{state}: "
                "issue them a new token instead"
            )
        return Issued(member=member, token=token, created=True)

    async def add_or_rekey(self, member: StaffMember) -> Issued:
        """Create the member, or update their name and role and give them a new token
        (the CLI's `staff add`)."""
        existed = await self.staff.get(member.staff_id) is not None
        token = await self.staff.add(member)
        return Issued(member=member, token=token, created=not existed)

    async def issue_token(self, staff_id: str) -> Issued:
        """A new token for the member (the old one stops working; a revoked member is
        active again)."""
        token = await self.staff.rekey(staff_id)
        member = await self.staff.get(staff_id)
        if token is None or member is None:
            raise NotFound(f"no staff member {staff_id!r}")
        return Issued(member=member, token=token, created=False)

    async def revoke(self, staff_id: str) -> StaffMember:
        """Revoke the member's token (again is a no-op); the record stays for the audit."""
        if not await self.staff.deactivate(staff_id):
            raise NotFound(f"no staff member {staff_id!r}")
        member = await self.staff.get(staff_id)
        assert member is not None
        return member

    async def bootstrap(self, token: str) -> bool:
        """Create the `owner` manager with `token` while the spa has no active manager;
        True when it did. Once any manager exists this does nothing."""
        return await self.staff.insert_first_manager(BOOTSTRAP_MANAGER, token)
