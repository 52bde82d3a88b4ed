"""The transport's HTTP client sends byte for byte what the SDK's own client sends, prepared in one step."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.providers.twilio import transport
from tests.notifications.providers.twilio.conftest import ACCOUNT, TOKEN


def requests_made(http_client, call=None) -> list[tuple]:
    """(method, URL, headers, body, options) of every request `call(client)` makes, answered as Twilio would.

    Without `call`: the list the requests through `http_client` are added to from then on.
    """
    seen = []

    def send(prepared, **options):
        seen.append((prepared.method, prepared.url, dict(prepared.headers), prepared.body, options))
        response = requests.Response()
        response.status_code, response.url = (200 if prepared.method == "GET" else 201), prepared.url
        answer = {"messages": [], "next_page_uri": None} if prepared.method == "GET" else {"sid": "SM" + "0" * 32}
        response._content = json.dumps(answer).encode()
        response.headers["Content-Type"] = "application/json"
        return response

    http_client.session.send = send
    if call is not None:
        call(Client(ACCOUNT, TOKEN, http_client=http_client))
    return seen


@pytest.mark.parametrize("call", [
    lambda c: c.messages.create(to="+13125550101", body="Diario: ¿picazón? 0-10 & más", messaging_service_sid="MG1",
                                status_callback="https://eprp.example.org/sms/twilio/status/1/?a=b",
                                validity_period=3600),
    lambda c: c.messages.create(to="+13125550101", from_="+13125550100", body="Itch [0-10]",
                                media_url=["https://a.example/1.png", "https://a.example/2.png"]),
    lambda c: c.messages.list(to="+13125550100", date_sent_after=datetime(2026, 3, 20, 21, 50, tzinfo=UTC),
                              page_size=50, limit=50),
], ids=["create", "create with a list", "list with a query"])
def test_a_request_is_the_one_the_sdk_client_would_send(call):
    ours = requests_made(transport._HttpClient(), call)
    theirs = requests_made(TwilioHttpClient(timeout=10), call)
    assert ours == theirs and len(ours) == 1


def test_requests_go_to_the_configured_base(twilio, settings):
    sent = transport.TwilioTransport().send(to="+13125550101", body="Hi", status_callback=None, validity_period=60)
    assert sent.provider_sid == twilio.messages[-1]["sid"]
    assert (twilio.messages[-1]["to"], twilio.messages[-1]["validity_period"]) == ("+13125550101", "60")


@pytest.mark.parametrize("service", ["MG" + "c" * 32, ""])
def test_a_text_is_the_request_the_sdk_messages_resource_would_send(settings, service):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT, TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID, settings.TWILIO_FROM_NUMBER = service, "+13125550100"
    settings.SMS_MAX_PER_SECOND = 0
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"}}
    http_client = transport._HttpClient()
    ours = requests_made(http_client)
    sent = transport.TwilioTransport(http_client=http_client).send(
        to="+13125550101", body="Diario: ¿picazón? 0-10", status_callback="https://eprp.example.org/s/1/",
        validity_period=99_999)
    sender = {"messaging_service_sid": service} if service else {"from_": "+13125550100"}
    theirs = requests_made(TwilioHttpClient(timeout=10), lambda c: c.messages.create(
        to="+13125550101", body="Diario: ¿picazón? 0-10", status_callback="https://eprp.example.org/s/1/",
        validity_period=36_000, **sender))
    assert ours == theirs and len(ours) == 1
    assert sent.provider_sid == "SM" + "0" * 32
