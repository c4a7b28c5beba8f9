"""The Zenoti adapter against the local stand-in: auth, windows, paging, statuses, failures."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from activities.booking.zenoti import (
    ZENOTI_UNAVAILABLE,
    AppointmentsPage,
    ZenotiApi,
    ZenotiError,
    parse_status_map,
    request_days,
)
from tests.fakes.zenoti import CANCELLED, CHECKED_IN, CLOSED, NEW, NO_SHOW, ZenotiFake
from workflows.policies import PROVIDER_REJECTED
from workflows.visit_models import Platform, VisitChange

CENTER = "center-1"
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
async def zenoti() -> AsyncIterator[ZenotiFake]:
    fake = ZenotiFake()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def api(http: httpx.AsyncClient, fake: ZenotiFake, **options: object) -> ZenotiApi:
    return ZenotiApi(http, base_url=fake.base_url, api_key=SecretStr(fake.api_key), **options)  # type: ignore[arg-type]


async def all_pages(
    zenoti: ZenotiApi, start: datetime, end: datetime, *, size: int = 100
) -> list[AppointmentsPage]:
    pages, token = [], None
    while True:
        page = await zenoti.appointments_page(
            CENTER, window_start=start, window_end=end, token=token, size=size, observed_at=end
        )
        pages.append(page)
        token = page.next_token
        if token is None:
            return pages


async def test_one_short_window_is_one_request_with_the_documented_parameters(
    http: httpx.AsyncClient, zenoti: ZenotiFake
) -> None:
    done = zenoti.add(CENTER, guest_id="g-ana", start=NOW - timedelta(hours=2), status=CLOSED)
    zenoti.add("other-center", guest_id="g-ben", start=NOW - timedelta(hours=2), status=CLOSED)

    [page] = await all_pages(api(http, zenoti), NOW - timedelta(minutes=45), NOW)

    [request] = zenoti.requests
    assert request["center_id"] == CENTER
    assert request["include_no_show_cancel"] == "true"
    # Whole days, widened by one on each side: any center zone is covered.
    assert (request["start_date"], request["end_date"]) == ("2026-03-09", "2026-03-12")
    [visit] = page.visits
    assert visit.event_key == f"zenoti:{done}:completed"
    assert (visit.platform, visit.change, visit.source) == (
        Platform.ZENOTI,
        VisitChange.COMPLETED,
        "poll",
    )
    assert visit.external_client_id == "g-ana"
    assert (visit.service_key, visit.service_name) == ("svc-laser", "Laser hair removal")
    assert visit.provider_id == "emp-kim" and visit.site_id == CENTER
    assert visit.scheduled_at == NOW - timedelta(hours=2)
    assert visit.service_date == date(2026, 3, 10)
    assert visit.occurred_at == NOW - timedelta(hours=1)  # the appointment's end
    assert visit.client_id is None  # intake resolves guests through client links


async def test_statuses_map_through_the_table_and_unknown_ones_are_skipped(
    http: httpx.AsyncClient, zenoti: ZenotiFake, caplog: pytest.LogCaptureFixture
) -> None:
    at = NOW - timedelta(hours=3)
    ids = {
        status: zenoti.add(CENTER, guest_id="g", start=at, status=status)
        for status in (CLOSED, NO_SHOW, CANCELLED, NEW, CHECKED_IN, "Checked In", 99)
    }
    zenoti.add_blockout(CENTER, start=at)

    with caplog.at_level(logging.WARNING, logger="punchcard.zenoti"):
        [page] = await all_pages(api(http, zenoti), NOW - timedelta(hours=1), NOW)

    changes = {v.appointment_id: v.change for v in page.visits}
    assert changes == {
        ids[CLOSED]: VisitChange.COMPLETED,
        ids[NO_SHOW]: VisitChange.NO_SHOW,
        ids[CANCELLED]: VisitChange.CANCELLED,
        ids[NEW]: VisitChange.BOOKED,
        ids[CHECKED_IN]: VisitChange.ARRIVED,
        ids["Checked In"]: VisitChange.ARRIVED,
    }
    assert (page.appointments, page.skipped) == (8, 2)  # status 99 and the block-out
    assert ids[99] in caplog.text and "unknown status 99" in caplog.text
    # A booking is noted when seen; its later states get keys of their own.
    assert {v.event_key for v in page.visits if v.appointment_id == ids[NEW]} == {
        f"zenoti:{ids[NEW]}:booked"
    }


async def test_the_status_table_is_configurable(
    http: httpx.AsyncClient, zenoti: ZenotiFake
) -> None:
    seven = zenoti.add(CENTER, guest_id="g", start=NOW - timedelta(hours=2), status=7)
    zenoti.add(CENTER, guest_id="g", start=NOW - timedelta(hours=2), status=CLOSED)
    table = parse_status_map("7 = completed, 1 = skip")

    [page] = await all_pages(api(http, zenoti, status_map=table), NOW - timedelta(hours=1), NOW)

    assert [(v.appointment_id, v.change) for v in page.visits] == [(seven, VisitChange.COMPLETED)]
    with pytest.raises(ValueError, match="not status=change"):
        parse_status_map("7:completed")
    with pytest.raises(ValueError):
        parse_status_map("7=finished")


async def test_a_long_gap_is_read_in_pages_of_at_most_seven_days(
    http: httpx.AsyncClient, zenoti: ZenotiFake
) -> None:
    start = NOW - timedelta(days=17)
    booked = [
        zenoti.add(CENTER, guest_id="g", start=start + timedelta(days=d), status=CLOSED)
        for d in range(0, 18, 2)
    ]

    pages = await all_pages(api(http, zenoti), start, NOW)

    windows = zenoti.windows(CENTER)
    assert len(pages) == len(windows) == 3
    assert all(0 < (end - begin).days <= 7 for begin, end in windows)
    assert windows[0][0] == (start - timedelta(days=1)).date()
    assert windows[-1][1] == NOW.date() + timedelta(days=2)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))  # contiguous
    seen = [v.appointment_id for p in pages for v in p.visits]
    assert sorted(seen) == sorted(booked)  # each exactly once


async def test_an_envelope_with_page_info_is_followed_page_by_page(
    http: httpx.AsyncClient, zenoti: ZenotiFake
) -> None:
    zenoti.envelope = True
    booked = {
        zenoti.add(CENTER, guest_id="g", start=NOW - timedelta(minutes=m), status=CLOSED)
        for m in range(61, 66)
    }

    pages = await all_pages(api(http, zenoti), NOW - timedelta(minutes=30), NOW, size=2)

    assert [len(p.visits) for p in pages] == [2, 2, 1]
    assert [r["page"] for r in zenoti.requests] == ["1", "2", "3"]
    assert {v.appointment_id for p in pages for v in p.visits} == booked


async def test_a_bad_key_is_a_permanent_rejection(
    http: httpx.AsyncClient, zenoti: ZenotiFake
) -> None:
    wrong = ZenotiApi(http, base_url=zenoti.base_url, api_key="not-the-key")

    with pytest.raises(ZenotiError) as failure:
        await all_pages(wrong, NOW - timedelta(hours=1), NOW)

    assert failure.value.type == PROVIDER_REJECTED and failure.value.non_retryable
    assert failure.value.http_status == 401
    assert "PUNCHCARD_ZENOTI_API_KEY" in failure.value.message
    assert "not-the-key" not in failure.value.message


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_server_errors_are_retryable(
    http: httpx.AsyncClient, zenoti: ZenotiFake, status: int
) -> None:
    zenoti.fail_next(1, status=status, message="busy")

    with pytest.raises(ZenotiError) as failure:
        await all_pages(api(http, zenoti), NOW - timedelta(hours=1), NOW)

    assert failure.value.type == ZENOTI_UNAVAILABLE and not failure.value.non_retryable
    assert "busy" in failure.value.message
    # The next attempt (Temporal's retry) goes through.
    assert len(await all_pages(api(http, zenoti), NOW - timedelta(hours=1), NOW)) == 1


async def test_other_client_errors_are_permanent(
    http: httpx.AsyncClient, zenoti: ZenotiFake
) -> None:
    zenoti.fail_next(1, status=400, message="Invalid center")

    with pytest.raises(ZenotiError) as failure:
        await all_pages(api(http, zenoti), NOW - timedelta(hours=1), NOW)

    assert failure.value.type == PROVIDER_REJECTED and failure.value.non_retryable
    assert "Invalid center" in failure.value.message


async def test_an_unreachable_host_is_retryable(http: httpx.AsyncClient) -> None:
    gone = ZenotiApi(http, base_url="http://127.0.0.1:9/v1", api_key="k")

    with pytest.raises(ZenotiError) as failure:
        await all_pages(gone, NOW - timedelta(hours=1), NOW)

    assert failure.value.type == ZENOTI_UNAVAILABLE and not failure.value.non_retryable


async def test_the_appointments_path_is_configurable(
    http: httpx.AsyncClient, zenoti: ZenotiFake
) -> None:
    moved = api(http, zenoti, appointments_path="/appointments/list")

    with pytest.raises(ZenotiError) as failure:  # the stand-in only serves the documented path
        await all_pages(moved, NOW - timedelta(hours=1), NOW)

    assert failure.value.http_status == 404


def test_request_days_cover_every_zone() -> None:
    assert request_days(
        datetime(2026, 3, 10, 23, 50, tzinfo=UTC), datetime(2026, 3, 11, 0, 5, tzinfo=UTC)
    ) == (date(2026, 3, 9), date(2026, 3, 13))
