"""Driving a load of updates and measuring it, whatever the workflow behind them.

The punchcard and the bare-Temporal side of a benchmark go through this same code, so
any difference between their figures comes from the workflows, not the harness.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

POLL = 0.01

# One update: send `key` to the workflow or package `target`, return the number it
# answers with (remaining sessions, or the counter) for the ordering checks.
Send = Callable[[str, str], Awaitable[int]]


@dataclass
class Run:
    """What one driven load measured."""

    label: str
    latencies: list[float] = field(default_factory=list)  # seconds, one per acknowledged update
    answers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    last_ack: float = 0.0  # perf_counter() when the last update was acknowledged
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per update, by process

    def row(self) -> dict[str, Any]:
        ms = sorted(x * 1000 for x in self.latencies)
        return {
            "name": self.label,
            "updates": len(ms),
            "failed": len(self.errors),
            "seconds": round(self.seconds, 3),
            "updates_per_s": round(len(ms) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(ms, 50), 1),
            "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(ms[-1], 1) if ms else 0.0,
            "cpu_ms_per_update": self.cpu_ms,
        }


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile: a value that was really observed, never an interpolation."""
    if not ordered:
        return 0.0
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def plan(targets: list[str], updates: int, prefix: str) -> list[tuple[str, str]]:
    """Round-robin over the targets, one distinct key per update."""
    return [(targets[i % len(targets)], f"{prefix}-{i:06d}") for i in range(updates)]


async def drive(
    label: str,
    work: list[tuple[str, str]],
    send: Send,
    concurrency: int,
    *,
    progress: bool = True,
) -> Run:
    """Send every update with at most `concurrency` in flight, timing each one to its answer;
    with `progress`, print every tenth of the way."""
    run = Run(label)
    pending = iter(work)
    step = max(len(work) // 10, 1)
    done = 0
    start = perf_counter()

    async def lane() -> None:
        nonlocal done
        for target, key in pending:  # one shared iterator: each update is sent once
            began = perf_counter()
            try:
                answer = await send(target, key)
            except Exception as err:
                run.errors.append(f"{key} -> {target}: {type(err).__name__}: {err}")
            else:
                run.last_ack = perf_counter()
                run.latencies.append(run.last_ack - began)
                run.answers[target].append(answer)
            done += 1
            if progress and (done % step == 0 or done == len(work)):
                print(
                    f"  {label}: {done}/{len(work)} ({done * 100 // len(work)}%) "
                    f"in {perf_counter() - start:.1f}s",
                    flush=True,
                )

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(lane())
    run.seconds = perf_counter() - start
    return run


async def eventually(
    probe: Callable[[], Awaitable[int]],
    until: Callable[[int], bool],
    timeout: float,
    *,
    poll: float = POLL,
) -> int:
    """Poll until `until(probe())` holds or the timeout passes; the last value seen."""
    deadline = perf_counter() + timeout
    while True:
        seen = await probe()
        if until(seen) or perf_counter() >= deadline:
            return seen
        await asyncio.sleep(poll)


def check_answers(run: Run, work: list[tuple[str, str]], *, first: int, step: int) -> list[str]:
    """Each target's answers must be exactly first, first+step, … : none lost, none doubled."""
    problems = [f"update failed: {e}" for e in run.errors]
    sent: dict[str, int] = defaultdict(int)
    for target, _ in work:
        sent[target] += 1
    for target, count in sorted(sent.items()):
        expected = [first + step * i for i in range(count)]
        if sorted(run.answers.get(target, []), reverse=step < 0) != expected:
            problems.append(f"{run.label} {target}: answers do not run {first} by {step}")
    return problems
