"""What a delivery may hold, checked before anything is looked up, logged or stored.

Every JSON body that reaches Punchcard (provider webhooks and the staff API) is read by
`read_json`: strict UTF-8, at most `MAX_DEPTH` levels of nesting, integers of at most
`MAX_INT_DIGITS` digits, finite numbers only, strings of at most `MAX_STRING` characters
with no control characters (tab, newline and carriage return excepted) and no lone
surrogates. Each check is linear in the body, so a hostile body costs what its size costs.

Errors, all `BodyRefused`:

    400  not UTF-8, not JSON, nested deeper than MAX_DEPTH
    422  a number out of range, a string too long or holding a control character (the
         path of the value is named)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32
MAX_INT_DIGITS = 18  # every value we store fits PostgreSQL's bigint
MAX_STRING = 16_384
MAX_ID = 150  # VisitEvent.event_key's limit: message keys stay under PostgreSQL's index limit
SHOWN = 40  # characters of a refused value echoed back in a reason

# C0 controls but tab, newline and carriage return; DEL; UTF-16 surrogates (a JSON
# "\ud800" escape decodes to one, and it cannot be encoded to UTF-8 for storage).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class BodyRefused(Exception):
    """A body we refuse. `status` is the HTTP status to answer; str() names the problem."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Unbounded:
    """A number JSON holds but we refuse: kept as a marker until the walk names its path."""

    def __init__(self, what: str) -> None:
        self.what = what


def shown(value: str, limit: int = SHOWN) -> str:
    """`value` as it may appear in a reason: quoted, control characters escaped, cut short."""
    cut = value[:limit]
    text = repr(cut)
    return text if len(value) <= limit else f"{text}… ({len(value)} characters)"


def control_character(text: str) -> str | None:
    """The first control character in `text` as `U+XXXX`, or None."""
    found = CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def _bounded_int(text: str) -> int | _Unbounded:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Unbounded(f"an integer of {digits} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite_float(text: str) -> float | _Unbounded:
    if len(text) > 64:
        return _Unbounded(f"a number written with {len(text)} characters")
    value = float(text)
    if not math.isfinite(value):
        return _Unbounded(f"{shown(text)}, which is not a finite number")
    return value


def _no_constant(text: str) -> _Unbounded:
    return _Unbounded(f"{text}, which JSON does not allow")


def read_json(body: bytes, where: str) -> Any:
    """`body` decoded as bounded JSON; `where` prefixes every reason (e.g. "stripe").

    Raises:
        BodyRefused: 400 or 422 naming the problem (see the module docstring).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BodyRefused(
            400, f"{where}: body is not JSON (not UTF-8 at byte {err.start})"
        ) from None
    try:
        value = json.loads(
            text,
            parse_int=_bounded_int,
            parse_float=_finite_float,
            parse_constant=_no_constant,
        )
    except RecursionError:
        raise BodyRefused(400, f"{where}: body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise BodyRefused(400, f"{where}: body is not JSON ({_first_line(err)})") from None
    check_value(value, where)
    return value


def check_value(value: Any, where: str) -> None:
    """Depth, string lengths and characters of an already decoded JSON value.

    Raises:
        BodyRefused: 400 when nested too deep, 422 naming the path of a bad string.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise BodyRefused(400, f"{where}: body nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            _check_text(item, path, where)
        elif isinstance(item, _Unbounded):
            raise BodyRefused(422, f"{where}: {path_text(path)} is out of range: {item.what}")
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, (*path, key), where, is_key=True)
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))


def _check_text(
    text: str, path: tuple[str | int, ...], where: str, *, is_key: bool = False
) -> None:
    what = f"the name {shown(text)}" if is_key else path_text(path)
    if len(text) > MAX_STRING:
        raise BodyRefused(
            422, f"{where}: {what} is longer than {MAX_STRING} characters ({len(text)})"
        )
    bad = control_character(text)
    if bad is not None:
        raise BodyRefused(422, f"{where}: {what} holds the control character {bad}")


def path_text(path: tuple[str | int, ...]) -> str:
    """`data.object.items[2].name`; long names are cut so a reason stays one short line."""
    parts = [f"[{p}]" if isinstance(p, int) else repr(p[:SHOWN])[1:-1] for p in path]
    return ".".join(parts).replace(".[", "[") or "body"


def _first_line(err: ValueError) -> str:
    return str(err).splitlines()[0][:200]
