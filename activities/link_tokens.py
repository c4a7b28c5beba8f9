"""Tokens in links handed to clients (the client page, renewal links): checked for shape
before any lookup, and stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import re

_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,128}")  # URL-safe base64, as secrets.token_urlsafe


def well_formed(token: str) -> bool:
    """Whether `token` could be one we issued; anything else opens nothing, unlooked-up."""
    return _SHAPE.fullmatch(token) is not None


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
