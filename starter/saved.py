"""What a create or save answers: the record as stored, and whether this call made it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Saved(Generic[T]):
    record: T
    created: bool


def listed(names: Sequence[str]) -> str:
    """ "name", "name and phone", "name, phone and email"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
