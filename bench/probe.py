"""What a benchmark reads from the running stack besides its own answers: the worker's
Prometheus metrics (PUNCHCARD_METRICS_BIND) and the memory and CPU of each process."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


@dataclass(frozen=True)
class Metrics:
    """One scrape: (metric name, label text) → value."""

    samples: dict[tuple[str, str], float]

    def total(self, name: str, **labels: str) -> float:
        """Sum of every sample of `name` whose labels include `labels`."""
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        return sum(
            value
            for (metric, text), value in self.samples.items()
            if metric == name and all(w in text for w in wanted)
        )

    def names(self, prefix: str = "") -> list[str]:
        return sorted({name for name, _ in self.samples if name.startswith(prefix)})


async def scrape(http: httpx.AsyncClient, url: str) -> Metrics:
    """Parse the Prometheus text format (enough of it: name, labels, value)."""
    response = await http.get(url, timeout=5.0)
    response.raise_for_status()
    samples: dict[tuple[str, str], float] = {}
    for line in response.text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        with contextlib.suppress(ValueError):
            samples[(match[1], match[2] or "")] = float(match[3])
    return Metrics(samples)


def histogram_mean_ms(before: Metrics, after: Metrics, name: str, **labels: str) -> float | None:
    """Mean of a histogram over the interval between two scrapes (the SDK reports ms)."""
    count = after.total(f"{name}_count", **labels) - before.total(f"{name}_count", **labels)
    if count <= 0:
        return None
    total = after.total(f"{name}_sum", **labels) - before.total(f"{name}_sum", **labels)
    return total / count


def histogram_share_over(
    before: Metrics, after: Metrics, name: str, le: str, **labels: str
) -> float | None:
    """Share of the interval's observations above the bucket bound `le` (e.g. "100")."""
    count = after.total(f"{name}_count", **labels) - before.total(f"{name}_count", **labels)
    if count <= 0:
        return None
    within = after.total(f"{name}_bucket", le=le, **labels) - before.total(
        f"{name}_bucket", le=le, **labels
    )
    return 1 - within / count


@dataclass(frozen=True)
class ProcessSample:
    rss_mb: float  # PSS where the kernel reports it (shared pages split between processes)
    cpu_s: float


def sample(pid: int, *, with_children: bool) -> ProcessSample | None:
    """Memory and CPU time of one process, or of it and its descendants (PostgreSQL's
    backends). None when it is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root, *(root.children(recursive=True) if with_children else [])]
        memory = cpu = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                try:
                    full = proc.memory_full_info()
                    memory += getattr(full, "pss", full.rss)
                except psutil.AccessDenied:
                    memory += proc.memory_info().rss
                times = proc.cpu_times()
                cpu += times.user + times.system
    except psutil.NoSuchProcess:
        return None
    return ProcessSample(rss_mb=memory / 2**20, cpu_s=cpu)


def sample_all(pids: dict[str, int]) -> dict[str, ProcessSample]:
    """Each named process; PostgreSQL with its backends, the others alone (`up`'s children
    are Temporal and PostgreSQL, sampled on their own)."""
    out: dict[str, ProcessSample] = {}
    for name, pid in pids.items():
        found = sample(pid, with_children=name.startswith("postgres"))
        if found is not None:
            out[name] = found
    return out


def cpu_between(
    before: dict[str, ProcessSample], after: dict[str, ProcessSample], seconds: float
) -> dict[str, dict[str, Any]]:
    """CPU seconds each process used in an interval, and as a share of one core."""
    out: dict[str, dict[str, Any]] = {}
    for name, end in after.items():
        start = before.get(name)
        used = end.cpu_s - (start.cpu_s if start else 0.0)
        out[name] = {
            "cpu_s": round(used, 1),
            "cores": round(used / seconds, 2) if seconds > 0 else 0.0,
            "rss_mb": round(end.rss_mb, 1),
        }
    return out


@dataclass
class SlotWatch:
    """The worker's busy slots, scraped every `every` seconds while a load runs: a
    workflow-task column stuck at its maximum means tasks queue for the worker."""

    url: str
    every: float = 1.0
    samples: list[dict[str, float]] = field(default_factory=list)

    async def run(self, http: httpx.AsyncClient) -> None:
        start = time.monotonic()
        while True:
            with contextlib.suppress(httpx.HTTPError):
                now = await scrape(http, self.url)
                used = "temporal_worker_task_slots_used"
                self.samples.append(
                    {
                        "t": round(time.monotonic() - start, 1),
                        "workflow": now.total(used, worker_type="WorkflowWorker"),
                        "local_activity": now.total(used, worker_type="LocalActivityWorker"),
                        "activity": now.total(used, worker_type="ActivityWorker"),
                        "cached": now.total("temporal_sticky_cache_size"),
                    }
                )
            await asyncio.sleep(self.every)

    def last(self) -> str:
        if not self.samples:
            return ""
        s = self.samples[-1]
        return (
            f"slots busy: workflow {s['workflow']:.0f}, local activity "
            f"{s['local_activity']:.0f}, activity {s['activity']:.0f}"
        )

    def summary(self, capacity: dict[str, float]) -> dict[str, Any]:
        """Per slot kind: mean busy, and the share of samples at capacity."""
        out: dict[str, Any] = {"samples": len(self.samples)}
        for kind, cap in capacity.items():
            values = [s[kind] for s in self.samples]
            if values:
                out[kind] = {
                    "capacity": cap,
                    "mean_busy": round(sum(values) / len(values), 1),
                    "share_at_capacity": round(sum(v >= cap for v in values) / len(values), 2),
                }
        return out


async def server_metrics_url(http: httpx.AsyncClient, pid: int | None) -> str | None:
    """The Temporal dev server's own Prometheus endpoint: `start-dev` opens one on a free
    port (`--metrics-port`); found among the ports the process listens on."""
    if pid is None:
        return None
    try:
        ports = sorted(
            {
                c.laddr.port
                for c in psutil.Process(pid).net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN
            }
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    for port in ports:
        url = f"http://127.0.0.1:{port}/metrics"
        with contextlib.suppress(httpx.HTTPError):
            response = await http.get(url, timeout=2.0)
            if response.status_code == 200 and "persistence_requests" in response.text:
                return url
    return None


def persistence(before: Metrics, after: Metrics, seconds: float, per: int) -> dict[str, Any]:
    """The dev server's persistence (one SQLite connection, one history shard) over an
    interval: operations per unit of work, their mean latency (queueing for the connection
    included), and the time spent in them per second of the interval."""
    ops: dict[str, list[float]] = {}
    for (name, labels), value in after.samples.items():
        if name not in ("persistence_latency_count", "persistence_latency_sum"):
            continue
        operation = re.search(r'operation="([^"]+)"', labels)
        if operation is None:
            continue
        delta = value - before.samples.get((name, labels), 0.0)
        slot = ops.setdefault(operation[1], [0.0, 0.0])
        slot[0 if name.endswith("_count") else 1] += delta
    total_count = sum(c for c, _ in ops.values())
    total_s = sum(s for _, s in ops.values())  # the server's timers are in seconds
    top = sorted(ops.items(), key=lambda kv: -kv[1][1])[:8]
    return {
        "operations_per_unit": round(total_count / per, 1) if per else None,
        "mean_latency_ms": round(total_s * 1000 / total_count, 2) if total_count else None,
        "seconds_per_unit": round(total_s / per, 3) if per else None,
        "busy_per_second": round(total_s / seconds, 2) if seconds else None,
        "top_by_time": {
            op: {"per_unit": round(c / per, 2), "mean_ms": round(s * 1000 / c, 2) if c else None}
            for op, (c, s) in top
        },
    }
