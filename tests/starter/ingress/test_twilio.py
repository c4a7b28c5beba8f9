"""Twilio inbound SMS: the documented signature vector, the port quirk, public URLs,
keywords and TwiML."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from starter.ingress import twilio
from starter.ingress.base import WebhookRejected

# provider-formats.md §2.4 (the Twilio docs example).
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+12349013030"),
    ("Digits", "1234"),
    ("From", "+12349013030"),
    ("To", "+18005551212"),
]
TOKEN = "12345"
SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_the_documented_vector() -> None:
    assert twilio.expected_signature(URL, PARAMS, TOKEN) == SIGNATURE
    twilio.verify(URL, PARAMS, SIGNATURE, TOKEN)


def test_parameter_order_does_not_matter_and_a_mapping_works() -> None:
    twilio.verify(URL, list(reversed(PARAMS)), SIGNATURE, TOKEN)
    twilio.verify(URL, dict(PARAMS), SIGNATURE, TOKEN)


def test_repeated_names_contribute_each_value_sorted() -> None:
    params = [("MediaUrl", "b"), ("Body", "hi"), ("MediaUrl", "a")]
    expected = twilio.expected_signature(
        URL, [("Body", "hi"), ("MediaUrl", "a"), ("MediaUrl", "b")], TOKEN
    )
    assert twilio.expected_signature(URL, params, TOKEN) == expected
    assert expected != twilio.expected_signature(URL, [("Body", "hi"), ("MediaUrl", "a")], TOKEN)
    twilio.verify(URL, params, expected, TOKEN)


@pytest.mark.parametrize(
    ("signed_url", "received_url"),
    [
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", URL),  # Twilio kept the port
        (URL, "https://mycompany.com:443/myapp.php?foo=1&bar=2"),  # the app sees the port
        ("http://spa.example:80/sms", "http://spa.example/sms"),
        ("http://spa.example/sms", "http://spa.example:80/sms"),
        ("https://spa.example/sms", "https://spa.example:8443/sms"),  # any port is stripped
    ],
)
def test_a_signature_with_or_without_the_port_is_accepted(
    signed_url: str, received_url: str
) -> None:
    signature = twilio.expected_signature(signed_url, PARAMS, TOKEN)
    twilio.verify(received_url, PARAMS, signature, TOKEN)


@pytest.mark.parametrize(
    ("url", "params", "signature", "token", "reason"),
    [
        (URL, PARAMS, SIGNATURE, None, "no auth token is configured"),
        (URL, PARAMS, SIGNATURE, "", "no auth token is configured"),
        (URL, PARAMS, None, TOKEN, "X-Twilio-Signature header is missing"),
        (URL, PARAMS, "", TOKEN, "X-Twilio-Signature header is missing"),
        (URL, PARAMS, SIGNATURE, "54321", f"X-Twilio-Signature does not match {URL}"),
        (URL, [*PARAMS, ("Body", "x")], SIGNATURE, TOKEN, "X-Twilio-Signature does not match"),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", PARAMS, SIGNATURE, TOKEN, "does not match"),
        (URL.replace("foo=1", "foo=2"), PARAMS, SIGNATURE, TOKEN, "does not match"),
        (URL, PARAMS, "é" * 28, TOKEN, "does not match"),
        ("https://spa.example:port/x", PARAMS, SIGNATURE, TOKEN, "cannot check a signature"),
    ],
)
def test_bad_requests_are_a_401(
    url: str,
    params: list[tuple[str, str]],
    signature: str | None,
    token: str | None,
    reason: str,
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        twilio.verify(url, params, signature, token)
    assert caught.value.status == 401
    assert caught.value.reason.startswith("twilio: ")
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("request_url", "base", "expected"),
    [
        (
            "http://10.0.0.5:8000/webhooks/twilio?x=1&y=2",
            "https://spa.example",
            "https://spa.example/webhooks/twilio?x=1&y=2",
        ),
        (
            "http://localhost:8000/webhooks/twilio",
            "https://spa.example/",
            "https://spa.example/webhooks/twilio",
        ),
        ("http://localhost:8000/a", "https://spa.example:8443", "https://spa.example:8443/a"),
        ("http://localhost:8000/a?b=1", None, "http://localhost:8000/a?b=1"),
        ("http://localhost:8000/a", "", "http://localhost:8000/a"),
    ],
)
def test_public_url_replaces_only_the_origin(
    request_url: str, base: str | None, expected: str
) -> None:
    assert twilio.public_url(request_url, base) == expected


@pytest.mark.parametrize(
    "base", ["spa.example", "https://spa.example/prefix", "https://spa.example/?a=1"]
)
def test_public_url_refuses_a_base_that_is_not_an_origin(base: str) -> None:
    with pytest.raises(ValueError, match="public base URL"):
        twilio.public_url("http://localhost/a", base)


def test_a_public_url_makes_a_proxied_request_verify() -> None:
    params = [("MessageSid", "SM1"), ("Body", "BOOK")]
    signature = twilio.expected_signature("https://spa.example/webhooks/twilio", params, TOKEN)
    seen = "http://10.0.0.5:8000/webhooks/twilio"
    with pytest.raises(WebhookRejected):
        twilio.verify(seen, params, signature, TOKEN)
    twilio.verify(twilio.public_url(seen, "https://spa.example"), params, signature, TOKEN)


# --- inbound messages ------------------------------------------------------------------

INBOUND = {
    "MessageSid": "SM" + "a" * 32,
    "SmsSid": "SM" + "a" * 32,
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "MessagingServiceSid": "MG0123456789abcdef0123456789abcdef",
    "From": "+15555550123",
    "To": "+15555559876",
    "Body": "STOP",
    "NumMedia": "0",
    "OptOutType": "STOP",
    "FromCountry": "US",
}


def test_the_documented_inbound_stop() -> None:
    sms = twilio.parse_inbound(INBOUND)
    assert sms == twilio.InboundSms(
        message_sid="SM" + "a" * 32,
        from_number="+15555550123",
        to_number="+15555559876",
        body="STOP",
        keyword="stop",
    )


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        *(
            (word, "stop")
            for word in (
                "STOP",
                "STOPALL",
                "UNSUBSCRIBE",
                "CANCEL",
                "END",
                "QUIT",
                "REVOKE",
                "OPTOUT",
            )
        ),
        *((word, "start") for word in ("START", "UNSTOP", "YES")),
        ("HELP", "help"),
        ("INFO", "help"),
        ("BOOK", "book"),
        ("  sToP \n", "stop"),
        ("book", "book"),
        ("stop please", None),
        ("Can I BOOK for Tuesday?", None),
        ("", None),
        ("thanks!", None),
    ],
)
def test_keywords_match_the_whole_body(body: str, keyword: str | None) -> None:
    params = {"MessageSid": "SM1", "From": "+15555550123", "To": "+15555559876", "Body": body}
    sms = twilio.parse_inbound(params)
    assert sms.keyword == keyword
    assert sms.body == body


@pytest.mark.parametrize(
    ("opt_out", "keyword"), [("STOP", "stop"), ("START", "start"), ("HELP", "help")]
)
def test_opt_out_type_wins_over_the_body(opt_out: str, keyword: str) -> None:
    params = [("MessageSid", "SM1"), ("From", "+1"), ("Body", "arrêt"), ("OptOutType", opt_out)]
    assert twilio.parse_inbound(params).keyword == keyword


def test_to_is_optional_and_the_first_repeated_value_is_read() -> None:
    sms = twilio.parse_inbound(
        [("MessageSid", "SM1"), ("From", "+1"), ("Body", "a"), ("Body", "b")]
    )
    assert (sms.to_number, sms.body) == (None, "a")


@pytest.mark.parametrize(
    ("missing", "params"),
    [
        ("MessageSid", {"From": "+1", "Body": "hi"}),
        ("MessageSid", {"MessageSid": "", "From": "+1", "Body": "hi"}),
        ("From", {"MessageSid": "SM1", "Body": "hi"}),
        ("Body", {"MessageSid": "SM1", "From": "+1"}),
    ],
)
def test_missing_fields_are_a_422(missing: str, params: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as caught:
        twilio.parse_inbound(params)
    assert (caught.value.status, caught.value.reason) == (
        422,
        f"twilio inbound: {missing} is missing",
    )


def test_twiml_without_a_reply_sends_nothing() -> None:
    for reply in (None, ""):
        answer = twilio.twiml(reply)
        assert answer.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        root = ElementTree.fromstring(answer.encode())
        assert root.tag == "Response" and len(root) == 0 and not root.text


def test_twiml_escapes_the_reply() -> None:
    reply = 'Booked <3 & see you at 5 > 4 "ok"\x00'
    message = ElementTree.fromstring(twilio.twiml(reply).encode()).find("Message")
    assert message is not None
    assert message.text == reply.replace("\x00", "")  # XML cannot carry NUL at all
    assert twilio.twiml(reply) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        'Booked &lt;3 &amp; see you at 5 &gt; 4 "ok"'
        "</Message></Response>"
    )
