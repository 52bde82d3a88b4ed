"""Signed but replayed: a body re-signed by moving a parameter into another's value, another
account's text, and a delivery Twilio's idempotency token says was already handled."""

import uuid

import pytest
from twilio.request_validator import RequestValidator

from notifications.models import InboundMessage, OutboundMessage
from notifications.providers import locmem
from tests.fake_twilio import signed_post

pytestmark = pytest.mark.django_db
TOKEN = "test-auth-token"
ACCOUNT = "AC" + "1" * 32
INBOUND = "/sms/twilio/inbound/"
SID = "SM" + "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_ACCOUNT_SID = ACCOUNT
    locmem.outbox.clear()


def _post(client, params, headers=None):
    return signed_post(client, INBOUND, params, TOKEN, headers=headers, as_given=True)


def test_a_parameter_moved_into_the_message_sid_keeps_the_signature_but_is_refused(client, alice):
    genuine = {"MessageSid": SID, "AccountSid": ACCOUNT, "From": alice.phone, "Body": "LINK", "NumMedia": "0"}
    assert _post(client, genuine).status_code == 200
    links = OutboundMessage.objects.filter(kind="link").count()
    # "MessageSid" + SID + "NumMedia" + "0" reads the same in the signed string as the moved value.
    replay = {"MessageSid": SID + "NumMedia0", "AccountSid": ACCOUNT, "From": alice.phone, "Body": "LINK"}
    signer = RequestValidator(TOKEN)
    url = "https://eprp.test" + INBOUND
    assert signer.compute_signature(url, replay) == signer.compute_signature(url, genuine)
    response = _post(client, replay)
    assert response.status_code == 400
    assert InboundMessage.objects.count() == 1
    assert OutboundMessage.objects.filter(kind="link").count() == links


@pytest.mark.parametrize("sid", ["SM123", "SMsim1x00000001", "XX" + "0" * 32, "SM" + "G" * 32, "MM" + "0" * 33])
def test_a_message_sid_not_of_twilios_shape_is_refused(client, alice, sid):
    response = _post(client, {"MessageSid": sid, "AccountSid": ACCOUNT, "From": alice.phone, "Body": "HELP"})
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


def test_mms_sids_are_twilios_too(client, alice):
    response = _post(client, {"MessageSid": "MM" + "a" * 32, "AccountSid": ACCOUNT, "From": alice.phone,
                              "Body": "HELP"})
    assert response.status_code == 200


@pytest.mark.parametrize("account", ["", "AC" + "2" * 32])
def test_another_accounts_text_is_refused(client, alice, account):
    response = _post(client, {"MessageSid": SID, "AccountSid": account, "From": alice.phone, "Body": "HELP"})
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


def test_without_a_configured_account_the_account_sid_must_still_be_twilios_shape(client, alice, settings):
    settings.TWILIO_ACCOUNT_SID = ""
    bad = _post(client, {"MessageSid": SID, "AccountSid": "ACnope", "From": alice.phone, "Body": "HELP"})
    assert bad.status_code == 400
    good = _post(client, {"MessageSid": SID, "AccountSid": "AC" + "3" * 32, "From": alice.phone, "Body": "HELP"})
    assert good.status_code == 200


def test_a_repeated_idempotency_token_is_answered_with_the_first_reply_and_nothing_done_again(client, alice):
    header = {"HTTP_I_TWILIO_IDEMPOTENCY_TOKEN": f"replayed-{uuid.uuid4()}"}
    first = _post(client, {"MessageSid": SID, "AccountSid": ACCOUNT, "From": alice.phone, "Body": "HELP"}, header)
    assert first.status_code == 200 and InboundMessage.objects.count() == 1
    # The same delivery under another, well-shaped MessageSid.
    other = "SM" + "f" * 32
    again = _post(client, {"MessageSid": other, "AccountSid": ACCOUNT, "From": alice.phone, "Body": "HELP"}, header)
    assert again.status_code == 200
    assert again.content == first.content
    assert InboundMessage.objects.count() == 1
    # Another token is another delivery.
    third = _post(client, {"MessageSid": other, "AccountSid": ACCOUNT, "From": alice.phone, "Body": "HELP"},
                  {"HTTP_I_TWILIO_IDEMPOTENCY_TOKEN": f"another-{uuid.uuid4()}"})
    assert third.status_code == 200
    assert InboundMessage.objects.filter(message_sid=other).exists()


def test_a_text_with_an_idempotency_token_costs_two_cache_calls_and_a_replay_one(client, alice, monkeypatch):
    # The shared cache is Redis in production: every call is a round trip, so the count is kept.
    from django.core.cache import cache

    calls = []
    for name in ("get", "set", "add", "delete", "incr", "get_many", "set_many", "touch", "has_key"):
        real = getattr(cache, name)
        monkeypatch.setattr(cache, name, lambda *a, _name=name, _real=real, **k: calls.append(_name) or _real(*a, **k))
    header = {"HTTP_I_TWILIO_IDEMPOTENCY_TOKEN": f"counted-{uuid.uuid4()}"}
    params = {"MessageSid": SID, "AccountSid": ACCOUNT, "From": alice.phone, "Body": "HELP"}
    assert _post(client, params, header).status_code == 200
    assert calls == ["get", "set"]  # read, then remembered once handled
    calls.clear()
    assert _post(client, params | {"MessageSid": "SM" + "e" * 32}, header).status_code == 200
    assert calls == ["get"]  # the first reply again
    calls.clear()
    assert _post(client, params | {"MessageSid": "SM" + "d" * 32}).status_code == 200
    assert calls == []  # no token, no cache
