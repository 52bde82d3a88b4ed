"""FCM HTTP v1 through the local fake (tests/fake_push.py): auth, sending, and what each answer means."""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from notifications.providers.fcm import FcmConfig, FcmTransport
from notifications.providers.push import Outcome, Push, PushConfigError
from tests.fake_push import GOOGLE_TOKEN_AUDIENCE, FakeFCM
from tests.notifications.providers.test_push_texts import assert_neutral, every_push

T0 = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # 19:00 in Chicago (CDT), the evening prompt
WINDOW_CLOSES = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 03:00 in Chicago
TOKEN = "fcm-token-" + "a" * 140


@pytest.fixture(scope="module")
def service_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_json(key) -> str:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({
        "type": "service_account", "project_id": "eprp-demo", "private_key_id": "k1", "private_key": pem,
        "client_email": "push@eprp-demo.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",  # replaced by FCM_TOKEN_URI below
    })


@pytest.fixture
def fake(service_key):
    with FakeFCM(project_id="eprp-demo", client_email="push@eprp-demo.iam.gserviceaccount.com",
                 public_key=service_key.public_key()) as server:
        yield server


@pytest.fixture
def transport(fake):
    """An FcmTransport configured from the environment, aimed at the fake; closed after the test."""
    made = []

    def make(key, **env) -> FcmTransport:
        environ = {"FCM_SERVICE_ACCOUNT_JSON": key_json(key), "FCM_API_BASE": fake.base_url,
                   "FCM_TOKEN_URI": fake.token_uri, **env}
        made.append(FcmTransport(FcmConfig.from_environ(environ)))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def fcm(transport, service_key):
    return transport(service_key)


def a_push(token=TOKEN, expires_at=WINDOW_CLOSES) -> Push:
    return Push(token=token, title="Diary", body="Your evening diary is open.", link="eprp://diary/2026-03-08",
                collapse_id="diary-2026-03-08", expires_at=expires_at, data={"kind": "diary"})


def test_a_push_is_sent_with_the_window_close_as_expiry(fake, fcm):
    with time_machine.travel(T0, tick=False):
        result = fcm.send(a_push())
    assert result.outcome == Outcome.SENT
    [sent] = fake.messages
    assert result.provider_id == sent["name"] and sent["name"].startswith("projects/eprp-demo/messages/")
    message = sent["message"]
    assert message["token"] == TOKEN
    assert message["notification"] == {"title": "Diary", "body": "Your evening diary is open."}
    assert message["data"] == {"kind": "diary", "link": "eprp://diary/2026-03-08"}
    # Eight hours from 19:00 to 03:00 local: FCM drops it then instead of waking the phone at noon.
    assert message["android"]["ttl"] == "28800s"
    assert message["android"]["collapse_key"] == message["android"]["notification"]["tag"] == "diary-2026-03-08"
    assert message["apns"]["headers"] == {"apns-push-type": "alert", "apns-collapse-id": "diary-2026-03-08",
                                          "apns-expiration": str(int(WINDOW_CLOSES.timestamp()))}


def test_every_prompt_leaves_for_fcm_with_neutral_text_only(fake, fcm, rules):
    """What reaches Google's servers, read off the wire: the lock-screen text, a deep link, expiry and collapse."""
    pushes = every_push(rules, token=TOKEN)
    with time_machine.travel(T0, tick=False):
        assert {fcm.send(push).outcome for push in pushes} == {Outcome.SENT}
    assert len(fake.messages) == len(pushes)
    for sent in fake.messages:
        assert_neutral(json.dumps(sent["message"], ensure_ascii=False).replace(TOKEN, ""))


def test_the_access_token_is_cached_until_it_is_about_to_expire(fake, fcm):
    with time_machine.travel(T0, tick=False) as clock:
        assert fcm.send(a_push()).outcome == Outcome.SENT
        clock.shift(timedelta(minutes=56))  # the token lives an hour; google-auth renews 3 min 45 s early
        assert fcm.send(a_push()).outcome == Outcome.SENT
        assert len(fake.grants) == 1
        clock.shift(timedelta(minutes=1))
        assert fcm.send(a_push()).outcome == Outcome.SENT
    assert len(fake.grants) == 2
    assert [m["bearer"] for m in fake.messages] == [fake.grants[0]["token"]] * 2 + [fake.grants[1]["token"]]
    # The assertion Google's token endpoint verified: signed by the key, for FCM, for an hour.
    claims = fake.grants[1]["claims"]
    assert claims["iss"] == "push@eprp-demo.iam.gserviceaccount.com" and claims["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims["iat"] == int((T0 + timedelta(minutes=57)).timestamp()) and claims["exp"] - claims["iat"] == 3600


def test_concurrent_sends_share_one_access_token(fake, fcm):
    with time_machine.travel(T0, tick=False), ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: fcm.send(a_push()), range(16)))
    assert [r.outcome for r in results] == [Outcome.SENT] * 16
    assert len(fake.grants) == 1 and {m["bearer"] for m in fake.messages} == {fake.grants[0]["token"]}


def test_an_access_token_refused_early_is_replaced_on_the_retry(fake, fcm):
    with time_machine.travel(T0, tick=False):
        assert fcm.send(a_push()).outcome == Outcome.SENT
        fake._tokens.clear()  # revoked on Google's side
        refused = fcm.send(a_push())
        assert (refused.outcome, refused.code) == (Outcome.TRANSIENT, "UNAUTHENTICATED")
        assert fcm.send(a_push()).outcome == Outcome.SENT
    assert len(fake.grants) == 2


@pytest.mark.parametrize(("code", "status"), [("UNREGISTERED", "404"), ("INVALID_ARGUMENT", "400")])
def test_a_token_fcm_no_longer_accepts_is_dead(fake, fcm, code, status):
    fake.fail_token[TOKEN] = code  # INVALID_ARGUMENT: "The registration token is not a valid FCM registration token"
    with time_machine.travel(T0, tick=False):
        result = fcm.send(a_push())
    assert (result.outcome, result.code) == (Outcome.DEAD_TOKEN, code)
    assert status in result.detail and not fake.messages


def test_a_404_from_a_wrong_project_is_not_taken_for_a_dead_token(transport, service_key):
    client = transport(service_key, FCM_PROJECT_ID="another-project")
    with time_machine.travel(T0, tick=False):
        result = client.send(a_push())
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "NOT_FOUND")


@pytest.mark.parametrize("code", ["QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"])
def test_rate_limits_and_outages_are_transient(fake, fcm, code):
    fake.errors.append(code)
    fake.retry_after = "30"
    with time_machine.travel(T0, tick=False):
        result = fcm.send(a_push())
        assert (result.outcome, result.code, result.retryable) == (Outcome.TRANSIENT, code, True)
        assert result.retry_after == (None if code == "INTERNAL" else 30.0)  # sent with 429 and 503
        assert fcm.send(a_push()).outcome == Outcome.SENT  # the retry goes through


@pytest.mark.parametrize("code", ["SENDER_ID_MISMATCH", "THIRD_PARTY_AUTH_ERROR"])
def test_errors_no_retry_fixes_are_permanent(fake, fcm, code):
    fake.errors.append(code)
    with time_machine.travel(T0, tick=False):
        result = fcm.send(a_push())
    assert (result.outcome, result.code, result.retryable) == (Outcome.PERMANENT, code, False)


def test_a_message_fcm_finds_malformed_is_permanent(fake, fcm):
    push = Push(token=TOKEN, title="t", body="b", link="eprp://today", collapse_id="c", expires_at=WINDOW_CLOSES,
                data={"n": 1})  # FCM data values must be strings
    with time_machine.travel(T0, tick=False):
        result = fcm.send(push)
    # The same INVALID_ARGUMENT as a bad token, but about the message: the device stays active.
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "INVALID_ARGUMENT")
    assert "message.data[0].value" in result.detail


def test_a_push_past_its_window_is_not_sent(fake, fcm):
    with time_machine.travel(WINDOW_CLOSES, tick=False):
        result = fcm.send(a_push())
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "expired")
    assert not fake.requests and not fake.grants


def test_fcm_unreachable_is_transient(transport, service_key):
    client = transport(service_key, FCM_API_BASE="http://127.0.0.1:9")  # discard port: nothing listens
    with time_machine.travel(T0, tick=False):
        result = client.send(a_push())
    assert (result.outcome, result.code) == (Outcome.TRANSIENT, "network")


def test_a_token_endpoint_that_does_not_answer_is_transient(fake, service_key):
    fake.token_delay = 1.0
    environ = {"FCM_SERVICE_ACCOUNT_JSON": key_json(service_key), "FCM_API_BASE": fake.base_url,
               "FCM_TOKEN_URI": fake.token_uri}
    client = FcmTransport(replace(FcmConfig.from_environ(environ), timeout=0.2))
    with time_machine.travel(T0, tick=False):
        result = client.send(a_push())
    client.close()
    assert (result.outcome, result.code) == (Outcome.TRANSIENT, "auth-network")
    assert "timed out" in result.detail and not fake.requests


def test_a_key_the_token_endpoint_refuses_fails_without_sending(fake, transport):
    client = transport(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with time_machine.travel(T0, tick=False):
        result = client.send(a_push())
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "auth")
    assert "invalid_grant" in result.detail and not fake.requests


def test_configuration_comes_from_the_environment(tmp_path, service_key):
    assert FcmConfig.from_environ({}) is None  # FCM off
    key_file = tmp_path / "key.json"
    key_file.write_text(key_json(service_key))
    config = FcmConfig.from_environ({"FCM_SERVICE_ACCOUNT_FILE": str(key_file)})
    assert (config.project_id, config.api_base) == ("eprp-demo", "https://fcm.googleapis.com")
    assert config.service_account["token_uri"] == "https://oauth2.googleapis.com/token"
    with pytest.raises(PushConfigError, match="FCM_SERVICE_ACCOUNT_FILE"):
        FcmConfig.from_environ({"FCM_SERVICE_ACCOUNT_FILE": str(tmp_path / "missing.json")})
    with pytest.raises(PushConfigError, match="not a service account key"):
        FcmConfig.from_environ({"FCM_SERVICE_ACCOUNT_JSON": '{"type": "authorized_user"}'})
    no_project = json.loads(key_json(service_key))
    del no_project["project_id"]
    with pytest.raises(PushConfigError, match="FCM_PROJECT_ID"):
        FcmConfig.from_environ({"FCM_SERVICE_ACCOUNT_JSON": json.dumps(no_project)})
