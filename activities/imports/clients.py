"""Applying one client row: the same client again, a new client, or a duplicate to report.

Who a row is, in this order:

1. a client already linked to one of the row's platform ids (or with the row's own
   Punchcard id, or brought in from the same row before): the same client. Nothing
   differs: skipped. Details differ: updated (only fields the row fills; opt-outs stay).
2. otherwise a client with the row's phone, then its email: reported as a `duplicate`
   and not imported (never merged silently). Staff link the platform id to that client,
   or, when they are different people (families share a phone), give the row its own
   Client ID: a row naming its own id is created, with the shared detail noted.
3. otherwise a new client, with a link for every platform id on the row.

Each row's writes, its import key and its outcome are one transaction: a batch done again
after a crash finds the outcome and does nothing twice. A dry run answers the same
without writing.
"""

from __future__ import annotations

import asyncpg

from activities.imports.locations import LocationMatcher, UnknownLocationRef
from activities.imports.models import ClientRow, RowResult, fingerprint
from activities.imports.store import ImportJob, ImportStore
from activities.repository import ClientRecord, ClientRepository
from activities.repository.locations import LocationRepository

KEY_KIND = "client"

_INSERT_CLIENT = """
INSERT INTO clients (client_id, name, phone, email, sms_opt_out, home_location_id)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (client_id) DO NOTHING
"""
_UPDATE_CLIENT = """
UPDATE clients SET name = $2, phone = $3, email = $4,
    sms_opt_out = sms_opt_out OR $5, home_location_id = $6, updated_at = now()
WHERE client_id = $1
"""
_LINK = """
INSERT INTO client_links (platform, external_id, client_id) VALUES ($1, $2, $3)
ON CONFLICT (platform, external_id) DO NOTHING
"""
_LINKED = """
SELECT platform, external_id, client_id FROM client_links
WHERE (platform, external_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""
_SAME_PHONE = "SELECT client_id, name FROM clients WHERE phone = $1 ORDER BY client_id LIMIT 1"
_SAME_EMAIL = """
SELECT client_id, name FROM clients WHERE lower(email) = lower($1) ORDER BY client_id LIMIT 1
"""


def new_client_id(row: ClientRow) -> str:
    """The row's own id, else one derived from its import key (the same file twice
    derives the same id)."""
    return row.client_id or f"cl-{fingerprint(row.key())[:16]}"


class ClientImporter:
    def __init__(self, pool: asyncpg.Pool, store: ImportStore) -> None:
        self._pool = pool
        self._clients = ClientRepository(pool)
        self._store = store
        self._locations = LocationMatcher(LocationRepository(pool))

    async def apply(
        self, job: ImportJob, row: ClientRow, seen: dict[str, int] | None = None
    ) -> RowResult:
        """The row's outcome (created and updated rows are recorded with their writes).
        `seen`: the clients earlier rows of this batch became or matched, by line."""
        result = await self._apply(job, row, seen or {})
        if seen is not None and result.ref and result.outcome != "duplicate":
            seen.setdefault(result.ref, row.line)
        return result

    async def _apply(self, job: ImportJob, row: ClientRow, seen: dict[str, int]) -> RowResult:
        home: str | None = None
        if row.location_ref is not None:
            try:
                found = await self._locations.match(row.location_ref)
            except UnknownLocationRef as why:
                return _result(row, "refused", str(why))
            home = None if found is None else found.location_id
        linked = await self._pool.fetch(
            _LINKED,
            list(row.platform_ids),
            [row.platform_ids[p] for p in row.platform_ids],
        )
        owners = {str(r["client_id"]) for r in linked}
        if len(owners) > 1:
            named = ", ".join(
                f"{r['platform']} id {r['external_id']} is {r['client_id']}" for r in linked
            )
            return _result(row, "refused", f"its ids belong to different clients ({named})")
        matched = next(iter(owners), None)
        if row.client_id is not None:
            if matched is not None and matched != row.client_id:
                return _result(
                    row,
                    "refused",
                    f"Client ID {row.client_id} but its platform id is linked to {matched}",
                )
            if await self._clients.get(row.client_id) is not None:
                matched = row.client_id
        if matched is None:
            held = (await self._store.owners(KEY_KIND, [row.key()])).get(row.key())
            if held is not None and await self._clients.get(held.target_id) is not None:
                matched = held.target_id
        if matched is not None:
            earlier = seen.get(matched) or await self._store.line_for(job.job_id, matched)
            if earlier is not None and earlier < row.line:
                return _result(
                    row,
                    "duplicate",
                    f"same client as line {earlier} ({matched}): not imported; one row per client",
                    matched,
                )
            linked_on = {str(r["platform"]) for r in linked}
            return await self._same_client(job, row, matched, linked_on, home)
        return await self._new_client(job, row, home)

    async def _same_client(
        self, job: ImportJob, row: ClientRow, client_id: str, linked: set[str], home: str | None
    ) -> RowResult:
        stored = await self._clients.get(client_id)
        assert stored is not None
        merged = stored.model_copy(
            update={
                "name": row.name,
                "phone": row.phone or stored.phone,
                "email": row.email or stored.email,
                "sms_opt_out": stored.sms_opt_out or row.sms_opt_out,
                "home_location_id": home or stored.home_location_id,
            }
        )
        changed = [
            f
            for f in ("name", "phone", "email", "sms_opt_out", "home_location_id")
            if getattr(merged, f) != getattr(stored, f)
        ]
        links = {p: e for p, e in row.platform_ids.items() if p not in linked}
        if not changed and not links:
            return _result(row, "skipped", f"already there as client {client_id}", client_id)
        what = [f"{', '.join(changed)} changed"] if changed else []
        what += [f"linked {p} {e}" for p, e in sorted(links.items())]
        message = f"client {client_id}: " + "; ".join(what)
        result = _result(row, "updated", message, client_id)
        if job.dry_run:
            return result
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                _UPDATE_CLIENT,
                client_id,
                merged.name,
                merged.phone,
                merged.email,
                merged.sms_opt_out,
                merged.home_location_id,
            )
            await self._write_links(conn, client_id, links)
            await self._store.claim(
                KEY_KIND,
                row.key(),
                target_id=client_id,
                job_id=job.job_id,
                line=row.line,
                conn=conn,
            )
            await self._store.record(job.job_id, [result], conn)
        return result

    async def _new_client(self, job: ImportJob, row: ClientRow, home: str | None) -> RowResult:
        shared: list[str] = []
        for field, value, query in (
            ("phone", row.phone, _SAME_PHONE),
            ("email", row.email, _SAME_EMAIL),
        ):
            if value is None:
                continue
            found = await self._pool.fetchrow(query, value)
            if found is None:
                continue
            if row.client_id is None:
                return _result(
                    row,
                    "duplicate",
                    f"same {field} as client {found['client_id']} ({found['name']}): not "
                    "imported. The same person: link their platform id to that client; "
                    "different people: give the row its own Client ID",
                    str(found["client_id"]),
                )
            shared.append(f"shares its {field} with client {found['client_id']}")
        client_id = new_client_id(row)
        record = ClientRecord(
            client_id=client_id,
            name=row.name,
            phone=row.phone,
            email=row.email,
            sms_opt_out=row.sms_opt_out,
            home_location_id=home,
        )
        what = [f"client {client_id}"]
        what += [f"home location {home}"] if home else []
        what += [f"linked {p} {e}" for p, e in sorted(row.platform_ids.items())]
        what += shared + row.notes
        result = _result(row, "created", "; ".join(what), client_id)
        if job.dry_run:
            return result
        async with self._pool.acquire() as conn, conn.transaction():
            inserted = await conn.execute(
                _INSERT_CLIENT,
                record.client_id,
                record.name,
                record.phone,
                record.email,
                record.sms_opt_out,
                record.home_location_id,
            )
            if inserted == "INSERT 0 0":  # a client with the derived id came in meanwhile
                return _result(row, "refused", f"client id {client_id} is already taken")
            await self._write_links(conn, client_id, dict(row.platform_ids))
            await self._store.claim(
                KEY_KIND,
                row.key(),
                target_id=client_id,
                job_id=job.job_id,
                line=row.line,
                conn=conn,
            )
            await self._store.record(job.job_id, [result], conn)
        return result

    @staticmethod
    async def _write_links(
        conn: asyncpg.pool.PoolConnectionProxy, client_id: str, links: dict[str, str]
    ) -> None:
        for platform, external_id in sorted(links.items()):
            await conn.execute(_LINK, platform, external_id, client_id)


def _result(row: ClientRow, outcome: str, message: str, ref: str | None = None) -> RowResult:
    return RowResult.model_validate(
        {"line": row.line, "outcome": outcome, "message": message, "ref": ref}
    )
