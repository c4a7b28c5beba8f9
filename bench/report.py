"""The printed table and bench/results/latest.json: the same figures, for people and tools."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import Run

RESULTS_DIR = Path(__file__).parent / "results"
RESULTS = RESULTS_DIR / "latest.json"  # the last redemptions run, whatever its integrations


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'':<24}{'updates':>9}{'seconds':>9}{'updates/s':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['name']:<24}{r['updates']:>9}{r['seconds']:>9.2f}{r['updates_per_s']:>11.1f}"
            f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['max_ms']:>9.1f}"
        )
    return "\n".join(lines)


def cpu_table(rows: list[dict[str, Any]]) -> str:
    """CPU milliseconds per update by process: what one update costs, whatever the noise."""
    roles = ("python", "temporal", "postgres", "stand-ins", "total")
    lines = [f"{'cpu ms per update':<24}" + "".join(f"{role:>11}" for role in roles)]
    for r in rows:
        cpu = r.get("cpu_ms_per_update") or {}
        lines.append(f"{r['name']:<24}" + "".join(f"{cpu.get(role, 0):>11.1f}" for role in roles))
    return "\n".join(lines)


def report(
    punchcard: Run,
    bare: Run,
    *,
    yardsticks: list[Run],
    config: dict[str, int],
    environment: dict[str, Any],
    ledger: dict[str, Any],
    integrations: dict[str, Any],
    problems: list[str],
    name: str,
) -> bool:
    """Print the table, the ratios and the audit, write the JSON; True when nothing failed.

    The figures go to bench/results/<name>.json and latest.json. They are written even
    when the audit failed (marked `"ok": false`), so a broken run can be looked into, but
    the verdict says they do not count.
    """
    rows = [punchcard.row(), bare.row(), *(run.row() for run in yardsticks)]
    fast = rows[1]
    throughput = rows[0]["updates_per_s"] / fast["updates_per_s"] if fast["updates_per_s"] else 0
    p99 = rows[0]["p99_ms"] / fast["p99_ms"] if fast["p99_ms"] else 0
    redemptions = config["redemptions"]
    print()
    print(table(rows))
    print(f"punchcard/bare: throughput {throughput:.2f}x, p99 latency {p99:.2f}x")
    for row in rows[2:]:
        ratio = row["updates_per_s"] / fast["updates_per_s"] if fast["updates_per_s"] else 0
        row["throughput_vs_bare"] = round(ratio, 3)
        print(
            f"{row['name']}/bare: throughput {ratio:.2f}x, p99 latency "
            f"{row['p99_ms'] / fast['p99_ms'] if fast['p99_ms'] else 0:.2f}x"
        )
    print(cpu_table(rows))
    print(
        f"ledger: {ledger['redemption_rows']}/{redemptions} redemption rows, complete "
        f"{ledger['lag_after_last_ack_ms']:.0f} ms after the last ack; confirmations "
        f"{ledger['confirmations']}/{2 * redemptions} recorded "
        f"{ledger['confirmations_after_last_ack_ms']:.0f} ms after; balances checked for "
        f"{config['packages']} packages of {config['units_per_package']} sessions; "
        f"every effect settled {ledger['effects_settled_after_last_ack_ms']:.0f} ms after"
    )
    print(
        f"integrations: {environment['integrations']}\nmessages: "
        + ", ".join(f"{kind} {count}" for kind, count in ledger["messages"].items())
    )
    received = {k: v for k, v in integrations.items() if k not in ("level", "messages")}
    if received:
        print("stand-ins received: " + ", ".join(f"{k} {v}" for k, v in received.items()))
    figures = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "environment": environment,
        "rows": rows,
        "ratio": {"throughput": round(throughput, 3), "p99": round(p99, 3)},
        "ledger": ledger,
        "integrations": integrations,
        "ok": not problems,
        "problems": problems,
    }
    path = write_results(name, figures)
    RESULTS.write_text(path.read_text())
    print(f"figures written to {path} (and {RESULTS.name})")
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s); these figures do not count:", file=sys.stderr)
        for problem in problems[:20]:
            print(f"  {problem}", file=sys.stderr)
        return False
    print(
        "verified: every acknowledged redemption is in the ledger, every balance adds up, "
        "and every provider stand-in received each effect exactly once"
    )
    return True


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """bench/results/<name>.json (git-ignored)."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return path
