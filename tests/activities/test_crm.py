"""CRM write-back against the HubSpot and GoHighLevel stand-ins, over real PostgreSQL:
addressing, exact fields, rate limits, refusals, and the latest-version-wins guard."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.crm import GoHighLevelCrm, HubSpotCrm, parse_field_keys
from activities.writeback import SYNC_BUSY, SyncActivities, build_sync_activities
from tests.fakes.gohighlevel import GoHighLevelFake
from tests.fakes.hubspot import HubSpotFake
from workers.settings import Settings
from workflows import schedule, texts
from workflows.contracts import PackageSync, SyncResult
from workflows.policies import BAD_CONFIGURATION, UNKNOWN_CLIENT

CLIENT = "c-ana"
EMAIL = "ana@example.com"
# 02:00 UTC on 1 May is still 30 April in New York: dates are the spa's.
EXPIRES = datetime(2027, 5, 1, 2, 0, tzinfo=UTC)
LAST_SESSION = datetime(2026, 3, 14, 22, 30, tzinfo=UTC)


def package_sync(version: int = 1, **changes: Any) -> PackageSync:
    fields: dict[str, Any] = {
        "version": version,
        "package_id": "pkg-1",
        "client_id": CLIENT,
        "type_code": "laser6",
        "name": "Laser hair removal x6",
        "kind": "sessions",
        "status": "active",
        "remaining": 2,
        "purchased_units": 6,
        "expires_at": EXPIRES,
        "last_session_at": LAST_SESSION,
        "renewal_url": "https://spa.example/renew/pkg-1",
    }
    return PackageSync.model_validate(fields | changes)


async def add_client(
    pool: asyncpg.Pool, client_id: str = CLIENT, email: str | None = EMAIL
) -> None:
    await pool.execute(
        "INSERT INTO clients (client_id, name, email) VALUES ($1, 'Ana Test', $2)", client_id, email
    )


async def link(
    pool: asyncpg.Pool, platform: str, external_id: str, client_id: str = CLIENT
) -> None:
    await pool.execute(
        "INSERT INTO client_links (platform, external_id, client_id) VALUES ($1, $2, $3)",
        platform,
        external_id,
        client_id,
    )


async def add_package(pool: asyncpg.Pool, package_id: str, status: str) -> None:
    """A row of the balance table (what the ledger activity keeps)."""
    sold = datetime(2026, 1, 5, tzinfo=UTC)
    await pool.execute(
        """
        INSERT INTO packages (package_id, client_id, type_code, name, kind, status, remaining,
            purchased_units, paid_cents, unused_value_cents, purchased_at, expires_at, last_seq)
        VALUES ($1, $2, 'laser6', 'Laser hair removal x6', 'sessions', $3, 6, 6, 180000,
            180000, $4, $5, 1)
        """,
        package_id,
        CLIENT,
        status,
        sold,
        sold + timedelta(days=365),
    )


async def sync_row(pool: asyncpg.Pool, target: str, package_id: str = "pkg-1") -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT * FROM integration_syncs WHERE target = $1 AND package_id = $2", target, package_id
    )
    assert row is not None
    return row


async def run_crm(activities: SyncActivities, sync: PackageSync) -> SyncResult:
    return await ActivityEnvironment().run(activities.sync_crm, sync)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


class Serving(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


FakeT = TypeVar("FakeT", bound=Serving)


@contextlib.asynccontextmanager
async def running(fake: FakeT) -> AsyncIterator[FakeT]:
    """A provider stand-in listening on a free local port for the test's duration."""
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def hubspot() -> AsyncIterator[HubSpotFake]:
    async with running(HubSpotFake()) as fake:
        yield fake


@pytest.fixture
async def ghl() -> AsyncIterator[GoHighLevelFake]:
    async with running(GoHighLevelFake()) as fake:
        yield fake


@pytest.fixture
def with_hubspot(
    pool: asyncpg.Pool, http: httpx.AsyncClient, hubspot: HubSpotFake
) -> SyncActivities:
    crm = HubSpotCrm(http, token=SecretStr(hubspot.token), base_url=hubspot.base_url)
    return SyncActivities(pool=pool, crm=crm, timezone="America/New_York")


def sent_properties(request: dict[str, Any]) -> dict[str, str]:
    properties: dict[str, str] = json.loads(request["body"])["properties"]
    return properties


# --- HubSpot --------------------------------------------------------------------------


async def test_hubspot_linked_contact_gets_exactly_the_punchcard_properties(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)

    result = await run_crm(with_hubspot, package_sync())

    [answer] = result.results
    assert (answer.target, answer.status) == ("hubspot", "updated")
    [request] = hubspot.requests
    assert request["path"] == f"/crm/v3/objects/contacts/{contact}"
    assert request["query"] == {}
    assert request["headers"]["authorization"] == f"Bearer {hubspot.token}"
    assert sent_properties(request) == {
        "punchcard_sessions_remaining": "2",
        "punchcard_package_name": "Laser hair removal x6",
        "punchcard_package_expires": "1809043200000",  # 2027-04-30 00:00 UTC, a date property
        "punchcard_last_session": "1773446400000",  # 2026-03-14 00:00 UTC
        "punchcard_renewal_link": "https://spa.example/renew/pkg-1",
        "punchcard_package_status": "active",
    }
    assert hubspot.contacts[contact].properties["punchcard_sessions_remaining"] == "2"
    assert hubspot.date_of(contact, "punchcard_package_expires") == date(2027, 4, 30)
    assert hubspot.date_of(contact, "punchcard_last_session") == date(2026, 3, 14)
    row = await sync_row(pool, "hubspot")
    assert (row["version"], row["status"], row["client_id"]) == (1, "updated", CLIENT)


async def test_hubspot_unlinked_client_is_addressed_by_email(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)

    [answer] = (await run_crm(with_hubspot, package_sync())).results

    assert answer.status == "updated"
    [request] = hubspot.requests
    assert request["path"] == f"/crm/v3/objects/contacts/{EMAIL}"
    assert request["query"] == {"idProperty": "email"}
    assert hubspot.contacts[contact].properties["punchcard_package_status"] == "active"
    # The email was the address, never the record: it is in no answer and no row.
    assert EMAIL not in (answer.detail or "")
    assert EMAIL not in str(dict(await sync_row(pool, "hubspot")))


async def test_dollar_credit_is_sent_in_dollars_and_missing_dates_clear_their_properties(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)
    credit = package_sync(
        kind="dollars",
        name="Injectables credit",
        remaining=35_000,
        purchased_units=150_000,
        expires_at=None,
        last_session_at=None,
        renewal_url=None,
    )

    await run_crm(with_hubspot, credit)

    properties = sent_properties(hubspot.requests[0])
    assert properties["punchcard_sessions_remaining"] == "350.00"
    assert properties["punchcard_package_expires"] == ""
    assert properties["punchcard_last_session"] == ""
    assert properties["punchcard_renewal_link"] == ""


async def test_client_with_no_link_and_no_email_is_not_linked_without_a_call(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool, email=None)

    [answer] = (await run_crm(with_hubspot, package_sync())).results

    assert answer.status == "not_linked"
    assert "no email" in (answer.detail or "")
    assert hubspot.requests == []
    assert (await sync_row(pool, "hubspot"))["status"] == "not_linked"


async def test_email_hubspot_does_not_know_is_not_linked(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)

    [answer] = (await run_crm(with_hubspot, package_sync())).results

    assert answer.status == "not_linked"
    assert "does not exist in HubSpot" in (answer.detail or "")
    assert len(hubspot.requests) == 1


async def test_rate_limit_retries_after_retry_after_then_writes_once(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)
    hubspot.throttle_next(1, retry_after=7)

    with pytest.raises(ApplicationError) as throttled:
        await run_crm(with_hubspot, package_sync())

    assert throttled.value.type == "HubSpotUnavailable"
    assert not throttled.value.non_retryable
    assert throttled.value.next_retry_delay == timedelta(seconds=7)
    pending = await sync_row(pool, "hubspot")
    assert (pending["version"], pending["claimed_version"]) == (0, None)
    assert "429" in pending["last_error"]

    [answer] = (await run_crm(with_hubspot, package_sync())).results  # Temporal's retry

    assert answer.status == "updated"
    assert len(hubspot.writes()) == 1
    settled = await sync_row(pool, "hubspot")
    assert (settled["version"], settled["last_error"], settled["attempts"]) == (1, None, 2)


async def test_missing_properties_are_rejected_for_good_naming_them(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)
    hubspot.known_properties -= {"punchcard_package_status", "punchcard_renewal_link"}

    [answer] = (await run_crm(with_hubspot, package_sync())).results

    assert answer.status == "rejected"
    assert "punchcard_package_status, punchcard_renewal_link" in (answer.detail or "")
    assert "create the punchcard_* contact properties first" in (answer.detail or "")
    # Recorded: the same version is not sent again, the answer is repeated.
    [again] = (await run_crm(with_hubspot, package_sync())).results
    assert again.status == "rejected" and "already synced" in (again.detail or "")
    assert len(hubspot.requests) == 1


async def test_refused_token_is_bad_configuration(
    pool: asyncpg.Pool, http: httpx.AsyncClient, hubspot: HubSpotFake
) -> None:
    await add_client(pool)
    hubspot.add_contact(EMAIL)
    crm = HubSpotCrm(http, token=SecretStr("pat-wrong"), base_url=hubspot.base_url)

    with pytest.raises(ApplicationError) as refused:
        await run_crm(SyncActivities(pool=pool, crm=crm), package_sync())

    assert refused.value.type == BAD_CONFIGURATION and refused.value.non_retryable
    assert "PUNCHCARD_HUBSPOT_TOKEN" in refused.value.message
    assert (await sync_row(pool, "hubspot"))["status"] == "rejected"


async def test_an_older_version_never_overwrites_a_newer_one(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)

    await run_crm(with_hubspot, package_sync(version=3, remaining=1))
    [late] = (await run_crm(with_hubspot, package_sync(version=2, remaining=2))).results

    assert late.status == "updated"
    assert "version 2 not written: version 3 is newer" in (late.detail or "")
    assert len(hubspot.requests) == 1
    assert hubspot.contacts[contact].properties["punchcard_sessions_remaining"] == "1"
    assert (await sync_row(pool, "hubspot"))["version"] == 3


async def test_a_push_in_flight_orders_the_others(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    """Version 2 is being written (claimed): 3 waits for it, 1 steps aside."""
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)
    await pool.execute(
        """INSERT INTO integration_syncs (target, package_id, client_id, version, status,
               claimed_version, claimed_until)
           VALUES ('hubspot', 'pkg-1', $1, 0, 'pending', 2, now() + interval '1 minute')""",
        CLIENT,
    )

    with pytest.raises(ApplicationError) as busy:
        await run_crm(with_hubspot, package_sync(version=3))
    [older] = (await run_crm(with_hubspot, package_sync(version=1))).results

    assert busy.value.type == SYNC_BUSY and not busy.value.non_retryable
    assert busy.value.next_retry_delay == timedelta(seconds=2)
    assert "version 2 is being written" in (older.detail or "")
    assert hubspot.requests == []


async def test_closed_package_does_not_replace_the_active_one_on_the_contact(
    pool: asyncpg.Pool, hubspot: HubSpotFake, with_hubspot: SyncActivities
) -> None:
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)
    await add_package(pool, "pkg-renewal", "active")

    [answer] = (await run_crm(with_hubspot, package_sync(status="expired", remaining=0))).results

    assert "keeps showing active package pkg-renewal" in (answer.detail or "")
    assert hubspot.requests == []


async def test_unknown_client_fails_for_good(
    pool: asyncpg.Pool, with_hubspot: SyncActivities
) -> None:
    with pytest.raises(ApplicationError) as unknown:
        await run_crm(with_hubspot, package_sync())

    assert unknown.value.type == UNKNOWN_CLIENT and unknown.value.non_retryable


# --- configuration --------------------------------------------------------------------


def crm_settings(**values: Any) -> Settings:
    return Settings(database_url=None, **values)


async def test_crm_off_answers_nothing_and_calls_no_one(
    pool: asyncpg.Pool, http: httpx.AsyncClient, hubspot: HubSpotFake
) -> None:
    await add_client(pool)
    hubspot.add_contact(EMAIL)
    settings = crm_settings(
        crm_provider="none",
        hubspot_base_url=hubspot.base_url,
        hubspot_token=SecretStr(hubspot.token),
    )

    result = await run_crm(build_sync_activities(settings, pool, http), package_sync())

    assert result.results == []
    assert hubspot.requests == []
    assert await pool.fetchval("SELECT count(*) FROM integration_syncs") == 0


async def test_settings_build_the_chosen_crm(
    pool: asyncpg.Pool, http: httpx.AsyncClient, hubspot: HubSpotFake
) -> None:
    await add_client(pool)
    hubspot.known_properties |= {f"pc_{name}" for name in ("sessions_remaining", "package_name")}
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)
    settings = crm_settings(
        crm_provider="hubspot",
        hubspot_base_url=hubspot.base_url,
        hubspot_token=SecretStr(hubspot.token),
        hubspot_property_prefix="pc_",
        spa_timezone="UTC",
    )

    [answer] = (await run_crm(build_sync_activities(settings, pool, http), package_sync())).results

    # The prefix is configurable: HubSpot refuses the four pc_ properties it lacks.
    assert answer.status == "rejected"
    assert "pc_last_session, pc_package_expires, pc_package_status" in (answer.detail or "")
    assert "create the pc_* contact properties first" in (answer.detail or "")


async def test_chosen_crm_without_its_token_refuses_to_start(http: httpx.AsyncClient) -> None:
    settings = crm_settings(crm_provider="gohighlevel")

    with pytest.raises(ValueError, match="PUNCHCARD_GOHIGHLEVEL_TOKEN is required"):
        build_sync_activities(settings, None, http)  # type: ignore[arg-type]


# --- GoHighLevel ----------------------------------------------------------------------


async def test_gohighlevel_custom_fields_with_the_version_header(
    pool: asyncpg.Pool, http: httpx.AsyncClient, ghl: GoHighLevelFake
) -> None:
    await add_client(pool)
    contact = ghl.add_contact()
    await link(pool, "gohighlevel", contact)
    crm = GoHighLevelCrm(http, token=SecretStr(ghl.token), base_url=ghl.base_url)

    [answer] = (await run_crm(SyncActivities(pool=pool, crm=crm), package_sync())).results

    assert (answer.target, answer.status) == ("gohighlevel", "updated")
    [request] = ghl.requests
    assert request["path"] == f"/contacts/{contact}"
    assert request["headers"]["version"] == "2021-07-28"
    assert request["headers"]["authorization"] == f"Bearer {ghl.token}"
    assert json.loads(request["body"]) == {
        "customFields": [
            {"key": "contact.punchcard_sessions_remaining", "field_value": "2"},
            {"key": "contact.punchcard_package_name", "field_value": "Laser hair removal x6"},
            {"key": "contact.punchcard_package_expires", "field_value": "2027-04-30"},
            {"key": "contact.punchcard_last_session", "field_value": "2026-03-14"},
            {
                "key": "contact.punchcard_renewal_link",
                "field_value": "https://spa.example/renew/pkg-1",
            },
            {"key": "contact.punchcard_package_status", "field_value": "active"},
        ]
    }
    assert ghl.contacts[contact]["contact.punchcard_sessions_remaining"] == "2"


async def test_gohighlevel_overridden_key_the_location_lacks_is_rejected(
    pool: asyncpg.Pool, http: httpx.AsyncClient, ghl: GoHighLevelFake
) -> None:
    await add_client(pool)
    contact = ghl.add_contact()
    await link(pool, "gohighlevel", contact)
    keys = parse_field_keys("sessions_remaining = contact.pc_left")
    crm = GoHighLevelCrm(http, token=SecretStr(ghl.token), base_url=ghl.base_url, field_keys=keys)

    [answer] = (await run_crm(SyncActivities(pool=pool, crm=crm), package_sync())).results

    assert answer.status == "rejected"
    assert "custom field contact.pc_left not found" in (answer.detail or "")
    assert ghl.contacts[contact] == {}


async def test_gohighlevel_without_a_link_is_not_linked_without_a_call(
    pool: asyncpg.Pool, http: httpx.AsyncClient, ghl: GoHighLevelFake
) -> None:
    await add_client(pool)
    crm = GoHighLevelCrm(http, token=SecretStr(ghl.token), base_url=ghl.base_url)

    [answer] = (await run_crm(SyncActivities(pool=pool, crm=crm), package_sync())).results

    assert answer.status == "not_linked" and "gohighlevel" in (answer.detail or "")
    assert ghl.requests == []


def test_field_key_overrides_name_what_is_wrong() -> None:
    assert parse_field_keys("")["package_name"] == "contact.punchcard_package_name"
    with pytest.raises(ValueError, match="'balance' is not one Punchcard writes"):
        parse_field_keys("balance=contact.x")
    with pytest.raises(ValueError, match="is not name=key"):
        parse_field_keys("package_name")


# --- the expiry is the good-through day the client is told ------------------------------------


def told_day(ends: datetime, timezone: str) -> date:
    """The day the client's texts (and the desk, and the CLI) say the package is good through."""
    return datetime.strptime(texts.local_date(ends, timezone), "%b %d, %Y").date()


@pytest.mark.parametrize(
    "timezone", ["America/New_York", "Pacific/Honolulu", "Pacific/Auckland", "Europe/London"]
)
async def test_hubspot_expiry_is_the_day_the_client_is_told_as_a_date_property(
    pool: asyncpg.Pool, http: httpx.AsyncClient, hubspot: HubSpotFake, timezone: str
) -> None:
    # The package ends at the local midnight after Apr 30: it is good through Apr 30.
    ends = schedule.ends_after(date(2027, 4, 30), timezone)
    await add_client(pool)
    contact = hubspot.add_contact(EMAIL)
    await link(pool, "hubspot", contact)
    crm = HubSpotCrm(http, token=SecretStr(hubspot.token), base_url=hubspot.base_url)
    activities = SyncActivities(pool=pool, crm=crm, timezone=timezone)

    [answer] = (await run_crm(activities, package_sync(expires_at=ends))).results

    assert answer.status == "updated"
    assert told_day(ends, timezone) == date(2027, 4, 30)
    assert hubspot.date_of(contact, "punchcard_package_expires") == told_day(ends, timezone)
    # Midnight UTC of that date, in epoch milliseconds, as HubSpot date properties take it.
    sent = sent_properties(hubspot.requests[0])["punchcard_package_expires"]
    assert sent == str(int(datetime(2027, 4, 30, tzinfo=UTC).timestamp() * 1000))


async def test_hubspot_refuses_a_date_property_that_is_not_midnight_utc(
    pool: asyncpg.Pool, http: httpx.AsyncClient, hubspot: HubSpotFake
) -> None:
    """The stand-in checks what HubSpot checks, so the format above is not taken on trust."""
    contact = hubspot.add_contact(EMAIL)
    response = await http.patch(
        f"{hubspot.base_url}/crm/v3/objects/contacts/{contact}",
        headers={"Authorization": f"Bearer {hubspot.token}"},
        json={"properties": {"punchcard_package_expires": "1809057600000"}},  # 04:00 UTC
    )
    assert response.status_code == 400
    assert "1809057600000 is at 4:00:00.000 UTC, not midnight!" in response.text


async def test_gohighlevel_expiry_is_the_day_the_client_is_told(
    pool: asyncpg.Pool, http: httpx.AsyncClient, ghl: GoHighLevelFake
) -> None:
    timezone = "America/New_York"
    ends = schedule.ends_after(date(2027, 4, 30), timezone)  # 2027-05-01 00:00 EDT
    await add_client(pool)
    contact = ghl.add_contact()
    await link(pool, "gohighlevel", contact)
    crm = GoHighLevelCrm(http, token=SecretStr(ghl.token), base_url=ghl.base_url)
    activities = SyncActivities(pool=pool, crm=crm, timezone=timezone)

    await run_crm(activities, package_sync(expires_at=ends))

    stored = ghl.contacts[contact]["contact.punchcard_package_expires"]
    assert date.fromisoformat(stored) == told_day(ends, timezone) == date(2027, 4, 30)
