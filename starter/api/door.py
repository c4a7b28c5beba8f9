"""The door: every HTTP request is bounded before any route, log line or lookup sees it.

An ASGI middleware, outermost, so what it refuses costs a few comparisons and is never
parsed, traced or stored:

    414  the path or query is too long
    431  too many headers, or a header too long
    415  a body whose Content-Type the endpoint does not take
    413  a body larger than the endpoint's limit (declared or counted as it arrives)
    408  a body that does not arrive within BODY_SECONDS
    400 / 422  a JSON body to the staff API that is not bounded JSON (`limits.read_json`);
               webhooks read theirs in their parser, where reasons name the provider

Refusals are answered as every other error, `{"detail": "<one line>"}`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starter.ingress import limits

KIB = 1024
MIB = 1024 * KIB
MAX_TARGET = 2 * KIB  # path plus query string, in bytes
MAX_HEADERS = 64
MAX_HEADER = 8 * KIB  # one header's name and value
MAX_HEADER_TOTAL = 32 * KIB
BODY_SECONDS = 30.0
MAX_DISCARD = 16 * MIB  # a refused body up to this size is read (and dropped) before the answer

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})  # a body elsewhere is bounded, not read
JSON = ("application/json",)
CSV = ("text/csv", "text/plain", "application/csv", "application/octet-stream")


@dataclass(frozen=True, kw_only=True)
class BodyRule:
    """What one group of endpoints takes: `content_types` empty means any;
    `untyped_ok` lets a body come with no Content-Type at all (`curl --data-binary`)."""

    prefix: str
    max_bytes: int
    content_types: tuple[str, ...] = ()
    untyped_ok: bool = False
    check_json: bool = False


# First match wins. Provider limits sit well above their largest documented payloads
# (a Stripe Checkout Session with many line items stays under 100 KiB).
RULES: tuple[BodyRule, ...] = (
    BodyRule(prefix="/webhooks/stripe", max_bytes=512 * KIB, content_types=JSON),
    BodyRule(prefix="/webhooks/boulevard", max_bytes=256 * KIB, content_types=JSON),
    BodyRule(prefix="/webhooks/mindbody", max_bytes=256 * KIB, content_types=JSON),
    BodyRule(prefix="/webhooks/square", max_bytes=256 * KIB, content_types=JSON),
    BodyRule(
        prefix="/webhooks/twilio",
        max_bytes=64 * KIB,
        content_types=("application/x-www-form-urlencoded",),
    ),
    BodyRule(prefix="/api/imports", max_bytes=20 * MIB, content_types=CSV, untyped_ok=True),
    BodyRule(
        prefix="/api/reports/overruns", max_bytes=20 * MIB, content_types=CSV, untyped_ok=True
    ),
    BodyRule(prefix="/codec", max_bytes=8 * MIB, content_types=JSON, check_json=True),
    BodyRule(
        prefix="/reports/",
        max_bytes=4 * KIB,
        content_types=("application/x-www-form-urlencoded",),
    ),
    # The client page's Stop/Start texts form: one field.
    BodyRule(
        prefix="/me/",
        max_bytes=1 * KIB,
        content_types=("application/x-www-form-urlencoded",),
    ),
    BodyRule(prefix="/api/", max_bytes=256 * KIB, content_types=JSON, check_json=True),
)
DEFAULT_RULE = BodyRule(prefix="/", max_bytes=64 * KIB)


class Refusal(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class RequestLimits:
    """Bound headers, target and body of every HTTP request (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rules: Sequence[BodyRule] = RULES,
        default: BodyRule = DEFAULT_RULE,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        self._app = app
        self._rules = tuple(rules)
        self._default = default
        self._body_seconds = body_seconds

    def rule_for(self, path: str) -> BodyRule:
        return next((r for r in self._rules if path.startswith(r.prefix)), self._default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        rule = self.rule_for(scope["path"])
        stream = _Stream(receive)
        try:
            self._check_head(scope)
            body = await self._read_body(scope, stream, rule)
        except Refusal as refusal:
            # Read what is left of a small body first: closing a socket with unread bytes
            # resets the connection, and the sender would never see the reason.
            drained = await self._discard(stream)
            await _answer(send, refusal.status, refusal.detail, close=not drained)
            return
        await self._app(scope, _replay(body, receive), send)

    async def _discard(self, stream: _Stream) -> bool:
        """Read and drop the rest of the body, up to MAX_DISCARD; True if it ended."""
        skipped = 0
        try:
            async with asyncio.timeout(self._body_seconds):
                while not stream.ended and skipped <= MAX_DISCARD:
                    skipped += len((await stream()).get("body", b""))
        except TimeoutError:
            return False
        return stream.ended

    def _check_head(self, scope: Scope) -> None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
        target = len(raw_path) + len(scope.get("query_string", b""))
        if target > MAX_TARGET:
            raise Refusal(414, f"request target is {target} bytes: at most {MAX_TARGET}")
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if len(headers) > MAX_HEADERS:
            raise Refusal(431, f"{len(headers)} request headers: at most {MAX_HEADERS}")
        total = 0
        for name, value in headers:
            size = len(name) + len(value)
            total += size
            if size > MAX_HEADER:
                shown = name[:40].decode("latin-1")
                raise Refusal(431, f"request header {shown} is {size} bytes: at most {MAX_HEADER}")
        if total > MAX_HEADER_TOTAL:
            raise Refusal(431, f"request headers are {total} bytes: at most {MAX_HEADER_TOTAL}")

    async def _read_body(self, scope: Scope, receive: Receive, rule: BodyRule) -> bytes:
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or len(declared) > 12:
                raise Refusal(400, "Content-Length is not a number")
            if int(declared) > rule.max_bytes:
                raise Refusal(413, _too_large(rule, int(declared)))
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        if (declared is None or declared == b"0") and not chunked:
            return await self._drain(receive, rule)  # nothing declared: still counted
        media = _media_type(headers.get(b"content-type"))
        typed_ok = (media is None and rule.untyped_ok) or scope["method"] not in _WITH_BODY
        if rule.content_types and media not in rule.content_types and not typed_ok:
            wanted = " or ".join(rule.content_types)
            got = media or "none"
            raise Refusal(415, f"Content-Type {got[:80]} is not accepted here: send {wanted}")
        body = await self._drain(receive, rule)
        if rule.check_json and body and scope["method"] in _WITH_BODY:
            try:
                limits.read_json(body, "body")
            except limits.BodyRefused as err:
                raise Refusal(err.status, err.reason) from None
        return body

    async def _drain(self, receive: Receive, rule: BodyRule) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._body_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > rule.max_bytes:
                        raise Refusal(413, _too_large(rule, size, counted=True))
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            raise Refusal(408, f"the body did not arrive within {self._body_seconds:g} s") from None
        return b"".join(chunks)


class _Stream:
    """The request's receive channel, remembering whether the body has ended."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.ended = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            self.ended = True
        return message


def _too_large(rule: BodyRule, size: int, *, counted: bool = False) -> str:
    unit, name = (MIB, "MiB") if rule.max_bytes >= MIB else (KIB, "KiB")
    measured = f"more than {rule.max_bytes}" if counted else str(size)
    return f"body is {measured} bytes: at most {rule.max_bytes // unit} {name} here"


def _media_type(value: bytes | None) -> str | None:
    if not value:
        return None
    return value.split(b";", 1)[0].strip().lower().decode("latin-1") or None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read once, handed to the app as a single message; then the real stream
    (for the disconnect the app may wait on)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(send: Send, status: int, detail: str, *, close: bool) -> None:
    payload = json.dumps({"detail": detail}).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode("ascii")),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
