"""Safe text for workflow models: whatever a source sends must fit PostgreSQL and the queue.

PostgreSQL refuses NUL in `text`, UTF-8 refuses lone surrogates, and an index row is
limited to about 2.7 kB. A value that breaks any of those would make an activity fail
forever after the delivery was answered 2xx, so the models settle it on the way in:

- free text (`CleanText`: a service name, a staff note) is cleaned: control characters
  other than tab and line breaks become spaces, lone surrogates become U+FFFD, and it is cut to `TEXT_MAX` characters;
- identifiers (`Identifier`: client, service, staff, site ids…) are refused when they hold
  a control character or a surrogate, or are longer than `ID_MAX` (the door's 150 cap).

Cleaning is idempotent, so histories recorded before it decode to the same values.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

ID_MAX = 150
TEXT_MAX = 300

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # keeps \t \n \r
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(value: object) -> object:
    """Control characters (but tab and line breaks) to spaces, lone surrogates to U+FFFD,
    at most TEXT_MAX long; blank becomes None. Non-strings are left for pydantic to judge."""
    if not isinstance(value, str):
        return value
    cleaned = _SURROGATE.sub("\ufffd", _TEXT_CONTROL.sub(" ", value)).strip()[:TEXT_MAX].strip()
    return cleaned or None


def check_identifier(value: str) -> str:
    """Refuse what no platform's id holds and what PostgreSQL would refuse."""
    if _CONTROL.search(value) or _SURROGATE.search(value):
        raise ValueError("an identifier may not hold control characters or lone surrogates")
    return value


CleanText = Annotated[str | None, BeforeValidator(clean_text)]
Identifier = Annotated[
    str, Field(min_length=1, max_length=ID_MAX), AfterValidator(check_identifier)
]

__all__ = ["ID_MAX", "TEXT_MAX", "CleanText", "Identifier", "check_identifier", "clean_text"]
