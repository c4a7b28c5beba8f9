"""`punchcard codec`: payload-encryption keys (see README, "Encryption of Temporal history")."""

from __future__ import annotations

from typing import Annotated

import typer

from starter.cli.runtime import fail
from workers.codec import KeyConfigError, generate_key

codec_app = typer.Typer(
    help="Keys that encrypt workflow payloads in Temporal history.", no_args_is_help=True
)


@codec_app.command("new-key")
def new_key(
    key_id: Annotated[
        str | None,
        typer.Option("--id", help="Key id stored beside each payload (default: k<date>-<random>)."),
    ] = None,
) -> None:
    """Print a fresh AES-256 key as kid:base64 — put it first in PUNCHCARD_CODEC_KEYS."""
    try:
        typer.echo(generate_key(key_id))
    except KeyConfigError as err:
        fail(str(err))
