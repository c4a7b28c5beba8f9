"""Visits matched to the package sessions that could pay for them, per client."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence


def unserved(visits: dict[str, int], pools: Sequence[tuple[frozenset[str], int]]) -> dict[str, int]:
    """Visits per category that no package could have covered.

    A maximum matching of visits to package sessions (augmenting paths, one unit at a
    time; the graphs are one client's few packages), so a package covering several
    categories lends each session once. Categories are served in name order.
    """
    left = dict(visits)
    room = [units for _, units in pools]
    flow: dict[tuple[str, int], int] = defaultdict(int)
    for category in sorted(visits):
        while left[category] > 0:
            found = _augmenting_path(category, pools, room, flow)
            if found is None:
                break
            steps, full_stop = found
            for edge, change in steps:
                flow[edge] += change
            room[full_stop] -= 1
            left[category] -= 1
    return left


Edge = tuple[str, int]  # (category, package index)


def _augmenting_path(
    source: str,
    pools: Sequence[tuple[frozenset[str], int]],
    room: Sequence[int],
    flow: dict[Edge, int],
) -> tuple[list[tuple[Edge, int]], int] | None:
    """Breadth-first: category -> a package covering it -> if that package is full, a
    category it serves, whose visit may move to another package -> ... -> a package with
    room. Returns the flow changes along the path and the package that takes the unit."""
    parent: dict[int, tuple[str, int | None]] = {}  # package -> (category, package before)
    queue: list[tuple[str, int | None]] = [(source, None)]
    seen = {source}
    while queue:
        category, via = queue.pop(0)
        for pkg, (covers, _) in enumerate(pools):
            if category not in covers or pkg in parent:
                continue
            parent[pkg] = (category, via)
            if room[pkg] > 0:
                return _trace(pkg, parent), pkg
            for (other, served_by), amount in list(flow.items()):
                if served_by == pkg and amount > 0 and other not in seen:
                    seen.add(other)
                    queue.append((other, pkg))
    return None


def _trace(last: int, parent: dict[int, tuple[str, int | None]]) -> list[tuple[Edge, int]]:
    steps: list[tuple[Edge, int]] = []
    pkg: int | None = last
    while pkg is not None:
        category, previous = parent[pkg]
        steps.append(((category, pkg), +1))  # the category now uses this package
        if previous is not None:
            steps.append(((category, previous), -1))  # ...instead of the one before
        pkg = previous
    return steps
