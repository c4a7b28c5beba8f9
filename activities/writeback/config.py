"""Build the write-back activities from configuration, refusing half-configured providers.

`build_sync_activities` takes anything with the settings attributes below (the worker's
`Settings` does), so `activities/` needs no import from `workers/`. Choosing a provider
without its credentials is an error at start-up, not a failure on every balance change.
"""

from __future__ import annotations

from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from pydantic import SecretStr

from activities.booking.mindbody import MindbodyApi
from activities.booking.zenoti import ZenotiApi
from activities.crm.base import CrmAdapter
from activities.crm.gohighlevel import GoHighLevelCrm, parse_field_keys
from activities.crm.hubspot import HubSpotCrm
from activities.crm.salesforce import JwtBearer, SalesforceCrm, parse_field_names
from activities.writeback.activities import SyncActivities
from activities.writeback.booking import (
    BOOKING_PLATFORMS,
    BookingWriter,
    BoulevardWriter,
    MindbodyWriter,
    ZenotiWriter,
)
from activities.writeback.boulevard import BoulevardAdmin
from activities.writeback.mindbody_sale import (
    MindbodyRenewalSale,
    parse_payment,
    parse_pricing_options,
)

_T = TypeVar("_T")


class SyncConfig(Protocol):
    """The settings write-back reads (PUNCHCARD_… environment variables)."""

    @property
    def spa_timezone(self) -> str: ...
    @property
    def crm_provider(self) -> str: ...
    @property
    def hubspot_base_url(self) -> str: ...
    @property
    def hubspot_token(self) -> SecretStr | None: ...
    @property
    def hubspot_property_prefix(self) -> str: ...
    @property
    def gohighlevel_base_url(self) -> str: ...
    @property
    def gohighlevel_token(self) -> SecretStr | None: ...
    @property
    def gohighlevel_field_keys(self) -> str: ...
    @property
    def salesforce_login_url(self) -> str: ...
    @property
    def salesforce_instance_url(self) -> str: ...
    @property
    def salesforce_client_id(self) -> SecretStr | None: ...
    @property
    def salesforce_client_secret(self) -> SecretStr | None: ...
    @property
    def salesforce_username(self) -> str | None: ...
    @property
    def salesforce_private_key(self) -> SecretStr | None: ...
    @property
    def salesforce_jwt_audience(self) -> str: ...
    @property
    def salesforce_api_version(self) -> str: ...
    @property
    def salesforce_object(self) -> str: ...
    @property
    def salesforce_external_id_field(self) -> str: ...
    @property
    def salesforce_field_names(self) -> str: ...
    @property
    def booking_write_back(self) -> str: ...
    @property
    def mindbody_base_url(self) -> str: ...
    @property
    def mindbody_api_key(self) -> SecretStr | None: ...
    @property
    def mindbody_staff_token(self) -> SecretStr | None: ...
    @property
    def mindbody_site_id(self) -> str | None: ...
    @property
    def mindbody_renewal_pricing_options(self) -> str: ...
    @property
    def mindbody_renewal_payment(self) -> str: ...
    @property
    def mindbody_location_id(self) -> int | None: ...
    @property
    def boulevard_base_url(self) -> str: ...
    @property
    def boulevard_business_id(self) -> str | None: ...
    @property
    def boulevard_api_key(self) -> str | None: ...
    @property
    def boulevard_api_secret(self) -> SecretStr | None: ...
    @property
    def zenoti_base_url(self) -> str: ...
    @property
    def zenoti_api_key(self) -> SecretStr | None: ...


def build_sync_activities(
    config: SyncConfig, pool: asyncpg.Pool, http: httpx.AsyncClient
) -> SyncActivities:
    """The CRM adapter and booking writers the configuration asks for.

    Raises:
        ValueError: a chosen provider lacks a credential, or a name is unknown.
    """
    return SyncActivities(
        pool=pool,
        crm=build_crm(config, http),
        writers=build_writers(config, http),
        renewal_sale=build_renewal_sale(config, http),
        timezone=config.spa_timezone,
    )


def build_crm(config: SyncConfig, http: httpx.AsyncClient) -> CrmAdapter | None:
    provider = config.crm_provider
    if provider == "none":
        return None
    if provider == "hubspot":
        return HubSpotCrm(
            http,
            token=_required(config.hubspot_token, "PUNCHCARD_HUBSPOT_TOKEN", provider),
            base_url=config.hubspot_base_url,
            property_prefix=config.hubspot_property_prefix,
        )
    if provider == "gohighlevel":
        return GoHighLevelCrm(
            http,
            token=_required(config.gohighlevel_token, "PUNCHCARD_GOHIGHLEVEL_TOKEN", provider),
            base_url=config.gohighlevel_base_url,
            field_keys=parse_field_keys(config.gohighlevel_field_keys),
        )
    if provider == "salesforce":
        jwt = None
        if config.salesforce_private_key is not None:
            jwt = JwtBearer(
                username=_required(
                    config.salesforce_username, "PUNCHCARD_SALESFORCE_USERNAME", provider
                ),
                private_key=SecretStr(
                    config.salesforce_private_key.get_secret_value().replace("\\n", "\n")
                ),
                audience=config.salesforce_jwt_audience,
            )
        return SalesforceCrm(
            http,
            client_id=_required(
                config.salesforce_client_id, "PUNCHCARD_SALESFORCE_CLIENT_ID", provider
            ),
            client_secret=None
            if jwt is not None
            else _required(
                config.salesforce_client_secret, "PUNCHCARD_SALESFORCE_CLIENT_SECRET", provider
            ),
            jwt_bearer=jwt,
            login_url=config.salesforce_login_url,
            instance_url=config.salesforce_instance_url,
            api_version=config.salesforce_api_version,
            sobject=config.salesforce_object,
            external_id_field=config.salesforce_external_id_field,
            field_names=parse_field_names(config.salesforce_field_names),
        )
    raise ValueError(
        f"unknown PUNCHCARD_CRM_PROVIDER {provider!r} (none, hubspot, gohighlevel, salesforce)"
    )


def write_back_platforms(text: str) -> list[str]:
    """The platforms named in PUNCHCARD_BOOKING_WRITE_BACK ("mindbody, zenoti").

    Raises:
        ValueError: a name that is not a booking platform.
    """
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in BOOKING_PLATFORMS]
    if unknown:
        raise ValueError(
            f"PUNCHCARD_BOOKING_WRITE_BACK names unknown platforms {', '.join(unknown)} "
            f"(use {', '.join(BOOKING_PLATFORMS)})"
        )
    return list(dict.fromkeys(names))


def build_writers(config: SyncConfig, http: httpx.AsyncClient) -> list[BookingWriter]:
    """One writer per platform listed; Jane, read-only, needs none."""
    zone = ZoneInfo(config.spa_timezone)
    writers: list[BookingWriter] = []
    for platform in write_back_platforms(config.booking_write_back):
        if platform == "mindbody":
            api = MindbodyApi(
                http,
                base_url=config.mindbody_base_url,
                api_key=_required(config.mindbody_api_key, "PUNCHCARD_MINDBODY_API_KEY", platform),
                staff_token=_required(
                    config.mindbody_staff_token, "PUNCHCARD_MINDBODY_STAFF_TOKEN", platform
                ),
            )
            site_id = _required(config.mindbody_site_id, "PUNCHCARD_MINDBODY_SITE_ID", platform)
            writers.append(MindbodyWriter(api, site_id=site_id, zone=zone))
        elif platform == "zenoti":
            api_key = _required(config.zenoti_api_key, "PUNCHCARD_ZENOTI_API_KEY", platform)
            zenoti = ZenotiApi(http, base_url=config.zenoti_base_url, api_key=api_key)
            writers.append(ZenotiWriter(zenoti, zone=zone))
        elif platform == "boulevard":
            admin = BoulevardAdmin(
                http,
                business_id=_required(
                    config.boulevard_business_id, "PUNCHCARD_BOULEVARD_BUSINESS_ID", platform
                ),
                api_key=_required(
                    config.boulevard_api_key, "PUNCHCARD_BOULEVARD_API_KEY", platform
                ),
                api_secret=_required(
                    config.boulevard_api_secret, "PUNCHCARD_BOULEVARD_API_SECRET", platform
                ),
                base_url=config.boulevard_base_url,
            )
            writers.append(BoulevardWriter(admin, zone=zone))
    return writers


def build_renewal_sale(config: SyncConfig, http: httpx.AsyncClient) -> MindbodyRenewalSale | None:
    """Stripe renewals sold in Mindbody too, when pricing options are mapped (else None)."""
    options = parse_pricing_options(config.mindbody_renewal_pricing_options)
    if not options:
        return None
    what = "sell renewals in Mindbody"
    api = MindbodyApi(
        http,
        base_url=config.mindbody_base_url,
        api_key=_required(config.mindbody_api_key, "PUNCHCARD_MINDBODY_API_KEY", what),
        staff_token=_required(config.mindbody_staff_token, "PUNCHCARD_MINDBODY_STAFF_TOKEN", what),
    )
    return MindbodyRenewalSale(
        api,
        site_id=_required(config.mindbody_site_id, "PUNCHCARD_MINDBODY_SITE_ID", what),
        pricing_options=options,
        payment=parse_payment(config.mindbody_renewal_payment),
        location_id=config.mindbody_location_id,
    )


def _required(value: _T | None, name: str, provider: str) -> _T:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name} is required to {_purpose(provider)}")
    return value


def _purpose(provider: str) -> str:
    return provider if " " in provider else f"write back to {provider}"
