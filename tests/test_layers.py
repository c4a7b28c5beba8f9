"""Which way imports run (STYLE.md): starter/ and workers/ → activities/ → workflows/.

workflows/ is the deterministic core the sandbox loads: it owns the activity contracts and
imports only the standard library, temporalio, pydantic and itself, so no I/O library,
settings object or other layer ever enters it. activities/ implements those contracts and
gets its configuration passed in: it never imports starter/ or workers/. workers/ never
imports starter/ (starter/ may import workers/, e.g. its settings). Nothing shipped imports
tests/ or bench/. Every import counts, however deep or guarded (`tests.imports`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

import pytest

from tests.imports import imports, project_packages, project_sources

LAYERS = ("workflows", "activities", "workers", "starter")
WORKFLOWS_MAY_IMPORT = frozenset(sys.stdlib_module_names) | {"temporalio", "pydantic", "workflows"}
WORKFLOWS_RULE = (
    "workflows/ imports only the standard library, temporalio, pydantic and workflows/ "
    "(the sandbox never sees I/O libraries, settings or another layer)"
)
DEV_ONLY = frozenset({"tests", "bench"})
NEVER: dict[str, tuple[frozenset[str], str]] = {
    "activities": (
        frozenset({"starter", "workers"}) | DEV_ONLY,
        "activities/ never imports starter/, workers/, tests/ or bench/ "
        "(it implements the workflows' contracts; configuration is passed in)",
    ),
    "workers": (
        frozenset({"starter"}) | DEV_ONLY,
        "workers/ never imports starter/, tests/ or bench/ (starter/ may import workers/)",
    ),
    "starter": (DEV_ONLY, "starter/ never imports tests/ or bench/ (they are not shipped)"),
}


def layer_violations(sources: Mapping[str, str]) -> list[str]:
    """One line per import that runs against the layers: `path:line: import — rule`."""
    problems = []
    for path, source in sources.items():
        layer = path.split("/")[0]
        for found in imports(source, path):
            if layer == "workflows":
                broken = None if found.top in WORKFLOWS_MAY_IMPORT else WORKFLOWS_RULE
            elif layer in NEVER:
                forbidden, rule = NEVER[layer]
                broken = rule if found.top in forbidden else None
            else:
                continue
            if broken is not None:
                guarded = " (under TYPE_CHECKING)" if found.type_checking else ""
                problems.append(f"{path}:{found.line}: `{found.statement}`{guarded} — {broken}")
    return problems


def test_imports_run_one_way() -> None:
    assert layer_violations(project_sources()) == []


def test_every_layer_is_read() -> None:
    """A checker that reads no files passes everything: each layer must be found, with the
    imports that tie it to the next one."""
    assert set(project_packages()) == set(LAYERS)
    sources = project_sources()
    for layer in LAYERS:
        assert any(path.startswith(f"{layer}/") for path in sources), layer
    seen = {
        (path.split("/")[0], found.top)
        for path, source in sources.items()
        for found in imports(source, path)
    }
    assert {("starter", "workers"), ("workers", "activities"), ("activities", "workflows")} <= seen


INVERTED = {
    "workflows/contract.py": (
        "from temporalio import workflow\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    import httpx\n"
        "    from activities.sales import SalePolicy\n"
    ),
    "workflows/book/rules.py": (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from .dates import next_midnight\n"
        "if TYPE_CHECKING:\n"
        "    from workers.settings import Settings\n"
    ),
    "activities/pay.py": (
        "import asyncpg\n"
        "from workflows import models\n"
        "def build():\n"
        "    from starter.cli import app\n"
        "    return app\n"
    ),
    "activities/lazy.py": "import importlib\nimportlib.import_module('workers.settings')\n",
    "workers/run.py": "from activities import sales\nfrom starter import packages\n",
    "starter/cli.py": "from workers.settings import Settings\nimport tests.fakes.stripe\n",
}


def test_inverted_imports_are_reported_with_file_line_and_rule() -> None:
    assert layer_violations(INVERTED) == [
        f"workflows/contract.py:3: `import httpx` — {WORKFLOWS_RULE}",
        f"workflows/contract.py:4: `from activities.sales import SalePolicy` — {WORKFLOWS_RULE}",
        "workflows/book/rules.py:5: `from workers.settings import Settings` (under "
        f"TYPE_CHECKING) — {WORKFLOWS_RULE}",
        f"activities/pay.py:4: `from starter.cli import app` — {NEVER['activities'][1]}",
        "activities/lazy.py:2: `importlib.import_module('workers.settings')` — "
        f"{NEVER['activities'][1]}",
        f"workers/run.py:2: `from starter import packages` — {NEVER['workers'][1]}",
        f"starter/cli.py:2: `import tests.fakes.stripe` — {NEVER['starter'][1]}",
    ]


def test_relative_imports_are_resolved_against_their_package() -> None:
    """A top-level package has no parent, so a relative import stays in its layer: it
    resolves there and passes. One that climbs out of the tree is an error, not a pass."""
    source = "from . import ids\nfrom ..models import Model\n"
    found = imports(source, "workflows/book/rules.py")
    assert [i.module for i in found] == ["workflows.book", "workflows.models"]
    assert layer_violations({"workflows/book/rules.py": source}) == []
    with pytest.raises(ImportError, match=r"workflows/rules.py:1: .* climbs above"):
        layer_violations({"workflows/rules.py": "from ..activities import sales\n"})
