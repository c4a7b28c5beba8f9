"""`punchcard up` as a person runs it: a real process with its own Temporal and PostgreSQL.

Start it on a fresh data directory (non-default ports, given as flags), see the UI answer and the demo
listed by the CLI, stop it with SIGINT, start it again on the same directory and find
the same balances. Runs as whatever user runs the suite (root included).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import psutil
import pytest

from starter.stackfile import stack_path
from workflows import visibility

T = TypeVar("T")
PUNCHCARD = str(Path(sys.executable).with_name("punchcard"))
TEMPORAL = str(Path(sys.executable).with_name("temporal"))
DEMO_CLIENTS = ("ava", "ben", "chloe", "dan", "ella")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(probe: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Call `probe` until it returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s")
        time.sleep(0.2)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Stack:
    """One `punchcard up` process on a data directory, and the CLI pointed at it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHCARD_")}
        self.env |= {
            "PUNCHCARD_BOULEVARD_WEBHOOK_SECRET": "blvd-dev-secret",
            "PUNCHCARD_DATA_DIR": str(data_dir),
        }
        # As flags of `up` only: the CLI in "another terminal" finds Temporal by stack.json.
        self.ports = {"temporal": free_port(), "ui": free_port(), "api": free_port()}
        self.process: subprocess.Popen[str] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ui']}/"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(PUNCHCARD, "up", "--data-dir", str(self.data_dir)),
                *("--temporal-port", str(self.ports["temporal"])),
                *("--ui-port", str(self.ports["ui"]), "--api-port", str(self.ports["api"])),
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def temporal(self, *args: str) -> str:
        """The temporal CLI against this stack's server (a line per search attribute…)."""
        address = f"127.0.0.1:{self.ports['temporal']}"
        done = subprocess.run(
            [TEMPORAL, *args, "--address", address],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PUNCHCARD, *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def wait_serving(self) -> dict[str, int]:
        """Until the UI answers and the stack file names the children; returns their pids."""

        def ui_answers() -> bool:
            self._check_alive()
            try:
                return httpx.get(self.ui_url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        poll(ui_answers, timeout=60, what="the Temporal UI did not answer")
        info = poll(self._stack_info, timeout=30, what="stack.json was not written")
        return {"temporal": info["temporal_pid"], "postgres": info["postgres_pid"]}

    def balances(self) -> dict[str, str]:
        """`punchcard show` for every demo client, as package id → its row."""
        out: dict[str, str] = {}
        for client in DEMO_CLIENTS:
            shown = self.cli("show", client)
            assert shown.returncode == 0, shown.stderr
            out |= {line.split()[0]: line for line in shown.stdout.splitlines()[3:]}
        return out

    def interrupt(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, output
        return output

    def kill(self) -> None:
        """After a failed test: stop whatever this stack left running, by pid."""
        info = self._stack_info() or {}
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        postmaster = self.data_dir / "pg" / "postmaster.pid"
        pids = [(info.get("temporal_pid"), signal.SIGTERM)]
        if postmaster.exists():
            pids.append((int(postmaster.read_text().split()[0]), signal.SIGINT))  # fast stop
        for pid, sig in pids:
            if pid and not gone(pid):
                os.kill(pid, sig)

    def _stack_info(self) -> dict[str, int] | None:
        try:
            info: dict[str, int] = json.loads(stack_path(self.data_dir).read_text())
        except (OSError, ValueError):
            return None
        return info

    def _check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            output, _ = self.process.communicate()
            raise AssertionError(f"punchcard up exited {self.process.returncode}:\n{output}")


BOULEVARD_COMPLETION = {
    "apiApplicationId": "5b0e7c1a-0000-4000-8000-000000000001",
    "businessId": "9d2f4a10-0000-4000-8000-0000000000aa",
    "event": "APPOINTMENT_COMPLETED",
    "eventType": "APPOINTMENT_COMPLETED",
    "idempotencyKey": "0f6c1f7e-2b1d-4c55-9e9c-3f1a2b3c4d5e",
    "resource": "Appointment",
    "timestamp": "2026-03-14T18:05:11.204Z",
    "webhookId": "urn:blvd:Webhook:7a7a7a7a-0000-4000-8000-000000000003",
    "data": {
        "node": {
            "__typename": "Appointment",
            "id": "urn:blvd:Appointment:3c1d2e4f-0000-4000-8000-000000000010",
            "clientId": "urn:blvd:Client:8e8e8e8e-0000-4000-8000-000000000020",
            "startAt": "2026-03-14T17:00:00-05:00",
            "endAt": "2026-03-14T17:45:00-05:00",
            "cancellation": None,
            "appointmentServices": [{"service": {"name": "Laser Hair Removal - Underarm"}}],
        }
    },
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack(tmp_path / "data")
    try:
        yield running
    finally:
        running.kill()


@pytest.mark.timeout(120)
def test_up_serves_stops_and_resumes(stack: Stack) -> None:
    stack.start()
    children = stack.wait_serving()
    first = stack.balances()
    assert len(first) == 6
    assert "4/6" in first["demo-ava-laser"]
    assert "0/2" in first["demo-couples-1"] and "ZERO BALANCE" in first["demo-couples-1"]

    # The README's walkthrough: a signed Boulevard completion, delivered twice, counts once.
    assert httpx.get(f"{stack.api_url}/health", timeout=5).json()["status"] == "ok"
    webhook = stack.data_dir.parent / "completed.json"
    webhook.write_text(json.dumps(BOULEVARD_COMPLETION))
    for expected in ("accepted", "duplicate"):
        sent = stack.cli("webhook", "send", "boulevard", str(webhook), "--url", stack.api_url)
        assert sent.returncode == 0 and expected in sent.stdout, sent.stdout + sent.stderr
    poll(lambda: "3/6" in stack.balances()["demo-ava-laser"], timeout=20, what="no decrement")

    done = stack.cli("complete", "demo-ava-laser", "--appointment", "appt-test")
    assert done.returncode == 0, done.stderr

    # The UI has the codec endpoint preset; ops can list packages by client.
    ui_settings = httpx.get(f"{stack.ui_url}api/v1/settings", timeout=5).json()
    codec = f"http://localhost:{stack.ports['api']}/codec"
    assert ui_settings["Codec"]["Endpoint"] == codec
    registered = stack.temporal("operator", "search-attribute", "list")
    for key in visibility.ALL_KEYS:
        assert re.search(rf"\b{key.name}\s+{visibility.cli_type(key)}\b", registered), registered
    query = 'PunchcardClientIds = "ava"'
    poll(
        lambda: "demo-ava-laser" in stack.temporal("workflow", "list", "--query", query),
        timeout=20,
        what="ava's packages were not listed by search attribute",
    )

    output = stack.interrupt()
    assert "✓ PostgreSQL stopped" in output
    # The banner gives the UI's codec steps in the UI's own words.
    assert f"open {codec} and sign in" in output
    assert "Use my" in output and "browser setting and ignore Cluster-level setting." in output
    assert "'Include" in output and "cross-origin credentials'" in output
    assert all(gone(pid) for pid in children.values()), children
    assert not stack_path(stack.data_dir).exists()
    refused = stack.cli("show", "ava")
    assert refused.returncode == 1 and "punchcard up" in refused.stderr

    stack.start()
    stack.wait_serving()
    again = stack.balances()
    assert "2/6" in again.pop("demo-ava-laser")
    assert again == {k: v for k, v in first.items() if k != "demo-ava-laser"}
    assert "already loaded" in stack.interrupt()
