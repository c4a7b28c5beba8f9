"""The provider stand-ins of a benchmark, in a process of their own.

    python -m bench.standins          (started by `bench.integrations.StandIns`)

Twilio, an SMTP server, HubSpot, one lifecycle-webhook subscriber and Boulevard's Admin
API (booking write-back), from tests/fakes. In production the providers are remote: here
they get their own process and event loop, so answering the worker's calls does not take
the worker's (or the load driver's) CPU time and event loop.

The protocol is one JSON object per line. The first line out holds every base URL and
credential. Then each line in is a request, answered by one line out:

    {"op": "clients", "emails": [...]}   HubSpot contacts and Boulevard clients, one per email
                                         -> {"boulevard": [urn, ...]}
    {"op": "report"}                     -> what every stand-in received (see `_report`)
    {"op": "stop"}                       -> {} and the process exits
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.fakes.boulevard import BoulevardFake
from tests.fakes.event_receiver import EventReceiver
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.smtp import SmtpFake
from tests.fakes.twilio import TwilioFake


class Providers:
    """Every stand-in, started and stopped together."""

    def __init__(self) -> None:
        self.twilio = TwilioFake()
        self.smtp = SmtpFake()
        self.hubspot = HubSpotFake()
        self.events = EventReceiver()
        self.boulevard = BoulevardFake()

    async def start(self) -> None:
        await self.twilio.start()
        self.smtp.start()
        await self.hubspot.start()
        await self.events.start()
        await self.boulevard.start()

    async def stop(self) -> None:
        await self.twilio.stop()
        self.smtp.stop()
        await self.hubspot.stop()
        await self.events.stop()
        await self.boulevard.stop()

    def endpoints(self) -> dict[str, Any]:
        return {
            "twilio": {
                "base_url": self.twilio.base_url,
                "account_sid": self.twilio.account_sid,
                "auth_token": self.twilio.auth_token,
            },
            "smtp": {"host": self.smtp.host, "port": self.smtp.port},
            "hubspot": {"base_url": self.hubspot.base_url, "token": self.hubspot.token},
            "events": {"url": self.events.url, "secret": self.events.secret},
            "boulevard": {
                "base_url": self.boulevard.base_url,
                "business_id": self.boulevard.business_id,
                "api_key": self.boulevard.api_key,
                "api_secret": self.boulevard.api_secret,
            },
        }

    def clients(self, emails: list[str]) -> dict[str, Any]:
        for email in emails:
            self.hubspot.add_contact(email)
        return {"boulevard": [self.boulevard.add_client() for _ in emails]}

    def report(self) -> dict[str, Any]:
        """What arrived, in the order it arrived, as plain JSON."""
        contacts = self.hubspot.contacts.values()
        return {
            "twilio": [{"sid": m.sid, "to": m.to, "body": m.body} for m in self.twilio.stored],
            "twilio_attempts": self.twilio.attempts,
            "smtp": [
                {"to": m["To"] or "", "message_id": m["Message-ID"] or "", "subject": m["Subject"]}
                for m in self.smtp.messages
            ],
            "hubspot_writes": [
                {"path": w["path"], "body": json.loads(w["body"])} for w in self.hubspot.writes()
            ],
            "hubspot_requests": len(self.hubspot.requests),
            "hubspot_contacts": {c.email or c.id: c.properties for c in contacts},
            "events": [
                {"id": e["id"], "type": e["type"], "package_id": e["data"].get("package_id")}
                for e in self.events.events
            ],
            "event_deliveries": [
                {"signature_ok": d.signature_ok, "answered": d.answered}
                for d in self.events.deliveries
            ],
            "boulevard_notes": dict(self.boulevard.clients),
            "boulevard_requests": len(self.boulevard.requests),
        }


async def serve() -> None:
    providers = Providers()
    await providers.start()
    try:
        _say(providers.endpoints())
        while line := await asyncio.to_thread(sys.stdin.readline):
            request = json.loads(line)
            if request["op"] == "clients":
                _say(providers.clients(list(request["emails"])))
            elif request["op"] == "report":
                _say(providers.report())
            else:
                _say({})
                break
    finally:
        await providers.stop()


def _say(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(serve())
