"""What the project's source files import, read with `ast` (nothing is imported or run).

Shared by the layer test (`tests/test_layers.py`: which way imports run) and the image
check (`tests/deploy/test_dockerfile.py`: every run-time import is a declared dependency).
Every import counts, at any depth: inside functions and classes, under `if TYPE_CHECKING`
(flagged), inside `with workflow.unsafe.imports_passed_through()`, and
`importlib.import_module("…")` / `__import__("…")` with a literal name. Relative imports
are resolved against the file's package.
"""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    """One imported module: `from a.b import c` is `a.b`, `from . import x` its package."""

    line: int
    module: str  # absolute and dotted
    statement: str  # as written, for messages
    type_checking: bool = False  # under `if TYPE_CHECKING:`, never run

    @property
    def top(self) -> str:
        return self.module.partition(".")[0]


def package_of(path: str) -> str:
    """The package a repo-relative file belongs to: `workflows/book/rules.py` and
    `workflows/book/__init__.py` are both in `workflows.book`."""
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1])


def imports(source: str, path: str) -> list[Import]:
    """Every import in `source` (the file at repo-relative `path`), in line order.

    Raises:
        ImportError: a relative import climbs above the top-level package.
    """
    package = package_of(path)
    found: list[Import] = []

    def visit(node: ast.AST, type_checking: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                visit(statement, True)
            for statement in node.orelse:
                visit(statement, type_checking)
            return
        written = ast.unparse(node) if isinstance(node, ast.Import | ast.ImportFrom) else ""
        if isinstance(node, ast.Import):
            found.extend(Import(node.lineno, a.name, written, type_checking) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = "." * node.level + (node.module or "")
            try:
                module = importlib.util.resolve_name(name, package) if node.level else name
            except ImportError:
                raise ImportError(
                    f"{path}:{node.lineno}: `{written}` climbs above the top-level package"
                ) from None
            found.append(Import(node.lineno, module, written, type_checking))
        elif isinstance(node, ast.Call) and _dynamic(node):
            argument = node.args[0]
            assert isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            found.append(Import(node.lineno, argument.value, ast.unparse(node), type_checking))
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking)

    visit(ast.parse(source, filename=path), False)
    return sorted(found, key=lambda i: i.line)


def _dynamic(call: ast.Call) -> bool:
    """`importlib.import_module("x")`, `import_module("x")` or `__import__("x")`."""
    name = ast.unparse(call.func)
    return (
        name in ("importlib.import_module", "import_module", "__import__")
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
        and not call.args[0].value.startswith(".")
    )


def project_packages() -> list[str]:
    """The packages `pip install .` ships (pyproject's find.include, without the `*`)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]


def project_sources() -> dict[str, str]:
    """Repo-relative path -> source, for every .py file in the shipped packages."""
    return {
        path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8")
        for package in project_packages()
        for path in sorted((REPO / package).rglob("*.py"))
    }
