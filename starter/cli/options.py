"""Options shared by several commands, declared once so help text stays consistent."""

from __future__ import annotations

from typing import Annotated

import typer

Actor = Annotated[
    str | None, typer.Option("--actor", help="Who is acting, for the audit trail (default: $USER).")
]
Key = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Idempotency key; the default is derived from the action (e.g. complete:<appointment>), "
        "so repeating a command changes nothing.",
    ),
]
Appointment = Annotated[
    str, typer.Option("--appointment", "-a", help="The booking platform's appointment id.")
]
Reason = Annotated[str, typer.Option("--reason", help="Why, for the audit trail.")]
Provider = Annotated[str | None, typer.Option("--provider", help="Provider id who saw the client.")]
