"""Property-based run against the served OpenAPI document: no input makes any endpoint 5xx.

Schemathesis (its CLI, in a subprocess) generates requests for every operation, valid and
invalid, with a manager's token, against the real app on the real stack.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import uvicorn
from temporalio.client import Client

from activities.repository import Role, StaffMember, StaffRepository
from starter.api.app import create_app
from tests.workflows.conftest import Spa
from workers.settings import Settings

MAX_EXAMPLES = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served(
    settings: Settings, client: Client, pool: asyncpg.Pool, spa: Spa
) -> AsyncIterator[str]:
    port = _free_port()
    app = create_app(settings, client=client, pool=pool)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
        assert not task.done(), "the API did not start"
    await spa.sell("laser6")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_no_generated_input_makes_any_endpoint_fail_with_5xx(
    served: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    token = await StaffRepository(pool).add(
        StaffMember(staff_id="fuzz", name="Fuzz Manager", role=Role.MANAGER)
    )
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{served}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "20261121",
        # One worker: Python 3.11's ast.parse is not thread-safe (CPython gh-106905) and
        # hypothesis parses lambda sources while schemathesis generates in threads.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    (tmp_path / "schemathesis.txt").write_text(text)
    failures = text[text.find("FAILURES") :] if "FAILURES" in text else text[-4000:]
    assert process.returncode == 0, failures[:8000]
    checks = re.search(r"(\d+) passed\s+Seed", text) or re.search(r"(\d+) passed", text)
    assert checks is not None and int(checks.group(1)) > 500, text[-3000:]
