"""`punchcard import clients|packages` on the real stack: a job followed to its report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.worker import Worker

from starter.cli.moving_in import import_app
from tests.starter.test_cli import Cli, env_for, one_line_error
from tests.workflows.conftest import Spa
from workers.settings import Settings
from workflows import schedule


@pytest.fixture
def cli(settings: Settings, tmp_path: Path, worker: Worker) -> Cli:
    return Cli(env_for(settings, tmp_path))


def day(offset: int) -> str:
    today = datetime.now(UTC).astimezone(schedule.zone("America/New_York")).date()
    return (today + timedelta(days=offset)).isoformat()


async def test_clients_then_packages_with_a_dry_run_first(
    cli: Cli, spa: Spa, tmp_path: Path
) -> None:
    clients = tmp_path / "clients.csv"
    clients.write_text(
        "ID,First Name,Last Name,Mobile Phone,Email\n"
        "100200,Hana,Kim,212-555-0188,hana@example.com\n"
        "100201,,,,\n"
    )
    out = await cli.ok("import", "clients", str(clients), "--format", "mindbody", "--dry-run")
    assert out.startswith("Dry run, nothing changed. clients import cli_")
    assert "1 would create" in out and "1 refused" in out
    assert "  line 3: refused: no name" in out
    assert await spa.pool.fetchval("SELECT count(*) FROM clients WHERE name = 'Hana Kim'") == 0

    out = await cli.ok("import", "clients", str(clients), "--format", "mindbody")
    assert "done: 2 of 2 rows — 1 created" in out
    assert await spa.service.links.resolve("mindbody", "100200") is not None

    packages = tmp_path / "packages.csv"
    packages.write_text(
        "Client ID,Pricing Option,Sale Date,Expiration Date,Count,Remaining,Price\n"
        f"100200,Old Laser 6,{day(-90)},{day(90)},6,5,1800\n"
        f"100200,Mystery,{day(-90)},{day(90)},6,5,1800\n"
    )
    out = await cli.ok(
        "import", "packages", str(packages), "--format", "mindbody", "--type", "Old Laser 6=laser6"
    )
    assert "1 created" in out and "1 refused" in out
    assert "line 3: refused: unknown package type 'Mystery'" in out
    [balance] = await spa.ledger.balances_for_client(
        str(await spa.service.links.resolve("mindbody", "100200"))
    )
    assert (balance.type_code, balance.remaining, balance.purchased_units) == ("laser6", 5, 6)

    again = await cli.ok(
        "import", "packages", str(packages), "--format", "mindbody", "--type", "Old Laser 6=laser6"
    )
    assert "0 created" in again and "1 skipped" in again


async def test_a_file_that_cannot_be_read_is_one_line(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    line = one_line_error(await cli("import", "packages", str(empty)))
    assert line == "empty.csv: line 1: the file is empty"
    bad = one_line_error(await cli("import", "clients", str(empty), "--column", "name"))
    assert bad == "--column: 'name' is not NAME=VALUE"


def test_a_bare_file_still_imports_appointments() -> None:
    from typer._click import Context
    from typer.main import get_group

    group = get_group(import_app)
    name, command, rest = group.resolve_command(Context(group), ["export.csv"])
    assert (name, rest) == ("appointments", ["export.csv"])
    assert command is not None and command.name == "appointments"
