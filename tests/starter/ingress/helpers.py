"""What the parser tests share: encoding a payload, catching a refusal, cutting a field out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from starter.ingress.base import WebhookRejected


def body_of(payload: object) -> bytes:
    return json.dumps(payload).encode()


def rejection(parse: Callable[[bytes], object], body: bytes) -> WebhookRejected:
    """The `WebhookRejected` that `parse(body)` raises (the test fails if it returns)."""
    with pytest.raises(WebhookRejected) as caught:
        parse(body)
    return caught.value


def drop(payload: dict[str, Any], path: str) -> dict[str, Any]:
    """`payload` with the field at the dotted `path` removed (in place, and returned)."""
    *parents, last = path.split(".")
    target = payload
    for name in parents:
        target = target[name]
    del target[last]
    return payload
