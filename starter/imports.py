"""CSV import of completed appointments: parse, resolve clients, hand each row to its visit.

The same path as webhooks (`VisitGateway.submit`), so a row's appointment is routed once
however often the file is imported: event keys are derived from the appointment, and the
visit workflow and the package both dedupe on them.
"""

from __future__ import annotations

import asyncio

from activities.intake import VisitGateway
from activities.repository import ClientLinkRepository
from starter.api.schemas import ImportReport, RowProblem
from starter.ingress.csv_import import ClientRefKind, CsvRow, parse_csv
from workflows.visit_models import Platform


async def import_csv(
    data: bytes | str,
    *,
    platform: str,
    actor: str,
    timezone: str,
    links: ClientLinkRepository,
    gateway: VisitGateway,
) -> ImportReport:
    # Parsing a 20 MB export is seconds of CPU: off the event loop, so the API keeps answering.
    parsed = await asyncio.to_thread(
        parse_csv, data, platform=Platform(platform), timezone=timezone, actor=actor
    )
    problems = [RowProblem(line=e.line, message=e.message) for e in parsed.errors]
    accepted = 0
    for row in parsed.rows:
        client_id = await _client_for(row, links)
        if client_id is None:
            problems.append(
                RowProblem(
                    line=row.line,
                    message=f"unknown client {row.client_ref!r}: link the {row.event.platform} "
                    "client id, or use a Punchcard client id, email or phone",
                )
            )
            continue
        await gateway.submit(row.event.model_copy(update={"client_id": client_id}))
        accepted += 1
    problems.sort(key=lambda p: p.line)
    return ImportReport(
        rows=len(parsed.rows) + len(parsed.errors) + len(parsed.skipped),
        accepted=accepted,
        skipped=len(parsed.skipped),
        errors=problems,
    )


async def _client_for(row: CsvRow, links: ClientLinkRepository) -> str | None:
    if row.client_ref_kind is ClientRefKind.EMAIL:
        return await links.match_contact(email=row.client_ref, phone=None)
    if row.client_ref_kind is ClientRefKind.PHONE:
        return await links.match_contact(email=None, phone=row.client_ref)
    return await links.resolve_ref(row.event.platform, row.client_ref)
