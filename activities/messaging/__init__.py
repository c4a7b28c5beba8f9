"""Client and staff messaging: the Twilio SMS and SMTP adapters and the activities using them."""

from activities.messaging.activities import MessagingActivities, staff_subject
from activities.messaging.email import (
    SMTP_UNAVAILABLE,
    SmtpError,
    SmtpMailer,
    message_id_for,
    redact_addresses,
)
from activities.messaging.twilio import (
    OPTED_OUT_CODE,
    TWILIO_UNAVAILABLE,
    TwilioError,
    TwilioSms,
    redact_phones,
)

__all__ = [
    "OPTED_OUT_CODE",
    "SMTP_UNAVAILABLE",
    "TWILIO_UNAVAILABLE",
    "MessagingActivities",
    "SmtpError",
    "SmtpMailer",
    "TwilioError",
    "TwilioSms",
    "message_id_for",
    "redact_addresses",
    "redact_phones",
    "staff_subject",
]
