"""CPU time per update, by process: steadier than throughput on a shared, noisy machine.

The machine's other tenants change how fast a run goes, much less how much CPU one update
costs. So each side of a benchmark also reports the CPU seconds its load took in:

    python      this process: the load driver, the API, the workers and their activities
    temporal    the Temporal dev server
    postgres    every PostgreSQL process of the run's data directory
    stand-ins   the provider stand-ins' process (none when no stand-in ran)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]


@dataclass
class CpuMeter:
    """Sums user+system CPU of the run's processes; `take()` gives a snapshot by role."""

    pgdata: Path
    stand_ins_pid: int | None = None
    _me: psutil.Process = field(default_factory=psutil.Process)

    def _roles(self) -> dict[str, list[psutil.Process]]:
        children = self._me.children(recursive=True)
        temporal = [p for p in children if _name(p).startswith("temporal")]
        stand_ins = [p for p in children if p.pid == self.stand_ins_pid]
        postgres = [p for p in psutil.process_iter() if _serves(p, self.pgdata)]
        postgres += [c for p in list(postgres) for c in _children(p)]
        return {
            "python": [self._me],
            "temporal": temporal,
            "postgres": postgres,
            "stand-ins": stand_ins,
        }

    def take(self) -> dict[str, float]:
        return {role: _cpu(procs) for role, procs in self._roles().items()}


def per_update(before: dict[str, float], after: dict[str, float], updates: int) -> dict[str, float]:
    """CPU milliseconds per update, by role, and their total."""
    spent = {role: (after[role] - before.get(role, 0.0)) * 1000 / max(updates, 1) for role in after}
    spent["total"] = sum(spent.values())
    return {role: round(ms, 2) for role, ms in spent.items()}


def _cpu(procs: Iterable[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _name(proc: psutil.Process) -> str:
    try:
        return str(proc.name())
    except psutil.Error:
        return ""


def _serves(proc: psutil.Process, pgdata: Path) -> bool:
    try:
        return proc.name() == "postgres" and str(pgdata) in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return list(proc.children(recursive=True))
    except psutil.Error:
        return []
