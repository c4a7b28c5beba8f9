"""The `punchcard` command: staff actions, read-only views and ops, in one Typer app.

`main()` is the console-script entry; it builds the app, and each command builds its own
settings and connections (none live at module level).
"""

from __future__ import annotations

import typer

from starter.cli import (
    catalog,
    intake,
    locations,
    moving_in,
    ops,
    reports,
    sales,
    staff,
    views,
)
from starter.cli.codec import codec_app
from starter.cli.usage import PunchcardGroup
from starter.cli.webhooks import webhook_app


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="punchcard",
        cls=PunchcardGroup,
        help="Punchcard: prepaid treatment packages on Temporal. See README.md.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals may hold DSNs and tokens
        add_completion=False,
    )
    ops.register(app)
    catalog.register(app)
    locations.register(app)
    sales.register(app)
    staff.register(app)
    views.register(app)
    intake.register(app)
    moving_in.register(app)
    reports.register(app)
    app.add_typer(webhook_app, name="webhook", rich_help_panel="Intake")
    app.add_typer(codec_app, name="codec", rich_help_panel="Run")
    return app


def main() -> None:
    build_app()()
