"""CRM write-back: package fields on the client's CRM contact (HubSpot, GoHighLevel, Salesforce)."""

from activities.crm.base import (
    FIELD_NAMES,
    CrmAdapter,
    CrmContact,
    CrmFields,
    crm_fields,
    local_day,
    remaining_value,
)
from activities.crm.gohighlevel import DEFAULT_FIELD_KEYS, GoHighLevelCrm, parse_field_keys
from activities.crm.hubspot import HubSpotCrm
from activities.crm.salesforce import JwtBearer, SalesforceCrm, parse_field_names

__all__ = [
    "DEFAULT_FIELD_KEYS",
    "FIELD_NAMES",
    "CrmAdapter",
    "CrmContact",
    "CrmFields",
    "GoHighLevelCrm",
    "HubSpotCrm",
    "JwtBearer",
    "SalesforceCrm",
    "crm_fields",
    "local_day",
    "parse_field_keys",
    "parse_field_names",
    "remaining_value",
]
