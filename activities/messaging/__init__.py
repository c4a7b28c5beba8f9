"""Client and staff messaging: the Twilio SMS and SMTP adapters and the activities using them."""

from activities.messaging.activities import MessagingActivities, staff_subject
from activities.messaging.email import (
    SMTP_UNAVAILABLE,
    SmtpMailer,
    message_id_for,
    redact_addresses,
)
from activities.messaging.twilio import (
    OPTED_OUT_CODE,
    TWILIO_UNAVAILABLE,
    TwilioSms,
    redact_phones,
)

__all__ = [
    "OPTED_OUT_CODE",
    "SMTP_UNAVAILABLE",
    "TWILIO_UNAVAILABLE",
    "MessagingActivities",
    "SmtpMailer",
    "TwilioSms",
    "message_id_for",
    "redact_addresses",
    "redact_phones",
    "staff_subject",
]
