"""Salesforce write-back against the Salesforce stand-in, over real PostgreSQL: the OAuth
token cached and renewed, upsert by external id, the record's exact fields, request limits
retried, field errors recorded for good."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.crm import JwtBearer, SalesforceCrm, parse_field_names
from activities.writeback import SyncActivities, build_sync_activities
from tests.activities.test_crm import (
    CLIENT,
    EMAIL,
    add_client,
    link,
    package_sync,
    run_crm,
    running,
    sync_row,
)
from tests.fakes.salesforce import LIMIT_EXCEEDED, UNAVAILABLE, SalesforceFake
from workers.settings import Settings
from workflows.policies import BAD_CONFIGURATION

EXTERNAL_ID = "Punchcard_Client_Id__c"
EXPECTED_FIELDS = {
    "Punchcard_Sessions_Remaining__c": 2,
    "Punchcard_Package_Name__c": "Laser hair removal x6",
    "Punchcard_Package_Expires__c": "2027-04-30",  # the good-through day in New York
    "Punchcard_Last_Session__c": "2026-03-14",
    "Punchcard_Renewal_Link__c": "https://spa.example/renew/pkg-1",
    "Punchcard_Package_Status__c": "active",
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
async def salesforce() -> AsyncIterator[SalesforceFake]:
    async with running(SalesforceFake()) as fake:
        yield fake


def adapter(http: httpx.AsyncClient, fake: SalesforceFake, **options: Any) -> SalesforceCrm:
    return SalesforceCrm(
        http,
        client_id=SecretStr(fake.client_id),
        client_secret=SecretStr(options.pop("secret", fake.client_secret)),
        login_url=fake.base_url,
        **options,
    )


@pytest.fixture
def with_salesforce(
    pool: asyncpg.Pool, http: httpx.AsyncClient, salesforce: SalesforceFake
) -> SyncActivities:
    return SyncActivities(pool=pool, crm=adapter(http, salesforce), timezone="America/New_York")


def sent(request: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request["body"])
    return body


async def test_upsert_by_client_id_lands_exactly_the_package_fields(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    contact = salesforce.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})

    [answer] = (await run_crm(with_salesforce, package_sync())).results

    assert (answer.target, answer.status) == ("salesforce", "updated")
    [token] = salesforce.token_requests()
    assert token["form"]["grant_type"] == "client_credentials"
    [write] = salesforce.writes()
    assert write["path"] == f"/services/data/v62.0/sobjects/Contact/{EXTERNAL_ID}/{CLIENT}"
    assert write["headers"]["authorization"] == f"Bearer {salesforce.tokens_issued[0]}"
    assert sent(write) == EXPECTED_FIELDS
    assert (
        salesforce.records[contact].fields | EXPECTED_FIELDS == salesforce.records[contact].fields
    )
    row = await sync_row(pool, "salesforce")
    assert (row["version"], row["status"]) == (1, "updated")
    assert contact in row["detail"]


async def test_a_client_without_a_contact_gets_one_created_with_their_name(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)

    [answer] = (await run_crm(with_salesforce, package_sync())).results

    assert answer.status == "updated" and "created" in (answer.detail or "")
    [record] = salesforce.by_external_id(EXTERNAL_ID, CLIENT)
    assert record.fields["FirstName"] == "Ana" and record.fields["LastName"] == "Test"
    assert record.fields["Email"] == EMAIL
    assert record.fields["Punchcard_Sessions_Remaining__c"] == 2
    # The name and email went only into the creation: an update sends our fields alone.
    await run_crm(with_salesforce, package_sync(version=2, remaining=1))
    assert sent(salesforce.writes()[-1]) == EXPECTED_FIELDS | {"Punchcard_Sessions_Remaining__c": 1}
    assert len(salesforce.by_external_id(EXTERNAL_ID, CLIENT)) == 1


async def test_a_linked_record_is_updated_by_its_id_and_empty_values_clear(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    contact = salesforce.add_record(LastName="Test", Punchcard_Last_Session__c="2026-01-01")
    await link(pool, "salesforce", contact)

    sync = package_sync(kind="dollars", remaining=35_050, last_session_at=None, renewal_url=None)
    [answer] = (await run_crm(with_salesforce, sync)).results

    assert answer.status == "updated"
    [write] = salesforce.writes()
    assert write["path"] == f"/services/data/v62.0/sobjects/Contact/{contact}"
    assert write["status"] == 204
    fields = salesforce.records[contact].fields
    assert fields["Punchcard_Sessions_Remaining__c"] == 350.5  # dollars, as a number
    assert fields["Punchcard_Last_Session__c"] is None  # null clears the date
    assert fields["Punchcard_Renewal_Link__c"] is None


async def test_a_linked_record_salesforce_lacks_is_not_linked(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    await link(pool, "salesforce", "003000000000000GONE")

    [answer] = (await run_crm(with_salesforce, package_sync())).results

    assert answer.status == "not_linked" and "fix the client's salesforce link" in (
        answer.detail or ""
    )


async def test_token_expiry_mid_run_renews_it_once_and_writes_once(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    contact = salesforce.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})
    await run_crm(with_salesforce, package_sync(version=1))
    assert len(salesforce.token_requests()) == 1
    await run_crm(with_salesforce, package_sync(version=2, remaining=1))
    assert len(salesforce.token_requests()) == 1  # cached between pushes

    salesforce.expire_tokens()  # the session times out between two redemptions
    [answer] = (await run_crm(with_salesforce, package_sync(version=3, remaining=0))).results

    assert answer.status == "updated"
    assert len(salesforce.token_requests()) == 2
    writes = [r for r in salesforce.requests if r["kind"] == "write"]
    assert [w["status"] for w in writes] == [200, 200, 401, 200]
    assert len(salesforce.writes()) == 3  # exactly one upsert for version 3
    assert salesforce.writes()[-1]["headers"]["authorization"].endswith(salesforce.tokens_issued[1])
    assert salesforce.records[contact].fields["Punchcard_Sessions_Remaining__c"] == 0


async def test_request_limit_exceeded_is_retried_then_written_once(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    salesforce.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})
    salesforce.fail_next(1, LIMIT_EXCEEDED)

    with pytest.raises(ApplicationError) as limited:
        await run_crm(with_salesforce, package_sync())

    assert limited.value.type == "SalesforceUnavailable" and not limited.value.non_retryable
    assert "REQUEST_LIMIT_EXCEEDED" in limited.value.message
    row = await sync_row(pool, "salesforce")
    assert row["version"] == 0 and "REQUEST_LIMIT_EXCEEDED" in row["last_error"]

    [answer] = (await run_crm(with_salesforce, package_sync())).results  # Temporal's retry

    assert answer.status == "updated"
    assert len(salesforce.writes()) == 1
    row = await sync_row(pool, "salesforce")
    assert (row["version"], row["status"], row["last_error"]) == (1, "updated", None)


async def test_unavailable_waits_for_retry_after(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    salesforce.fail_next(1, UNAVAILABLE, retry_after=7)

    with pytest.raises(ApplicationError) as unavailable:
        await run_crm(with_salesforce, package_sync())

    assert unavailable.value.type == "SalesforceUnavailable"
    assert unavailable.value.next_retry_delay == timedelta(seconds=7)


async def test_a_validation_rule_refusal_is_recorded_for_good(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    salesforce.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})
    salesforce.fail_next(
        1,
        (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Sessions cannot be negative"),
        fields=["Punchcard_Sessions_Remaining__c"],
    )

    [answer] = (await run_crm(with_salesforce, package_sync())).results

    assert answer.status == "rejected"
    detail = answer.detail or ""
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in detail and "cannot be negative" in detail
    assert "Punchcard_Sessions_Remaining__c" in detail
    row = await sync_row(pool, "salesforce")
    assert (row["status"], row["detail"]) == ("rejected", detail)
    [again] = (await run_crm(with_salesforce, package_sync())).results
    assert again.status == "rejected" and "already synced" in (again.detail or "")
    assert len([r for r in salesforce.requests if r["kind"] == "write"]) == 1


async def test_a_field_the_org_lacks_is_rejected_naming_it(
    pool: asyncpg.Pool, http: httpx.AsyncClient, salesforce: SalesforceFake
) -> None:
    await add_client(pool)
    salesforce.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})
    crm = adapter(
        http, salesforce, field_names=parse_field_names("package_status=Package_Stage__c")
    )

    [answer] = (await run_crm(SyncActivities(pool=pool, crm=crm), package_sync())).results

    assert answer.status == "rejected"
    assert "INVALID_FIELD" in (answer.detail or "")
    assert "No such column 'Package_Stage__c'" in (answer.detail or "")


async def test_refused_client_credentials_are_bad_configuration(
    pool: asyncpg.Pool, http: httpx.AsyncClient, salesforce: SalesforceFake
) -> None:
    await add_client(pool)
    crm = adapter(http, salesforce, secret="wrong")

    with pytest.raises(ApplicationError) as refused:
        await run_crm(SyncActivities(pool=pool, crm=crm), package_sync())

    assert refused.value.type == BAD_CONFIGURATION and refused.value.non_retryable
    assert "invalid_client" in refused.value.message
    assert "PUNCHCARD_SALESFORCE_CLIENT_ID" in refused.value.message
    assert (await sync_row(pool, "salesforce"))["status"] == "rejected"
    assert salesforce.writes() == []


async def test_settings_build_salesforce_with_its_object_field_and_version(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    fake = SalesforceFake(
        object_name="Punchcard_Package__c",
        external_id_fields=frozenset({"Client_Key__c"}),
        known_fields={"Sessions_Left__c", *EXPECTED_FIELDS} - {"Punchcard_Sessions_Remaining__c"},
    )
    async with running(fake):
        await add_client(pool)
        settings = Settings(
            database_url=None,
            crm_provider="salesforce",
            salesforce_login_url=fake.base_url,
            salesforce_client_id=SecretStr(fake.client_id),
            salesforce_client_secret=SecretStr(fake.client_secret),
            salesforce_api_version="v45.0",
            salesforce_object="Punchcard_Package__c",
            salesforce_external_id_field="Client_Key__c",
            salesforce_field_names="sessions_remaining=Sessions_Left__c",
        )

        [answer] = (
            await run_crm(build_sync_activities(settings, pool, http), package_sync())
        ).results

        assert answer.status == "updated"  # created: a custom object needs no LastName
        [write] = fake.writes()
        assert (
            write["path"]
            == f"/services/data/v45.0/sobjects/Punchcard_Package__c/Client_Key__c/{CLIENT}"
        )
        assert sent(write)["Sessions_Left__c"] == 2


async def test_salesforce_without_its_secret_refuses_to_start(http: httpx.AsyncClient) -> None:
    settings = Settings(
        database_url=None, crm_provider="salesforce", salesforce_client_id=SecretStr("id")
    )

    with pytest.raises(ValueError, match="PUNCHCARD_SALESFORCE_CLIENT_SECRET is required"):
        build_sync_activities(settings, None, http)  # type: ignore[arg-type]


def rsa_key_pair() -> tuple[str, str]:
    """A fresh private key (PEM) and its public key, as the connected app's certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_the_jwt_bearer_flow_signs_an_assertion_salesforce_accepts(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    private, public = rsa_key_pair()
    fake = SalesforceFake(jwt_public_key=public)
    async with running(fake):
        await add_client(pool)
        fake.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})
        settings = Settings(
            database_url=None,
            crm_provider="salesforce",
            salesforce_login_url=fake.base_url,
            salesforce_client_id=SecretStr(fake.client_id),
            salesforce_username=fake.jwt_username,
            # As an environment variable holds it: one line, newlines escaped.
            salesforce_private_key=SecretStr(private.replace("\n", "\\n")),
        )

        [answer] = (
            await run_crm(build_sync_activities(settings, pool, http), package_sync())
        ).results

        assert answer.status == "updated"
        [token] = fake.token_requests()
        assert token["form"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert "client_secret" not in token["form"]
        assert token["status"] == 200


async def test_an_assertion_signed_by_another_key_is_bad_configuration(
    pool: asyncpg.Pool, http: httpx.AsyncClient
) -> None:
    _, public = rsa_key_pair()
    other, _ = rsa_key_pair()
    fake = SalesforceFake(jwt_public_key=public)
    async with running(fake):
        await add_client(pool)
        crm = SalesforceCrm(
            http,
            client_id=SecretStr(fake.client_id),
            jwt_bearer=JwtBearer(username=fake.jwt_username, private_key=SecretStr(other)),
            login_url=fake.base_url,
        )

        with pytest.raises(ApplicationError) as refused:
            await run_crm(SyncActivities(pool=pool, crm=crm), package_sync())

        assert refused.value.type == BAD_CONFIGURATION
        assert "invalid_grant" in refused.value.message
        assert fake.writes() == []


async def test_an_external_id_on_two_records_is_rejected_saying_so(
    pool: asyncpg.Pool, salesforce: SalesforceFake, with_salesforce: SyncActivities
) -> None:
    await add_client(pool)
    salesforce.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})
    salesforce.add_record(LastName="Test", **{EXTERNAL_ID: CLIENT})

    [answer] = (await run_crm(with_salesforce, package_sync())).results

    assert answer.status == "rejected"
    assert f"more than one Contact has {EXTERNAL_ID} = {CLIENT}" in (answer.detail or "")
    assert salesforce.writes() == []
