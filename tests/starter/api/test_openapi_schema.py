"""/openapi.json types every body: no free-form objects, and the setup endpoints are there."""

from __future__ import annotations

from typing import Any

from starter.api.app import create_app
from workers.settings import Settings


def _openapi() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def _untyped_objects(node: Any, path: str = "") -> list[str]:
    """Where a schema allows properties of any type (`additionalProperties: true` or `{}`)."""
    found: list[str] = []
    if isinstance(node, dict):
        extra = node.get("additionalProperties")
        if extra is True or extra == {}:
            found.append(path or "/")
        for key, child in node.items():
            found += _untyped_objects(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _untyped_objects(child, f"{path}/{index}")
    return found


def test_no_schema_in_openapi_takes_untyped_properties() -> None:
    assert _untyped_objects(_openapi()) == []


def test_the_walk_finds_an_untyped_object() -> None:
    assert _untyped_objects({"a": {"items": {"additionalProperties": True}}}) == ["/a/items"]
    assert _untyped_objects({"additionalProperties": {}}) == ["/"]


def test_review_items_and_setup_endpoints_are_typed() -> None:
    spec = _openapi()
    paths = spec["paths"]
    review = paths["/api/review"]["get"]["responses"]["200"]["content"]["application/json"]
    assert review["schema"]["items"] == {"$ref": "#/components/schemas/ReviewItemOut"}
    assert "visit_workflow_id" in spec["components"]["schemas"]["ReviewItemOut"]["properties"]
    expected = {
        "/api/clients": {"get", "post"},
        "/api/clients/{client_id}": {"get", "patch"},
        "/api/clients/{client_id}/sms-opt-out": {"post"},
        "/api/clients/{client_id}/sms-opt-in": {"post"},
        "/api/clients/{client_id}/messages": {"get"},
        "/api/clients/{client_id}/links": {"put"},
        "/api/package-types": {"get", "post"},
        "/api/package-types/{type_code}": {"get", "put"},
        "/api/staff": {"get", "post"},
        "/api/staff/{staff_id}/token": {"post"},
        "/api/staff/{staff_id}/revoke": {"post"},
        "/api/alerts": {"get"},
        "/api/providers": {"get"},
        "/api/packages/{package_id}/book": {"post"},
        "/api/packages/{package_id}/forfeit": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    created = paths["/api/staff"]["post"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"] == {"$ref": "#/components/schemas/StaffToken"}
    client_create = spec["components"]["schemas"]["ClientCreate"]
    assert client_create["additionalProperties"] is False
    assert client_create["properties"]["name"]["maxLength"] == 200
