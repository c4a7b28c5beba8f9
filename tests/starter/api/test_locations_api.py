"""Locations through the API: a spa with none lists the one its settings imply; a manager
adds locations with their zones and platform ids (the first is the default), the desk
only reads; bad zones, taken platform ids and changed records are refused by name."""

from __future__ import annotations

from tests.starter.api.conftest import Api
from workers.settings import Settings

NY = {
    "location_id": "soho",
    "name": "Glow SoHo",
    "timezone": "America/New_York",
    "boulevard_location_id": "1A1A1A1A-0000-4000-8000-000000000030",
    "mindbody_site_id": "-99",
    "mindbody_location_id": "1",
}
LA = {
    "location_id": "venice",
    "name": "Glow Venice",
    "timezone": "America/Los_Angeles",
    "zenoti_center_id": "c0ffee00-0000-4000-8000-000000000001",
}


async def test_a_spa_without_locations_lists_the_one_its_settings_imply(
    api: Api, settings: Settings
) -> None:
    listed = await api.http.get("/api/locations", headers=api.desk)
    assert listed.status_code == 200
    [only] = listed.json()
    assert (only["location_id"], only["name"], only["timezone"], only["implied"]) == (
        "main",
        settings.spa_name,
        settings.spa_timezone,
        True,
    )
    assert (await api.http.get("/api/locations/main", headers=api.desk)).json()["implied"]
    patched = await api.http.patch("/api/locations/main", json={"name": "x"}, headers=api.manager)
    assert patched.status_code == 409 and "create it" in patched.json()["detail"]


async def test_a_manager_sets_up_locations_and_the_desk_reads_them(api: Api) -> None:
    desk = await api.http.post("/api/locations", json=NY, headers=api.desk)
    assert desk.status_code == 403

    made = await api.http.post("/api/locations", json=NY, headers=api.manager)
    assert made.status_code == 201, made.text
    soho = made.json()
    assert soho["is_default"] is True and soho["implied"] is False  # the first one
    # A bare Boulevard UUID is stored as the URN its webhooks send.
    assert soho["boulevard_location_id"] == (
        "urn:blvd:Location:1a1a1a1a-0000-4000-8000-000000000030"
    )
    again = await api.http.post("/api/locations", json=NY, headers=api.manager)
    assert (again.status_code, again.json()) == (200, soho)

    venice = await api.http.post("/api/locations", json=LA, headers=api.manager)
    assert venice.status_code == 201 and venice.json()["is_default"] is False
    listed = (await api.http.get("/api/locations", headers=api.desk)).json()
    assert [loc["location_id"] for loc in listed] == ["soho", "venice"]

    # Making Venice the default takes the flag from SoHo.
    moved = await api.http.patch(
        "/api/locations/venice", json={"is_default": True}, headers=api.manager
    )
    assert moved.status_code == 200 and moved.json()["is_default"] is True
    listed = (await api.http.get("/api/locations", headers=api.desk)).json()
    assert [(loc["location_id"], loc["is_default"]) for loc in listed] == [
        ("venice", True),
        ("soho", False),
    ]
    cleared = await api.http.patch(
        "/api/locations/soho", json={"mindbody_site_id": None, "name": "SoHo"}, headers=api.manager
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["mindbody_site_id"], cleared.json()["mindbody_location_id"]) == (
        None,
        "1",
    )


async def test_bad_locations_are_refused_by_name(api: Api) -> None:
    for body, status, detail in (
        (
            NY | {"timezone": "Mars/Olympus"},
            422,
            "timezone: unknown time zone 'Mars/Olympus' (use an IANA name such as "
            "America/New_York)",
        ),
        (NY, 201, None),
        (
            LA | {"boulevard_location_id": NY["boulevard_location_id"]},
            409,
            "boulevard location 'urn:blvd:Location:1a1a1a1a-0000-4000-8000-000000000030' is "
            "already location 'soho'",
        ),
        (
            NY | {"name": "Another"},
            409,
            "location 'soho' already exists with a different name: update it instead of "
            "creating it",
        ),
        (LA | {"colour": "red"}, 422, "colour: Extra inputs are not permitted"),
        (LA | {"mindbody_location_id": "one"}, 422, None),
    ):
        answer = await api.http.post("/api/locations", json=body, headers=api.manager)
        assert answer.status_code == status, (body, answer.text)
        if detail is not None:
            assert answer.json()["detail"] == detail
    unchanged = await api.http.patch(
        "/api/locations/soho", json={"is_default": False}, headers=api.manager
    )
    assert unchanged.status_code == 409 and "mark another one default" in unchanged.json()["detail"]
    missing = await api.http.patch(
        "/api/locations/nowhere", json={"name": "x"}, headers=api.manager
    )
    assert (missing.status_code, missing.json()["detail"]) == (404, "no location 'nowhere'")


async def test_a_client_gets_a_home_location_and_sales_default_to_it(api: Api) -> None:
    for body in (NY, LA):
        assert (await api.http.post("/api/locations", json=body, headers=api.manager)).is_success
    unknown = await api.http.post(
        "/api/clients",
        json={"client_id": "c-zoe", "name": "Zoe Park", "home_location_id": "nowhere"},
        headers=api.desk,
    )
    assert unknown.status_code == 404 and "no location 'nowhere'" in unknown.json()["detail"]
    made = await api.http.post(
        "/api/clients",
        json={"client_id": "c-zoe", "name": "Zoe Park", "home_location_id": "venice"},
        headers=api.desk,
    )
    assert made.status_code == 201 and made.json()["home_location_id"] == "venice"

    sold = await api.http.post(
        "/api/sales", json={"client_id": "c-zoe", "type_code": "laser6"}, headers=api.desk
    )
    assert sold.status_code in (200, 201), sold.text
    assert sold.json()["location_id"] == "venice"

    moved = await api.http.patch(
        "/api/clients/c-zoe", json={"home_location_id": "soho"}, headers=api.desk
    )
    assert moved.status_code == 200 and moved.json()["home_location_id"] == "soho"
