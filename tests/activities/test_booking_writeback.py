"""Booking-platform write-back against the Mindbody, Zenoti and Boulevard stand-ins, over
real PostgreSQL: each platform's own write, read-only and unlinked clients, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.writeback import (
    SyncActivities,
    build_sync_activities,
    note_text,
    replace_marked_line,
)
from tests.activities.test_crm import add_client, link, package_sync, running, sync_row
from tests.fakes.boulevard import BoulevardFake
from tests.fakes.mindbody import MindbodyFake
from tests.fakes.zenoti import ZenotiFake
from workers.settings import Settings
from workflows import schedule, texts
from workflows.contracts import PackageSync, SyncResult
from workflows.policies import BAD_CONFIGURATION

MB_CLIENT = "100015531"
LINE_V1 = "Punchcard: Laser hair removal x6 — 2 of 6 left, good through 2027-04-30 [pkg-1]"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
async def mindbody() -> AsyncIterator[MindbodyFake]:
    async with running(MindbodyFake(staff_token="staff-token-1")) as fake:
        yield fake


@pytest.fixture
async def zenoti() -> AsyncIterator[ZenotiFake]:
    async with running(ZenotiFake()) as fake:
        yield fake


@pytest.fixture
async def boulevard() -> AsyncIterator[BoulevardFake]:
    async with running(BoulevardFake()) as fake:
        yield fake


def settings_for(
    mindbody: MindbodyFake, zenoti: ZenotiFake, boulevard: BoulevardFake, write_back: str
) -> Settings:
    return Settings(
        database_url=None,
        booking_write_back=write_back,
        mindbody_base_url=mindbody.base_url,
        mindbody_api_key=SecretStr(mindbody.api_key),
        mindbody_staff_token=SecretStr(mindbody.staff_token or ""),
        mindbody_site_id=mindbody.site_id,
        zenoti_base_url=zenoti.base_url,
        zenoti_api_key=SecretStr(zenoti.api_key),
        boulevard_base_url=boulevard.base_url,
        boulevard_business_id=boulevard.business_id,
        boulevard_api_key=boulevard.api_key,
        boulevard_api_secret=SecretStr(boulevard.api_secret),
    )


@pytest.fixture
def all_platforms(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    mindbody: MindbodyFake,
    zenoti: ZenotiFake,
    boulevard: BoulevardFake,
) -> SyncActivities:
    settings = settings_for(mindbody, zenoti, boulevard, "mindbody, zenoti, boulevard")
    return build_sync_activities(settings, pool, http)


async def write_back(activities: SyncActivities, sync: PackageSync) -> SyncResult:
    return await ActivityEnvironment().run(activities.write_back_booking, sync)


def by_target(result: SyncResult) -> dict[str, tuple[str, str]]:
    return {r.target: (r.status, r.detail or "") for r in result.results}


# --- each platform's write ------------------------------------------------------------


async def test_mindbody_line_in_staff_notes_is_added_then_kept_current(
    pool: asyncpg.Pool, mindbody: MindbodyFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT, notes="Prefers afternoons\nLidocaine allergy")

    first = await write_back(all_platforms, package_sync(version=1))
    await write_back(all_platforms, package_sync(version=2, remaining=1))

    assert by_target(first)["mindbody"][0] == "updated"
    assert mindbody.clients[MB_CLIENT]["Notes"] == (
        "Prefers afternoons\nLidocaine allergy\n"
        "Punchcard: Laser hair removal x6 — 1 of 6 left, good through 2027-04-30 [pkg-1]"
    )
    update = mindbody.client_updates()[0]
    assert update == {
        "Client": {"Id": MB_CLIENT, "Notes": f"Prefers afternoons\nLidocaine allergy\n{LINE_V1}"},
        "CrossRegionalUpdate": False,
    }
    [call] = [r for r in mindbody.requests if r["path"].endswith("updateclient")][:1]
    assert call["headers"]["api-key"] == mindbody.api_key
    assert call["headers"]["siteid"] == mindbody.site_id
    assert call["headers"]["authorization"] == "staff-token-1"


async def test_zenoti_note_is_created_once_then_updated_in_place(
    pool: asyncpg.Pool, zenoti: ZenotiFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "zenoti", "guest-1")
    zenoti.guests.add("guest-1")

    await write_back(all_platforms, package_sync(version=1))
    await write_back(all_platforms, package_sync(version=2, remaining=1))

    [create, update] = zenoti.note_requests
    assert create["method"] == "POST" and create["path"] == "/v1/guests/guest-1/notes"
    assert create["headers"]["authorization"] == f"apikey {zenoti.api_key}"
    assert create["body"] == {
        "notes": "Punchcard: Laser hair removal x6 — 2 of 6 left, good through 2027-04-30",
        "note_type": 10,
        "is_private": False,
        "alert": False,
    }
    [note_id] = zenoti.notes
    assert update["method"] == "PUT" and update["path"] == f"/v1/guests/guest-1/notes/{note_id}"
    assert zenoti.guest_notes("guest-1") == [
        "Punchcard: Laser hair removal x6 — 1 of 6 left, good through 2027-04-30"
    ]
    assert (await sync_row(pool, "zenoti"))["external_ref"] == note_id


async def test_zenoti_note_deleted_by_staff_is_written_again(
    pool: asyncpg.Pool, zenoti: ZenotiFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "zenoti", "guest-1")
    zenoti.guests.add("guest-1")
    await write_back(all_platforms, package_sync(version=1))
    zenoti.notes.clear()

    result = await write_back(all_platforms, package_sync(version=2, remaining=1))

    assert by_target(result)["zenoti"][0] == "updated"
    assert [r["method"] for r in zenoti.note_requests] == ["POST", "PUT", "POST"]
    assert zenoti.guest_notes("guest-1") == [
        "Punchcard: Laser hair removal x6 — 1 of 6 left, good through 2027-04-30"
    ]


async def test_boulevard_note_through_the_signed_admin_api(
    pool: asyncpg.Pool, boulevard: BoulevardFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    urn = boulevard.add_client()
    # Links may hold the bare uuid: the adapter sends the URN the Admin API takes.
    await link(pool, "boulevard", urn.removeprefix("urn:blvd:Client:"))

    result = await write_back(all_platforms, package_sync())

    assert by_target(result)["boulevard"][0] == "updated"
    assert boulevard.clients[urn] == [
        "Punchcard: Laser hair removal x6 — 2 of 6 left, good through 2027-04-30"
    ]
    [request] = boulevard.requests
    assert "createClientNote" in request["body"]["query"]
    assert request["body"]["variables"]["input"]["clientId"] == urn


async def test_boulevard_throttling_retries_after_the_wait_it_names(
    pool: asyncpg.Pool, boulevard: BoulevardFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "boulevard", boulevard.add_client())
    boulevard.throttle_next(1, wait_seconds=3)

    with pytest.raises(ApplicationError) as throttled:
        await write_back(all_platforms, package_sync())
    retried = await write_back(all_platforms, package_sync())

    assert throttled.value.type == "BoulevardUnavailable" and not throttled.value.non_retryable
    assert throttled.value.next_retry_delay == timedelta(seconds=3)
    assert by_target(retried)["boulevard"][0] == "updated"
    assert sum(len(notes) for notes in boulevard.clients.values()) == 1


async def test_boulevard_client_it_does_not_know_is_not_linked(
    pool: asyncpg.Pool, boulevard: BoulevardFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "boulevard", "urn:blvd:Client:00000000-0000-4000-8000-000000000000")

    result = await write_back(all_platforms, package_sync())

    status, detail = by_target(result)["boulevard"]
    assert status == "not_linked" and "not found" in detail


async def test_boulevard_wrong_secret_is_bad_configuration(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    mindbody: MindbodyFake,
    zenoti: ZenotiFake,
    boulevard: BoulevardFake,
) -> None:
    await add_client(pool)
    await link(pool, "boulevard", boulevard.add_client())
    settings = settings_for(mindbody, zenoti, boulevard, "boulevard").model_copy(
        update={"boulevard_api_secret": SecretStr("d3Jvbmctc2VjcmV0")}
    )

    with pytest.raises(ApplicationError) as refused:
        await write_back(build_sync_activities(settings, pool, http), package_sync())

    assert refused.value.type == BAD_CONFIGURATION and refused.value.non_retryable
    assert "PUNCHCARD_BOULEVARD_API_KEY" in refused.value.message


# --- who gets written -----------------------------------------------------------------


async def test_only_configured_and_linked_platforms_are_written(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    mindbody: MindbodyFake,
    zenoti: ZenotiFake,
    boulevard: BoulevardFake,
) -> None:
    await add_client(pool)
    await link(pool, "jane", "patient-7")
    await link(pool, "zenoti", "guest-1")  # linked, but Zenoti write-back is off
    settings = settings_for(mindbody, zenoti, boulevard, "mindbody")

    result = await write_back(build_sync_activities(settings, pool, http), package_sync())

    answers = by_target(result)
    assert answers["jane"][0] == "read_only"
    assert answers["zenoti"] == (
        "not_configured",
        "write-back to zenoti is off (add it to PUNCHCARD_BOOKING_WRITE_BACK)",
    )
    assert answers["mindbody"][0] == "not_linked"
    assert "client_links platform 'mindbody'" in answers["mindbody"][1]
    assert set(answers) == {"jane", "zenoti", "mindbody"}
    assert mindbody.requests == [] and zenoti.note_requests == [] and boulevard.requests == []


async def test_write_back_off_and_no_links_is_an_empty_answer_without_calls(
    pool: asyncpg.Pool,
    http: httpx.AsyncClient,
    mindbody: MindbodyFake,
    zenoti: ZenotiFake,
    boulevard: BoulevardFake,
) -> None:
    await add_client(pool)
    settings = settings_for(mindbody, zenoti, boulevard, "")

    result = await write_back(build_sync_activities(settings, pool, http), package_sync())

    assert result.results == []
    assert mindbody.requests == [] and zenoti.note_requests == [] and boulevard.requests == []


async def test_mindbody_id_the_site_does_not_know_is_not_linked(
    pool: asyncpg.Pool, mindbody: MindbodyFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", "999")

    result = await write_back(all_platforms, package_sync())

    assert by_target(result)["mindbody"] == ("not_linked", "Mindbody site -99 has no client 999")
    assert mindbody.client_updates() == []


# --- failures and ordering ------------------------------------------------------------


async def test_one_platform_failing_retries_only_that_platform(
    pool: asyncpg.Pool, mindbody: MindbodyFake, zenoti: ZenotiFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    await link(pool, "zenoti", "guest-1")
    mindbody.add_client(MB_CLIENT)
    zenoti.guests.add("guest-1")
    zenoti.fail_next(1, status=503, message="Service Unavailable")

    with pytest.raises(ApplicationError) as failed:
        await write_back(all_platforms, package_sync())
    noted = await sync_row(pool, "zenoti")
    retried = await write_back(all_platforms, package_sync())

    assert failed.value.type == "ZenotiUnavailable" and not failed.value.non_retryable
    assert "503" in noted["last_error"] and noted["version"] == 0
    answers = by_target(retried)
    assert answers["zenoti"][0] == "updated"
    assert answers["mindbody"][0] == "updated" and "already synced" in answers["mindbody"][1]
    assert len(mindbody.client_updates()) == 1
    assert len(zenoti.guest_notes("guest-1")) == 1


async def test_booking_write_back_keeps_the_newest_version(
    pool: asyncpg.Pool, zenoti: ZenotiFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "zenoti", "guest-1")
    zenoti.guests.add("guest-1")

    await write_back(all_platforms, package_sync(version=3, remaining=1))
    late = await write_back(all_platforms, package_sync(version=2, remaining=2))

    assert "version 2 not written: version 3 is newer" in by_target(late)["zenoti"][1]
    assert zenoti.guest_notes("guest-1") == [
        "Punchcard: Laser hair removal x6 — 1 of 6 left, good through 2027-04-30"
    ]
    assert len(zenoti.note_requests) == 1


async def test_mindbody_refused_staff_token_is_bad_configuration(
    pool: asyncpg.Pool, mindbody: MindbodyFake, all_platforms: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT)
    mindbody.staff_token = "rotated-token"

    with pytest.raises(ApplicationError) as refused:
        await write_back(all_platforms, package_sync())

    assert refused.value.type == BAD_CONFIGURATION and refused.value.non_retryable
    assert "STAFF_TOKEN" in refused.value.message
    assert (await sync_row(pool, "mindbody"))["status"] == "rejected"


# --- configuration and text -----------------------------------------------------------


async def test_half_configured_platforms_refuse_to_start(
    http: httpx.AsyncClient, mindbody: MindbodyFake, zenoti: ZenotiFake, boulevard: BoulevardFake
) -> None:
    settings = settings_for(mindbody, zenoti, boulevard, "mindbody")

    unknown = settings.model_copy(update={"booking_write_back": "mindbody, vagaro"})
    with pytest.raises(ValueError, match="unknown platforms vagaro"):
        build_sync_activities(unknown, None, http)  # type: ignore[arg-type]
    tokenless = settings.model_copy(update={"mindbody_staff_token": None})
    with pytest.raises(ValueError, match="PUNCHCARD_MINDBODY_STAFF_TOKEN is required"):
        build_sync_activities(tokenless, None, http)  # type: ignore[arg-type]
    siteless = settings.model_copy(update={"mindbody_site_id": None})
    with pytest.raises(ValueError, match="PUNCHCARD_MINDBODY_SITE_ID is required"):
        build_sync_activities(siteless, None, http)  # type: ignore[arg-type]


def test_note_text_for_credit_and_closed_packages() -> None:
    zone = ZoneInfo("America/New_York")
    credit = package_sync(
        kind="dollars", name="Injectables", remaining=35_000, purchased_units=150_000
    )
    expired = package_sync(status="expired", remaining=2)
    cancelled = package_sync(status="cancelled", expires_at=None)

    assert note_text(credit, zone) == (
        "Punchcard: Injectables — $350.00 of $1,500.00 left, good through 2027-04-30"
    )
    assert note_text(expired, zone).endswith("2 of 6 left, was good through 2027-04-30")
    assert (
        note_text(cancelled, zone) == "Punchcard: Laser hair removal x6 — 2 of 6 left (cancelled)"
    )


def test_marked_line_replaces_only_our_line_for_that_package() -> None:
    notes = "VIP\r\nPunchcard: Facial x3 — 1 of 3 left [pkg-9]\r\nPunchcard: old [pkg-1]"

    updated = replace_marked_line(notes, "pkg-1", "Punchcard: new [pkg-1]")

    assert updated == "VIP\r\nPunchcard: Facial x3 — 1 of 3 left [pkg-9]\r\nPunchcard: new [pkg-1]"
    assert replace_marked_line("", "pkg-1", "Punchcard: new [pkg-1]") == "Punchcard: new [pkg-1]"


async def test_every_booking_note_says_the_day_the_client_is_told(
    pool: asyncpg.Pool,
    mindbody: MindbodyFake,
    zenoti: ZenotiFake,
    boulevard: BoulevardFake,
    all_platforms: SyncActivities,
) -> None:
    # Good through Apr 30 in the spa's zone (the settings' America/New_York): the package
    # ends at 00:00 EDT on May 1, which is what a note reading the end's own date would say.
    ends = schedule.ends_after(date(2027, 4, 30), "America/New_York")
    told = datetime.strptime(texts.local_date(ends, "America/New_York"), "%b %d, %Y").date()
    await add_client(pool)
    await link(pool, "mindbody", MB_CLIENT)
    mindbody.add_client(MB_CLIENT)
    await link(pool, "zenoti", "guest-1")
    zenoti.guests.add("guest-1")
    urn = boulevard.add_client()
    await link(pool, "boulevard", urn)

    result = await write_back(all_platforms, package_sync(expires_at=ends))

    assert {target: status for target, (status, _) in by_target(result).items()} == {
        "mindbody": "updated",
        "zenoti": "updated",
        "boulevard": "updated",
    }
    line = f"Punchcard: Laser hair removal x6 — 2 of 6 left, good through {told.isoformat()}"
    assert told == date(2027, 4, 30)
    assert mindbody.clients[MB_CLIENT]["Notes"] == f"{line} [pkg-1]"
    assert zenoti.guest_notes("guest-1") == [line]
    assert boulevard.clients[urn] == [line]
