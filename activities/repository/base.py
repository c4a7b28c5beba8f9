"""The base every stored row shares: frozen, and strict about its columns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Row(BaseModel):
    """Base for rows as stored: frozen, and no column left unnamed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
