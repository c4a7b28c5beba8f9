"""Reading raw Temporal history: every payload in it, wherever the event keeps it."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

# Never passed through the codec, by Temporal's design, and holding no client data:
# trace-context headers, search attributes (patch ids), and the SDK's own marker
# bookkeeping (patch ids; a local activity's sequence number and type — its result is
# under the marker's "result" key and is encrypted).
UNENCODED_FIELDS = frozenset({"header", "search_attributes"})
SDK_MARKER_KEYS = frozenset({"patch-data", "data"})


def payloads_of(history: WorkflowHistory) -> list[Payload]:
    """Every payload in the history that carries workflow data (see UNENCODED_FIELDS)."""
    found: list[Payload] = []
    for event in history.events:
        found.extend(_walk(event))
    return found


def _walk(message: Message) -> Iterator[Payload]:
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE or field.name in UNENCODED_FIELDS:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key, item in value.items():
                    if field.name == "details" and key in SDK_MARKER_KEYS:
                        continue
                    yield from _walk(item)
        elif field.is_repeated:
            for item in value:
                yield from _walk(item)
        else:
            yield from _walk(value)
