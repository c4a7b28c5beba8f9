"""The `punchcard` CLI against the real Temporal dev server, PostgreSQL and worker.

Commands run in a thread (each calls asyncio.run) while the session loop keeps the
test worker polling; configuration reaches them the way it reaches a person's shell:
through PUNCHCARD_* environment variables.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.worker import Worker
from typer.testing import CliRunner, Result

from activities.providers import ProviderRepository
from starter.cli import build_app
from starter.cli.render import last_day
from starter.demo import CLIENTS, SALES, load_demo
from starter.packages import PackageService
from starter.stackfile import StackInfo, with_running_stack, write_stack
from tests.conftest import TEST_CODEC_KEYS
from workers.settings import Settings
from workflows import schedule


def env_for(settings: Settings, data_dir: Path) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PUNCHCARD_")}
    env |= {
        "PUNCHCARD_DATABASE_URL": settings.database_dsn(),
        "PUNCHCARD_TEMPORAL_ADDRESS": settings.temporal_address,
        "PUNCHCARD_TASK_QUEUE": settings.task_queue,
        "PUNCHCARD_DATA_DIR": str(data_dir),
        "PUNCHCARD_CODEC_KEYS": TEST_CODEC_KEYS,
        "USER": "frontdesk",
    }
    return env


class Cli:
    """Invoke the app the way a shell would, off the event loop the worker runs on."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env

    async def __call__(self, *args: str, **overrides: str | None) -> Result:
        runner = CliRunner()
        env = self.env | overrides
        return await asyncio.to_thread(runner.invoke, build_app(), list(args), env=env)

    async def ok(self, *args: str) -> str:
        result = await self(*args)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.stdout


def one_line_error(result: Result) -> str:
    """Failures are one line on stderr, no traceback, non-zero exit."""
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cli(settings: Settings, tmp_path: Path) -> Cli:
    return Cli(env_for(settings, tmp_path))


@pytest.fixture
async def spa(cli: Cli, worker: Worker) -> Cli:
    """A client, a 6-session laser type and a one-session peel, added through the CLI."""
    await cli.ok("client", "add", "--id", "ana", "--name", "Ana Test", "--phone", "+15555550111")
    await cli.ok(
        "type", "add", "laser6", "--name", "Laser (6)", "--units", "6", "--price", "1,800",
        "--min-interval-days", "28", "--category", "laser",
    )  # fmt: skip
    await cli.ok("type", "add", "peel1", "--name", "Peel", "--units", "1", "--price", "150")
    await cli.ok(
        "type", "add", "credit", "--name", "Credit", "--kind", "dollars", "--credit", "500",
        "--price", "$500",
    )  # fmt: skip
    return cli


async def test_sell_complete_show(spa: Cli) -> None:
    sold = await spa.ok("sell", "ana", "laser6", "--purchase-id", "p-laser")
    assert "p-laser" in sold and "6/6" in sold

    done = await spa.ok("complete", "p-laser", "--appointment", "a1", "--provider", "prov-x")
    assert "Session 1 of 6 complete — 5 remaining" in done
    assert "key complete:a1" in done

    again = await spa.ok("complete", "p-laser", "--appointment", "a1")
    # A duplicate answers like the first, changes nothing, and says so.
    assert again.startswith(done)
    assert "already recorded under key complete:a1: nothing changed" in again

    shown = await spa.ok("show", "ana")
    assert "Ana Test (ana)" in shown
    row = next(line for line in shown.splitlines() if line.startswith("p-laser"))
    assert "5/6" in row and "active" in row and "$1,500.00" in row

    history = await spa.ok("history", "p-laser")
    # "#", date, recorded (day, time, zone), kind
    assert [ln.split()[5] for ln in history.splitlines()[3:]] == ["sale", "redemption"]
    assert "frontdesk" in history  # --actor defaults to $USER


async def test_history_dates_a_visit_by_its_service_day(spa: Cli, settings: Settings) -> None:
    """A visit reported late reads as the day it happened; the recording time is beside it,
    both in the spa's zone (the sale has no appointment: its day is the day recorded)."""
    await spa.ok("sell", "ana", "laser6", "--purchase-id", "p-dated")
    now = datetime.now(ZoneInfo(settings.spa_timezone))
    visit_day = now.date() - timedelta(days=31)
    await spa.ok("complete", "p-dated", "--appointment", "late-1", "--date", str(visit_day))

    history = await spa.ok("history", "p-dated")
    header, _rule, sale, visit = history.splitlines()[1:5]
    assert header.split()[:4] == ["#", "date", "recorded", "kind"]
    assert visit.split()[1] == visit_day.isoformat()
    assert visit.split()[2] == now.date().isoformat()  # recorded today
    assert visit.split()[4] == now.tzname()
    assert sale.split()[1] == f"{now.date().isoformat()}*"  # no appointment: the day recorded


async def test_a_platform_appointment_completes_through_its_visit(
    spa: Cli, settings: Settings
) -> None:
    """`-a mindbody:N` is the appointment's visit: the route is kept for the platform's own
    completion, and another package is refused naming the one that has it."""
    appointment = f"mindbody:{uuid.uuid4().int % 10**9}"
    await spa.ok("sell", "ana", "laser6", "--purchase-id", "p-one")
    await spa.ok("sell", "ana", "laser6", "--purchase-id", "p-two")
    done = await spa.ok("complete", "p-one", "-a", appointment)
    assert "Session 1 of 6 complete — 5 remaining" in done and f"key complete:{appointment}" in done
    again = await spa.ok("complete", "p-one", "-a", appointment)
    assert f"already recorded under key complete:{appointment}: nothing changed" in again
    line = one_line_error(await spa("complete", "p-two", "-a", appointment))
    assert line.startswith("refused (AlreadyCompleted): ") and "p-one" in line
    conn = await asyncpg.connect(settings.database_dsn())
    try:
        route = await conn.fetchval(
            "SELECT package_id FROM appointment_routes WHERE platform = 'mindbody' "
            "AND appointment_id = $1",
            appointment.removeprefix("mindbody:"),
        )
    finally:
        await conn.close()
    assert route == "p-one"


async def test_zero_balance_refused_in_one_line(spa: Cli) -> None:
    await spa.ok("sell", "ana", "peel1", "--purchase-id", "p-peel")
    await spa.ok("complete", "p-peel", "-a", "a1")

    result = await spa("complete", "p-peel", "-a", "a2")

    line = one_line_error(result)
    assert line.startswith("refused (ZeroBalance): "), line
    assert "ZERO BALANCE — collect payment" in await spa.ok("show", "ana")


async def test_staff_actions_print_the_answer(spa: Cli) -> None:
    await spa.ok("sell", "ana", "laser6", "--purchase-id", "p1")
    await spa.ok("book", "p1", "-a", "a1")
    await spa.ok("book", "p1", "-a", "a1", "--change", "rescheduled", "--at", "2030-01-02T10:00")
    await spa.ok("complete", "p1", "-a", "a1")
    assert "not consumed" in await spa.ok("no-show", "p1", "-a", "a2")
    assert "returned" in await spa.ok("reverse", "p1", "-a", "a1", "--reason", "wrong client")
    added = await spa.ok(
        "add-sessions", "p1", "--units", "2", "--paid", "500", "--reason", "upgrade"
    )
    assert "8 sessions remaining" in added
    assert "extended" in (await spa.ok("extend", "p1", "--until", "2099-12-31", "--reason", "r"))
    cancelled = await spa.ok("cancel", "p1", "--reason", "moved away", "--actor", "manager")
    assert "refund due $2,300.00" in cancelled and "cancelled" in cancelled

    line = one_line_error(await spa("complete", "p1", "-a", "a9"))
    assert line.startswith("refused ("), line


async def test_dollar_package(spa: Cli) -> None:
    await spa.ok("sell", "ana", "credit", "--purchase-id", "p-credit")
    assert "$380.50 remaining" in await spa.ok(
        "complete", "p-credit", "-a", "a1", "--amount", "119.50"
    )

    line = one_line_error(await spa("complete", "p-credit", "-a", "a2", "--amount", "1000"))
    assert line.startswith("refused (AmountAboveBalance): ")
    assert one_line_error(await spa("complete", "p-credit", "-a", "a3", "--amount", "1.234"))


async def test_a_package_moved_in_keeps_its_real_days(spa: Cli, settings: Settings) -> None:
    today = datetime.now(ZoneInfo(settings.spa_timezone)).date()
    bought, last = today - timedelta(days=200), today + timedelta(days=45)
    sold = await spa.ok(
        "sell", "ana", "laser6", "--purchase-id", "p-old",
        "--purchased", str(bought), "--expires", str(last),
    )  # fmt: skip
    row = next(line for line in sold.splitlines() if line.startswith("p-old"))
    assert row.endswith(
        last_day(schedule.ends_after(last, settings.spa_timezone), settings.spa_timezone)
    )
    history = await spa.ok("history", "p-old")
    assert history.splitlines()[3].split()[1] == f"{bought}*"  # the sale, on its own day

    # The expiry was typed wrong: extend refuses to shorten, correct-expiry does it.
    right = today + timedelta(days=30)
    assert one_line_error(
        await spa("extend", "p-old", "--until", str(right), "--reason", "typo")
    ).startswith("refused (BadExpiry): an extension only lengthens")
    corrected = await spa.ok("correct-expiry", "p-old", "--to", str(right), "--reason", "typo")
    assert corrected.startswith(f"Expiry corrected from {last:%b} ")
    assert "expiry_correction" in await spa.ok("history", "p-old")

    later = str(today + timedelta(days=1))
    assert one_line_error(await spa("sell", "ana", "laser6", "--purchased", later)) == (
        f"--purchased: {later} is after today ({today})"
    )
    long_ago = today - timedelta(days=800)
    assert one_line_error(
        await spa("sell", "ana", "laser6", "--purchased", str(long_ago))
    ).startswith("--expires: the package would be good through ")


async def test_unknown_things_are_one_line(spa: Cli) -> None:
    assert one_line_error(await spa("complete", "nope", "-a", "a1")) == "no package 'nope'"
    assert one_line_error(await spa("show", "nobody")).startswith("no client 'nobody'")
    assert "unknown package type" in one_line_error(await spa("sell", "ana", "nothing"))


async def test_unreachable_services_are_one_line(cli: Cli) -> None:
    port = closed_port()
    line = one_line_error(
        await cli("complete", "p", "-a", "a", PUNCHCARD_TEMPORAL_ADDRESS=f"127.0.0.1:{port}")
    )
    assert line == f"cannot reach Temporal at 127.0.0.1:{port} — is `punchcard up` running?"

    dsn = f"postgresql://postgres:secret@127.0.0.1:{port}/punchcard"
    line = one_line_error(await cli("show", "ana", PUNCHCARD_DATABASE_URL=dsn))
    assert line.startswith(
        f"cannot reach PostgreSQL at postgresql://postgres:***@127.0.0.1:{port}/"
    )
    assert "secret" not in line

    line = one_line_error(await cli("show", "ana", PUNCHCARD_DATABASE_URL=None))
    assert line.startswith("no database: PUNCHCARD_DATABASE_URL is unset")


async def test_demo_twice_changes_nothing(
    settings: Settings, client: Client, pool: asyncpg.Pool, worker: Worker
) -> None:
    service = PackageService(client=client, pool=pool, settings=settings)
    first = await load_demo(service, ProviderRepository(pool))
    tables = ("clients", "package_types", "providers", "packages", "ledger_entries")

    async def snapshot() -> dict[str, list[asyncpg.Record]]:
        return {t: await pool.fetch(f"SELECT * FROM {t} ORDER BY 1") for t in tables}

    before = await snapshot()
    second = await load_demo(service, ProviderRepository(pool))

    assert first.new_entries > 0 and second.new_entries == 0
    assert await snapshot() == before
    assert len(before["clients"]) == len(CLIENTS)
    balances = {r["package_id"]: r["remaining"] for r in before["packages"]}
    assert set(balances) == {p for sale in SALES for p in sale.package_ids}
    assert 0 in balances.values() and len(set(balances.values())) > 2


def test_cli_finds_a_running_stack(tmp_path: Path) -> None:
    info = StackInfo(
        pid=os.getpid(),
        data_dir=str(tmp_path),
        database_url="postgresql://postgres:@/punchcard?host=/somewhere",
        temporal_address="127.0.0.1:17233",
        temporal_namespace="default",
        task_queue="punchcard-packages",
        ui_url="http://localhost:18233",
    )
    write_stack(tmp_path, info)

    found = with_running_stack(Settings(data_dir=tmp_path))
    assert found.database_dsn() == info.database_url
    assert found.temporal_address == "127.0.0.1:17233"

    explicit = Settings(data_dir=tmp_path, temporal_address="elsewhere:7233")
    assert with_running_stack(explicit).temporal_address == "elsewhere:7233"
    configured = Settings(data_dir=tmp_path, database_url=SecretStr("postgresql://db/x"))
    assert with_running_stack(configured).database_dsn() == "postgresql://db/x"

    write_stack(tmp_path, info.model_copy(update={"pid": 2**22 + 12345}))  # no such process
    assert with_running_stack(Settings(data_dir=tmp_path)).database_url is None


def plain(text: str) -> str:
    """Rich's panels without their borders and wrapping: words separated by one space."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def invoke_offline(*args: str) -> Result:
    """Parsing and help need no stack: a bad command line fails before any connection."""
    return CliRunner().invoke(build_app(), list(args), env={"COLUMNS": "200"})


@pytest.mark.parametrize(
    "command", [[], ["up"], ["client"], ["client", "add"], ["type", "add"], ["sell"]]
)
def test_help_shows_no_type_on_flags(command: list[str]) -> None:
    result = invoke_offline(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "--help Show this message and exit." in plain(result.stdout)
    assert "<bool>" not in result.stdout


def test_help_still_types_options_that_take_a_value() -> None:
    text = plain(invoke_offline("up", "--help").stdout)
    assert "--no-demo Start without the demo spa." in text
    assert "--data-dir <path>" in text


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (
            [
                "client",
                "add",
                "--id",
                "ana",
                "--name",
                "Ana",
                "--phone",
                "+1",
                "555",
                "555",
                "0100",
            ],
            'put the phone number in quotes: --phone "+1 555 555 0100"',
        ),
        (
            ["client", "add", "--id", "ana", "--name", "Ana", "Lopez"],
            'put the name in quotes: --name "Ana Lopez"',
        ),
        (["show", "Ana", "Lopez"], 'put the name in quotes: punchcard show "Ana Lopez"'),
        (
            ["clients", "+1", "(555)", "555-0100"],
            'put the phone number in quotes: punchcard clients "+1 (555) 555-0100"',
        ),
    ],
    ids=["phone-option", "name-option", "name-argument", "phone-argument"],
)
def test_unquoted_phone_or_name_says_how_to_quote(args: list[str], hint: str) -> None:
    result = invoke_offline(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    error = plain(result.stderr)
    assert "unexpected extra argument" in error
    assert hint in error


def test_extra_arguments_elsewhere_get_no_quoting_hint() -> None:
    result = invoke_offline("alerts", "x", "y")
    assert result.exit_code == 2
    assert "unexpected extra argument" in plain(result.stderr)
    assert "in quotes" not in result.stderr


async def test_locations_from_the_cli_and_a_sale_at_one(spa: Cli, settings: Settings) -> None:
    listed = await spa.ok("locations", "list")
    assert "main" in listed and settings.spa_timezone in listed and "implied by" in listed
    assert (
        one_line_error(
            await spa("locations", "add", "venice", "--name", "Venice", "--timezone", "Mars/X")
        )
        == "timezone: unknown time zone 'Mars/X' (use an IANA name such as America/New_York)"
    )
    added = await spa.ok(
        "locations", "add", "soho", "--name", "Glow SoHo", "--timezone", "America/New_York",
        "--boulevard", "1A1A1A1A-0000-4000-8000-000000000030",
    )  # fmt: skip
    assert added.startswith("location soho (default): Glow SoHo · America/New_York · boulevard")
    await spa.ok(
        "locations", "add", "venice", "--name", "Glow Venice",
        "--timezone", "America/Los_Angeles", "--mindbody-site", "-99", "--mindbody-location", "2",
    )  # fmt: skip
    listed = await spa.ok("locations", "list")
    assert [line.split()[0] for line in listed.splitlines()[2:]] == ["soho", "venice"]

    sold = await spa.ok("sell", "ana", "laser6", "--purchase-id", "p-la", "--location", "venice")
    assert sold.splitlines()[0] == "purchase p-la at venice"
    assert (
        one_line_error(await spa("sell", "ana", "laser6", "--location", "nowhere"))
        == "no location 'nowhere'"
    )
    moved = await spa.ok("locations", "update", "venice", "--default")
    assert moved.startswith("location venice (default)")


async def test_freeze_and_unfreeze_from_the_cli(spa: Cli) -> None:
    await spa.ok("sell", "ana", "laser6", "--purchase-id", "p-fz")
    frozen = await spa.ok("freeze", "p-fz", "--days", "30", "--reason", "medical leave")
    assert "Frozen for 30 days" in frozen
    assert "FROZEN until" in await spa.ok("show", "ana")
    line = one_line_error(await spa("complete", "p-fz", "-a", "a1"))
    assert line.startswith("refused (PackageFrozen): "), line
    assert "Unfrozen after 0 days" in await spa.ok("unfreeze", "p-fz", "--reason", "back")
    too_long = one_line_error(await spa("freeze", "p-fz", "--days", "91", "--reason", "x"))
    assert "longer than the 90 days" in too_long, too_long
