"""A local stand-in for Boulevard's Admin GraphQL API, as far as write-back uses it.

    POST /api/2020-01/admin
    Authorization: Basic base64("<api key>:<signature><blvd-admin-v1><business id><unix seconds>")

It verifies the signed token as public integration code builds it (provider-formats.md
§3.2: HMAC-SHA256 keyed with the base64-decoded secret, within five minutes), then runs the
operation with graphql-core against a small slice of the Admin schema — so a query the
real schema would refuse for its shape is refused here too. Notes created are recorded;
throttling is scripted as Boulevard reports it: 200 with an `errors` message giving the wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from graphql import GraphQLError, build_schema, graphql

_ids = itertools.count(1)

PATH = "/api/2020-01/admin"
PREFIX = "blvd-admin-v1"
SKEW_SECONDS = 300

SCHEMA = build_schema(
    """
    type Query { client(id: ID!): Client }
    type Client { id: ID! notes: [ClientNote!]! }
    type ClientNote { id: ID! text: String! }
    input CreateClientNoteInput { clientId: ID! text: String! }
    type CreateClientNotePayload { clientNote: ClientNote! }
    type Mutation { createClientNote(input: CreateClientNoteInput!): CreateClientNotePayload }
    """
)


@dataclass
class BoulevardFake:
    business_id: str = "9d2f4a10-0000-4000-8000-0000000000aa"
    api_key: str = "blvd-test-key"
    api_secret: str = base64.b64encode(b"boulevard-test-secret-bytes").decode()
    clients: dict[str, list[str]] = field(default_factory=dict)  # client URN -> note texts
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    _throttle: list[int] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    def add_client(self) -> str:
        urn = f"urn:blvd:Client:8e8e8e8e-0000-4000-8000-{next(_ids):012d}"
        self.clients[urn] = []
        return urn

    def throttle_next(self, times: int, *, wait_seconds: int) -> None:
        self._throttle.extend([wait_seconds] * times)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(PATH, self._admin)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/api/2020-01"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
        except ValueError:
            return False
        key, _, token = decoded.partition(":")
        start = token.find(PREFIX)
        if key != self.api_key or start < 0:
            return False
        signature, payload = token[:start], token[start:]
        stamp = payload.removeprefix(PREFIX + self.business_id)
        if stamp == payload or not stamp.isdigit() or abs(time.time() - int(stamp)) > SKEW_SECONDS:
            return False
        raw_key = base64.b64decode(self.api_secret)
        expected = base64.b64encode(hmac.new(raw_key, payload.encode(), hashlib.sha256).digest())
        return hmac.compare_digest(expected.decode(), signature)

    async def _admin(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if not self._authorised(request.headers.get("Authorization")):
            return web.json_response({"errors": [{"message": "Unauthorized"}]}, status=401)
        if self._throttle:
            wait = self._throttle.pop(0)
            return web.json_response(
                {"errors": [{"message": f"API rate limit exceeded. Retry in {wait} seconds."}]}
            )
        result = await graphql(
            SCHEMA,
            body.get("query", ""),
            root_value=self,
            variable_values=body.get("variables"),
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [error.formatted for error in result.errors]
        return web.json_response(answer)

    # root resolvers (graphql-core reads them as attributes of the root value)

    def client(self, _info: Any, id: str) -> dict[str, Any] | None:
        if id not in self.clients:
            return None
        notes = [{"id": f"note-{i}", "text": text} for i, text in enumerate(self.clients[id])]
        return {"id": id, "notes": notes}

    def createClientNote(self, _info: Any, input: dict[str, str]) -> dict[str, Any]:
        notes = self.clients.get(input["clientId"])
        if notes is None:
            raise GraphQLError(f"Client {input['clientId']} not found")
        notes.append(input["text"])
        return {"clientNote": {"id": f"urn:blvd:ClientNote:{len(notes)}", "text": input["text"]}}
