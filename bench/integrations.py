"""Integrations for a benchmark: which ones are on, their stand-ins, and the audit of them.

Three levels, chosen with `--integrations`:

    none   every provider unconfigured: notices are recorded as not_configured
    sms    Twilio only (one integration)
    all    as production runs: Twilio SMS, SMTP email, HubSpot CRM, one lifecycle-webhook
           subscriber, and booking write-back to Boulevard

The real adapters are configured through the PUNCHCARD_* base-URL settings against the
stand-ins of tests/fakes, which run in a process of their own (`bench.standins`). After a
run, `audit` compares what each stand-in received with what Punchcard recorded and with
what the load sent: each confirmation reached Twilio and the SMTP server exactly once,
the CRM contact and the Boulevard notes show each package's final balance, every
redemption's webhook arrived once, signed. Nothing lost, nothing doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncpg
from pydantic import SecretStr

from activities.messaging.email import message_id_for

Level = Literal["none", "sms", "all"]
LEVELS: tuple[Level, ...] = ("none", "sms", "all")
DESCRIBED: dict[Level, str] = {
    "none": "none (providers unconfigured: notices recorded as not_configured)",
    "sms": "Twilio SMS only",
    "all": "Twilio SMS, SMTP email, HubSpot CRM, 1 lifecycle webhook, Boulevard write-back",
}
COUNT: dict[Level, int] = {"none": 0, "sms": 1, "all": 5}
EMAIL_FROM = "Punchcard Bench Spa <spa@example.com>"
STAFF_EMAIL = "manager@example.com"
ROOT = Path(__file__).resolve().parent.parent
REPORT_LIMIT = 1 << 28  # bytes of one JSON line from the stand-ins (a big run's report)


class StandIns:
    """The stand-in process: its endpoints, and requests to it."""

    def __init__(self, process: asyncio.subprocess.Process, endpoints: dict[str, Any]) -> None:
        self._process = process
        self.endpoints = endpoints

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[StandIns]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.standins",
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LIMIT,
        )
        try:
            stand_ins = cls(process, await cls._read(process))
            yield stand_ins
            await stand_ins.ask({"op": "stop"})
            await asyncio.wait_for(process.wait(), 10)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    @staticmethod
    async def _read(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the provider stand-ins exited (see the error above)")
        answer: dict[str, Any] = json.loads(line)
        return answer

    @property
    def pid(self) -> int:
        return self._process.pid

    async def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(request).encode() + b"\n")
        await self._process.stdin.drain()
        return await self._read(self._process)

    async def add_clients(self, emails: list[str]) -> list[str]:
        """A HubSpot contact per email (found by email) and a Boulevard client each: URNs."""
        answer = await self.ask({"op": "clients", "emails": emails})
        return list(answer["boulevard"])

    async def report(self) -> dict[str, Any]:
        return await self.ask({"op": "report"})


def settings_for(level: Level, endpoints: dict[str, Any]) -> dict[str, Any]:
    """Settings fields for `level`, every provider field set explicitly, so nothing the
    environment says (a real Twilio account…) reaches a benchmark."""
    twilio, smtp, hubspot = endpoints["twilio"], endpoints["smtp"], endpoints["hubspot"]
    events, blvd = endpoints["events"], endpoints["boulevard"]
    sms = level in ("sms", "all")
    every = level == "all"
    return {
        "twilio_base_url": twilio["base_url"],
        "twilio_account_sid": twilio["account_sid"] if sms else None,
        "twilio_auth_token": SecretStr(twilio["auth_token"]) if sms else None,
        "twilio_from_number": "+15555550100" if sms else None,
        "twilio_messaging_service_sid": None,
        "smtp_host": smtp["host"] if every else None,
        "smtp_port": smtp["port"],
        "smtp_starttls": False,
        "smtp_username": None,
        "smtp_password": None,
        "email_from": EMAIL_FROM,
        "staff_email": STAFF_EMAIL,
        "crm_provider": "hubspot" if every else "none",
        "hubspot_base_url": hubspot["base_url"],
        "hubspot_token": SecretStr(hubspot["token"]) if every else None,
        "event_webhook_urls": events["url"] if every else "",
        "event_webhook_secret": SecretStr(events["secret"]) if every else None,
        "booking_write_back": "boulevard" if every else "",
        "boulevard_base_url": blvd["base_url"],
        "boulevard_business_id": blvd["business_id"] if every else None,
        "boulevard_api_key": blvd["api_key"] if every else None,
        "boulevard_api_secret": SecretStr(blvd["api_secret"]) if every else None,
        "stripe_secret_key": None,
        "mindbody_api_key": None,
        "zenoti_api_key": None,
    }


@dataclass(frozen=True)
class Expected:
    """What the load did to one package: its client's contacts, sessions and redemptions."""

    package_id: str
    client_id: str
    phone: str
    email: str
    boulevard_urn: str
    units: int
    redemptions: int

    @property
    def remaining(self) -> int:
        return self.units - self.redemptions


async def audit(
    pool: asyncpg.Pool, report: dict[str, Any], level: Level, expected: list[Expected]
) -> tuple[dict[str, Any], list[str]]:
    """What reached each stand-in, and every way it disagrees with Punchcard's records
    and the load: (figures, problems)."""
    problems: list[str] = []
    redemptions = sum(e.redemptions for e in expected)
    rows = await pool.fetch(
        "SELECT message_key, channel, kind, status, recipient, provider_message_id "
        "FROM outbound_messages"
    )
    statuses = Counter(f"{r['channel']} {r['status']}" for r in rows)
    figures: dict[str, Any] = {"level": level, "messages": dict(sorted(statuses.items()))}

    sent = {
        ch: [r for r in rows if r["channel"] == ch and r["status"] == "sent"]
        for ch in ("sms", "email")
    }
    confirmations = Counter(
        r["channel"] for r in rows if r["kind"] == "confirmation" and r["status"] == "sent"
    )
    if level == "none":
        if sent["sms"] or sent["email"] or any(report[k] for k in ("twilio", "smtp", "events")):
            problems.append("a provider received something although none is configured")
    else:
        problems += _check_twilio(report, sent["sms"], confirmations["sms"], redemptions)
        figures["twilio_messages"] = len(report["twilio"])
        figures["confirmation_texts"] = confirmations["sms"]
    if level == "all":
        problems += _check_smtp(report, sent["email"], confirmations["email"], redemptions)
        problems += _check_hubspot(report, expected)
        problems += _check_events(report, expected, redemptions)
        problems += _check_boulevard(report, expected)
        problems += await _check_syncs(pool, expected)
        delivered = await pool.fetchval(
            "SELECT count(*) FROM event_deliveries WHERE status = 'delivered'"
        )
        if delivered != len(report["events"]):
            problems.append(
                f"event_deliveries says {delivered} delivered, the subscriber has "
                f"{len(report['events'])}"
            )
        figures |= {
            "emails": len(report["smtp"]),
            "confirmation_emails": confirmations["email"],
            "hubspot_writes": len(report["hubspot_writes"]),
            "webhook_events": len(report["events"]),
            "boulevard_notes": sum(len(n) for n in report["boulevard_notes"].values()),
        }
    else:
        if any(report[k] for k in ("smtp", "events", "hubspot_writes")):
            problems.append("email, CRM or webhooks received something although not configured")
    return figures, problems


def _check_twilio(
    report: dict[str, Any], rows: list[asyncpg.Record], confirmations: int, redemptions: int
) -> list[str]:
    """Every text Twilio holds is exactly one `sent` row, and each confirmation went out."""
    problems = []
    sids = Counter(m["sid"] for m in report["twilio"])
    recorded = Counter(r["provider_message_id"] for r in rows)
    if sids != recorded:
        problems.append(
            f"Twilio holds {len(report['twilio'])} texts, outbound_messages {len(rows)} sent "
            f"sms rows; {len(set(sids) ^ set(recorded))} differ"
        )
    if (doubled := [s for s, n in recorded.items() if n > 1]) or report["twilio_attempts"] != len(
        report["twilio"]
    ):
        problems.append(
            f"texts doubled or retried: {len(doubled)} ids recorded twice, "
            f"{report['twilio_attempts']} send attempts for {len(report['twilio'])} texts"
        )
    per_phone = Counter(m["to"] for m in report["twilio"])
    if per_phone != Counter(r["recipient"] for r in rows):
        problems.append("texts per phone number differ between Twilio and outbound_messages")
    if confirmations != redemptions:
        problems.append(f"{confirmations} confirmation texts sent, {redemptions} redemptions")
    return problems


def _check_smtp(
    report: dict[str, Any], rows: list[asyncpg.Record], confirmations: int, redemptions: int
) -> list[str]:
    """Each sent email row arrived once, under the Message-ID of its message key."""
    problems = []
    received = Counter(m["message_id"] for m in report["smtp"])
    expected = Counter(message_id_for(_email_key(r), EMAIL_FROM) for r in rows)
    if received != expected:
        problems.append(
            f"the SMTP server received {len(report['smtp'])} emails, outbound_messages says "
            f"{len(rows)} sent; {len(set(received) ^ set(expected))} Message-IDs differ"
        )
    if doubled := [m for m, n in received.items() if n > 1]:
        problems.append(f"{len(doubled)} emails arrived twice")
    if confirmations != redemptions:
        problems.append(f"{confirmations} confirmation emails sent, {redemptions} redemptions")
    return problems


def _email_key(row: asyncpg.Record) -> str:
    """The key a Message-ID derives from: staff alerts' are namespaced (`staff/…`)."""
    key: str = row["message_key"]
    return f"staff/{key}" if row["recipient"] == STAFF_EMAIL else key


def _check_hubspot(report: dict[str, Any], expected: list[Expected]) -> list[str]:
    """Each contact ends on the package's final balance, and no write went backwards."""
    problems = []
    writes: dict[str, list[int]] = {}
    for write in report["hubspot_writes"]:
        email = write["path"].rsplit("/", 1)[-1]
        remaining = write["body"]["properties"].get("punchcard_sessions_remaining")
        writes.setdefault(email, []).append(int(remaining))
    for e in expected:
        shown = report["hubspot_contacts"].get(e.email, {}).get("punchcard_sessions_remaining")
        if shown != str(e.remaining):
            problems.append(f"HubSpot shows {shown} left for {e.client_id}, {e.remaining} expected")
        seen = writes.get(e.email, [])
        if seen != sorted(seen, reverse=True):
            problems.append(f"HubSpot writes for {e.client_id} went backwards: {seen}")
        if len(seen) > e.redemptions + 1:
            problems.append(f"{len(seen)} HubSpot writes for {e.client_id}: more than changes")
    return problems


def _check_events(report: dict[str, Any], expected: list[Expected], redemptions: int) -> list[str]:
    """Every redemption's `package.redeemed` and every sale's `package.created`, once, signed."""
    problems = []
    ids = Counter(e["id"] for e in report["events"])
    if doubled := [i for i, n in ids.items() if n > 1]:
        problems.append(f"{len(doubled)} webhook events delivered twice")
    types = Counter(e["type"] for e in report["events"])
    if types["package.redeemed"] != redemptions:
        problems.append(f"{types['package.redeemed']} package.redeemed events, {redemptions} sent")
    if types["package.created"] != len(expected):
        problems.append(f"{types['package.created']} package.created events, {len(expected)} sold")
    bad = [d for d in report["event_deliveries"] if not d["signature_ok"] or d["answered"] != 200]
    if bad:
        problems.append(f"{len(bad)} webhook deliveries unsigned or refused")
    return problems


def _check_boulevard(report: dict[str, Any], expected: list[Expected]) -> list[str]:
    """Notes accumulate (one per write-back): none twice, the newest shows the final count."""
    problems = []
    for e in expected:
        notes: list[str] = report["boulevard_notes"].get(e.boulevard_urn, [])
        if len(set(notes)) != len(notes):
            problems.append(f"Boulevard has a note twice for {e.client_id}")
        if not notes or f"{e.remaining} of {e.units} left" not in notes[-1]:
            last = notes[-1] if notes else None
            problems.append(f"Boulevard's last note for {e.client_id} is {last!r}")
    return problems


async def _check_syncs(pool: asyncpg.Pool, expected: list[Expected]) -> list[str]:
    rows = await pool.fetch("SELECT target, package_id, status FROM integration_syncs")
    status = {(r["target"], r["package_id"]): r["status"] for r in rows}
    return [
        f"integration_syncs {target} {e.package_id}: {status.get((target, e.package_id))}"
        for e in expected
        for target in ("hubspot", "boulevard")
        if status.get((target, e.package_id)) != "updated"
    ]
