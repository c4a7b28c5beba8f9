"""`punchcard up` as a user starts it, for benchmarks that need the whole embedded stack.

A real `punchcard up --no-demo` process on a temporary data directory and free ports (the
`--data-dir`, `--temporal-port`, `--ui-port` and `--api-port` flags), so several stacks
(other benchmarks, tests, a developer's own `make run`) can run side by side. Extra
configuration goes in as the PUNCHCARD_* environment a user would export; nothing else
of the caller's PUNCHCARD_* environment leaks in. The benchmark reaches the stack as
another terminal would: Temporal and PostgreSQL from DATA/run/stack.json, the API on its
port, and its own Temporal client with the same codec key.

Stopping is SIGINT, as Ctrl-C (worker, then Temporal, then PostgreSQL, in order); if it
does not finish in time, the children named in stack.json are stopped by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psutil  # type: ignore[import-untyped]
from pydantic import SecretStr

from starter.stackfile import read_stack
from workers.codec import generate_key
from workers.settings import Settings

PUNCHCARD = str(Path(sys.executable).with_name("punchcard"))
START_TIMEOUT = 180.0
STOP_TIMEOUT = 120.0


class StackFailed(Exception):
    """`punchcard up` did not start (or died); str() ends with the tail of its output."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class UpStack:
    """A running `punchcard up`: where to reach it, and its processes."""

    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    api_url: str
    metrics_url: str
    settings: Settings  # as a CLI in another terminal would see it (DSN, Temporal, codec)
    temporal_pid: int | None = None
    postgres_pid: int | None = None

    def pids(self) -> dict[str, int]:
        """The three processes whose memory and CPU a benchmark reports."""
        found = {"up (worker + API)": self.process.pid}
        if self.temporal_pid:
            found["temporal dev server"] = self.temporal_pid
        if self.postgres_pid:
            found["postgres (postmaster)"] = self.postgres_pid
        return found

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def extra_settings(pairs: list[str]) -> dict[str, str]:
    """`--env PUNCHCARD_X=Y`: worker tuning and the like, for experiments."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("PUNCHCARD_"):
            raise SystemExit(f"--env takes PUNCHCARD_NAME=VALUE, not {pair!r}")
        out[name] = value
    return out


def stack_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its PUNCHCARD_* settings, plus `extra`.

    PYTHONDONTWRITEBYTECODE is dropped too: an installed Punchcard has its bytecode (pip
    compiles it, the Docker image included), but an editable checkout under that variable
    has none, and the workflow sandbox imports the workflow's module afresh for every new
    workflow, so each visit would compile workflows/visit.py from source (py-spy: 11% of
    the worker process's samples in a burst). That would measure this shell, not Punchcard.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PUNCHCARD_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return env | extra


@contextlib.asynccontextmanager
async def punchcard_up(
    extra_env: dict[str, str] | None = None, *, keep: bool = False, label: str = "bench"
) -> AsyncIterator[UpStack]:
    """Start `punchcard up --no-demo` on a temporary directory and yield it once serving.

    `keep` leaves the data directory in place afterwards (its path is printed), to read
    histories or the server log after a surprising run."""
    tmp = Path(tempfile.mkdtemp(prefix=f"punchcard-{label}-"))
    data_dir = tmp / "data"
    ports = {"temporal": free_port(), "ui": free_port(), "api": free_port()}
    metrics_port = free_port()
    codec_keys = generate_key(label)
    env = stack_env(
        {
            "PUNCHCARD_CODEC_KEYS": codec_keys,
            "PUNCHCARD_METRICS_BIND": f"127.0.0.1:{metrics_port}",
            "PUNCHCARD_DATA_DIR": str(data_dir),
            **(extra_env or {}),
        }
    )
    log_path = tmp / "up.log"
    log: IO[bytes] = log_path.open("wb")
    args = [
        *(PUNCHCARD, "up", "--no-demo", "--data-dir", str(data_dir)),
        *("--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"])),
        *("--api-port", str(ports["api"])),
    ]
    print(f"starting: {' '.join(args[1:])}  (log {log_path})", flush=True)
    started = time.monotonic()
    process = _spawn(args, env, log)
    stack = UpStack(
        data_dir=data_dir,
        process=process,
        log_path=log_path,
        api_url=f"http://127.0.0.1:{ports['api']}",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        settings=Settings(
            temporal_address=f"127.0.0.1:{ports['temporal']}",
            codec_keys=SecretStr(codec_keys),
            data_dir=data_dir,
        ),
    )
    try:
        await _wait_serving(stack)
        print(f"punchcard up is serving after {time.monotonic() - started:.1f}s", flush=True)
        yield stack
    finally:
        await asyncio.to_thread(_stop, stack)
        log.close()
        if keep:
            print(f"kept {tmp} (data directory and up.log)", flush=True)
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


async def _wait_serving(stack: UpStack) -> None:
    """Until stack.json names the database and the API's /health says ok."""
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            if stack.process.poll() is not None:
                raise StackFailed(
                    f"punchcard up exited {stack.process.returncode}:\n{stack.tail()}"
                )
            if time.monotonic() > deadline:
                raise StackFailed(f"punchcard up not serving after {START_TIMEOUT:.0f}s")
            info = read_stack(stack.data_dir)
            if info is not None:
                with contextlib.suppress(httpx.HTTPError):
                    health = await http.get(f"{stack.api_url}/health")
                    if health.status_code == 200:
                        stack.settings = stack.settings.model_copy(
                            update={"database_url": SecretStr(info.database_url)}
                        )
                        stack.temporal_pid = info.temporal_pid
                        stack.postgres_pid = info.postgres_pid
                        return
            await asyncio.sleep(0.3)


def _spawn(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(stack: UpStack) -> None:
    """Ctrl-C, as a user stops it; by pid only what is still running after the timeout."""
    process = stack.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
            print("punchcard up stopped cleanly", flush=True)
            return
        except subprocess.TimeoutExpired:
            print(f"punchcard up did not stop in {STOP_TIMEOUT:.0f}s: killing", flush=True)
            process.kill()
            process.wait(10)
    for pid, sig in ((stack.temporal_pid, signal.SIGTERM), (stack.postgres_pid, signal.SIGINT)):
        if pid and psutil.pid_exists(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
