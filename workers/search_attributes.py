"""The namespace must know Punchcard's search attributes before a worker takes work.

A package workflow upserts them; on a namespace without them every workflow task fails
with `BadSearchAttributes` and packages stall silently. So the worker checks at start and
refuses to run, saying how to register them. `punchcard up` registers them itself (the dev
server's `--search-attribute` flags only apply to a fresh SQLite file); on a cluster the
compose namespace job (`deploy/temporal/create-namespace.sh`) or an operator does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from workflows.visibility import ALL_KEYS, cli_type, registration_commands

log = logging.getLogger("punchcard.worker")

# A namespace API key (Temporal Cloud) may not list attributes: then the check is skipped
# with a warning rather than stopping a worker that may be fine.
_CANNOT_TELL = (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED)


class MissingSearchAttributes(RuntimeError):
    """The namespace lacks (or mistypes) some of Punchcard's search attributes."""

    def __init__(self, namespace: str, missing: Sequence[SearchAttributeKey[Any]]) -> None:
        names = ", ".join(f"{k.name} ({cli_type(k)})" for k in missing)
        commands = "\n  ".join(registration_commands(namespace, missing))
        super().__init__(
            f"Temporal namespace {namespace!r} lacks Punchcard's search attributes {names}; "
            "package workflows would fail every task until they exist. Register them "
            f"(once per namespace):\n  {commands}\n"
            "(`punchcard up` and the docker-compose `temporal-namespace` job do this.)"
        )
        self.missing = list(missing)


async def missing_search_attributes(
    client: Client, namespace: str
) -> list[SearchAttributeKey[Any]] | None:
    """The keys the namespace lacks or holds with another type; None if it cannot tell."""
    try:
        known = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as err:
        if err.status in _CANNOT_TELL:
            return None
        raise
    have = {**known.system_attributes, **known.custom_attributes}
    return [k for k in ALL_KEYS if have.get(k.name) != int(k.indexed_value_type)]


async def check_search_attributes(client: Client, namespace: str) -> None:
    """Raise MissingSearchAttributes unless every key is registered with its type."""
    missing = await missing_search_attributes(client, namespace)
    if missing is None:
        log.warning(
            "cannot list the search attributes of namespace %s (no permission): assuming "
            "%s are registered",
            namespace,
            ", ".join(k.name for k in ALL_KEYS),
        )
        return
    if missing:
        raise MissingSearchAttributes(namespace, missing)


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add whichever keys are missing (dev server / operator use); returns their names.

    A key registered with another type is not changed: the check then still fails, naming it.
    """
    missing = await missing_search_attributes(client, namespace)
    if not missing:
        return []
    known = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    have = {**known.system_attributes, **known.custom_attributes}
    add = {
        k.name: IndexedValueType.ValueType(k.indexed_value_type)
        for k in missing
        if k.name not in have
    }
    if add:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=add)
        )
    return sorted(add)
