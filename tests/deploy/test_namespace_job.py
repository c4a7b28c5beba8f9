"""The compose namespace job registers every search attribute the workflows upsert, and a
worker on a namespace without them refuses to start, saying how to register them.

The script runs for real (sh + the temporal CLI) against the session's dev server, on a
namespace of its own; the static check is also run on a broken copy of the script.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from workers.search_attributes import (
    MissingSearchAttributes,
    check_search_attributes,
    register_search_attributes,
)
from workers.settings import Settings
from workers.worker import build_worker
from workflows import visibility

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "temporal" / "create-namespace.sh"
SPEC = re.compile(r"^\s*(Punchcard[A-Za-z]+)=([A-Za-z]+)\b", re.MULTILINE)


def created_by(script: str) -> dict[str, str]:
    return dict(SPEC.findall(script))


def missing_from(script: str) -> dict[str, str]:
    wanted = {key.name: visibility.cli_type(key) for key in visibility.ALL_KEYS}
    have = created_by(script)
    return {name: kind for name, kind in wanted.items() if have.get(name) != kind}


def test_the_script_creates_every_key_of_the_python_module() -> None:
    script = SCRIPT.read_text()
    assert missing_from(script) == {}
    broken = script.replace("PunchcardGoodThrough=Datetime", "PunchcardGoodThrough=Keyword")
    assert missing_from(broken) == {"PunchcardGoodThrough": "Datetime"}


async def _namespace_client(env: WorkflowEnvironment, namespace: str) -> Client:
    return await Client.connect(env.client.service_client.config.target_host, namespace=namespace)


async def _bare_namespace(env: WorkflowEnvironment, namespace: str) -> None:
    await env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace,
            workflow_execution_retention_period=Duration(seconds=86_400),
        )
    )


async def test_the_job_registers_them_and_the_worker_checks(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    address = temporal_env.client.service_client.config.target_host
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "NAMESPACE": namespace,
        "NAMESPACE_RETENTION": "1d",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }

    def run_job() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120
        )

    # A bare namespace (the job's first half only): the worker refuses, naming the fix.
    await _bare_namespace(temporal_env, namespace)
    client = await _namespace_client(temporal_env, namespace)
    with pytest.raises(MissingSearchAttributes) as refused:
        async with build_worker(settings, client):
            pytest.fail("a worker started on a namespace without the search attributes")
    message = str(refused.value)
    for key in visibility.ALL_KEYS:
        assert (
            f"temporal operator search-attribute create --namespace {namespace} "
            f"--name {key.name} --type {visibility.cli_type(key)}"
        ) in message

    first = await asyncio.to_thread(run_job)
    assert first.returncode == 0, first.stdout + first.stderr
    again = await asyncio.to_thread(run_job)  # the job may run on every `docker compose up`
    assert again.returncode == 0, again.stdout + again.stderr
    await check_search_attributes(client, namespace)


async def test_up_adds_what_an_older_namespace_lacks(temporal_env: WorkflowEnvironment) -> None:
    """`punchcard up` on a data directory from before the attributes (start-dev registers
    them only in a new SQLite file) adds them once the server is up."""
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    client = await _namespace_client(temporal_env, namespace)
    await _bare_namespace(temporal_env, namespace)
    with pytest.raises(MissingSearchAttributes):
        await check_search_attributes(client, namespace)
    added = await register_search_attributes(client, namespace)
    assert added == sorted(key.name for key in visibility.ALL_KEYS)
    await check_search_attributes(client, namespace)
    assert await register_search_attributes(client, namespace) == []
