"""The `punchcard` command: staff actions, read-only views and ops, in one Typer app.

`main()` is the console-script entry; it builds the app, and each command builds its own
settings and connections (none live at module level).
"""

from __future__ import annotations

import typer

from starter.cli import catalog, ops, sales, staff, views


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="punchcard",
        help="Punchcard: prepaid treatment packages on Temporal. See README.md.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals may hold DSNs and tokens
        add_completion=False,
    )
    ops.register(app)
    catalog.register(app)
    sales.register(app)
    staff.register(app)
    views.register(app)
    return app


def main() -> None:
    build_app()()
