"""Safe text for workflow models, without a server: cleaning is idempotent, ids are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from workflows.text import ID_MAX, TEXT_MAX, clean_text
from workflows.visit_models import VisitEvent


def event(**fields: object) -> VisitEvent:
    base = {
        "event_key": "k",
        "platform": "boulevard",
        "appointment_id": "a-1",
        "change": "completed",
        "occurred_at": datetime.now(UTC),
    }
    return VisitEvent.model_validate(base | fields)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Laser\x00Face", "Laser Face"),
        ("Peel\ud800", "Peel\ufffd"),
        ("\x1b[31mRed\x7f", "[31mRed"),
        (" \x00 ", None),
        ("x" * (TEXT_MAX + 50), "x" * TEXT_MAX),
        ("Café Glow", "Café Glow"),
        ("Peel,\ndeep\tx", "Peel,\ndeep\tx"),  # line breaks and tabs are text
    ],
)
def test_free_text_is_cleaned_and_cleaning_twice_changes_nothing(
    raw: str, clean: str | None
) -> None:
    assert clean_text(raw) == clean
    assert clean_text(clean) == clean
    made = event(service_name=raw)
    assert made.service_name == clean
    assert VisitEvent.model_validate_json(made.model_dump_json()) == made


@pytest.mark.parametrize(
    "field",
    [
        "event_key",
        "appointment_id",
        "client_id",
        "external_client_id",
        "service_key",
        "provider_id",
        "site_id",
        "category",
    ],
)
@pytest.mark.parametrize("bad", ["id\x00", "id\n2", "id\ud800", "x" * (ID_MAX + 1), ""])
def test_identifiers_with_control_characters_or_too_long_are_refused(field: str, bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        event(**{field: bad})
    assert caught.value.errors()[0]["loc"] == (field,)


def test_amounts_are_bounded() -> None:
    with pytest.raises(ValidationError):
        event(amount_cents=2**64)
    assert event(amount_cents=12_345).amount_cents == 12_345
