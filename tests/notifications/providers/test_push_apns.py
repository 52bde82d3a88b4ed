"""APNs through the local fake (tests/fake_push.py): HTTP/2 over TLS, the provider token, each answer."""

import json
import ssl
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from notifications.providers import apns
from notifications.providers.apns import ApnsConfig, ApnsTransport
from notifications.providers.push import Outcome, Push, PushConfigError
from tests.fake_push import FakeAPNs
from tests.notifications.providers.test_push_texts import assert_neutral, every_push

T0 = datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # 19:00 in Chicago (CDT)
WINDOW_CLOSES = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 03:00 in Chicago
TOKEN = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
TEAM, KEY_ID, TOPIC = "ABCDE12345", "KEY1234567", "org.eprp.diary"


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def team_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def fake(team_key):
    with FakeAPNs(team_id=TEAM, key_id=KEY_ID, public_key=team_key.public_key(), topic=TOPIC) as server:
        yield server


def environ(fake, key, **extra) -> dict:
    return {"APNS_TEAM_ID": TEAM, "APNS_KEY_ID": KEY_ID, "APNS_AUTH_KEY": pem(key), "APNS_TOPIC": TOPIC,
            "APNS_ENVIRONMENT": "sandbox", "APNS_API_BASE": fake.base_url, "APNS_CA_FILE": str(fake.ca_file), **extra}


@pytest.fixture
def make():
    """ApnsTransport(config, http=...), closed after the test."""
    made = []

    def make(config, **kw):
        made.append(ApnsTransport(config, **kw))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def client(fake, team_key, make):
    return make(ApnsConfig.from_environ(environ(fake, team_key)))


def a_push(token=TOKEN, expires_at=WINDOW_CLOSES, collapse_id="diary-2026-03-08") -> Push:
    return Push(token=token, title="Diary", body="Your evening diary is open.", link="eprp://diary/2026-03-08",
                collapse_id=collapse_id, expires_at=expires_at, data={"kind": "diary"})


def test_a_push_goes_over_http2_with_the_alert_headers(fake, client):
    with time_machine.travel(T0, tick=False):
        first, second = client.send(a_push()), client.send(a_push())
    assert first.outcome == second.outcome == Outcome.SENT
    assert first.provider_id == fake.requests[0]["apns_id"]
    assert fake.connections == 1 and fake.refused_alpn == 0  # one HTTP/2 connection, kept for both
    request = fake.requests[0]
    headers = request["headers"]
    assert request["token"] == TOKEN and headers[":path"] == f"/3/device/{TOKEN}"
    assert headers["apns-push-type"] == "alert" and headers["apns-topic"] == TOPIC
    assert headers["apns-expiration"] == str(int(WINDOW_CLOSES.timestamp()))  # the window's close
    assert headers["apns-collapse-id"] == "diary-2026-03-08" and headers["apns-priority"] == "10"
    assert request["jwt_header"] == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    assert request["claims"] == {"iss": TEAM, "iat": int(T0.timestamp())}
    assert request["payload"] == {
        "aps": {"alert": {"title": "Diary", "body": "Your evening diary is open."}, "sound": "default",
                "thread-id": "diary-2026-03-08"},
        "kind": "diary", "link": "eprp://diary/2026-03-08",
    }


def test_every_prompt_leaves_for_apns_with_neutral_text_only(fake, client, rules):
    """What reaches Apple's servers, read off the wire: path, apns-* headers and payload."""
    pushes = every_push(rules, token=TOKEN)
    with time_machine.travel(T0, tick=False):
        assert {client.send(push).outcome for push in pushes} == {Outcome.SENT}
    assert len(fake.requests) == len(pushes)
    for request in fake.requests:
        headers = {k: v for k, v in request["headers"].items() if k not in (":path", "authorization")}
        assert_neutral(json.dumps([headers, request["payload"]], ensure_ascii=False))


def test_the_provider_token_is_kept_then_signed_anew_before_an_hour(fake, client):
    with time_machine.travel(T0, tick=False) as clock:
        assert client.send(a_push()).outcome == Outcome.SENT
        clock.shift(timedelta(minutes=30))
        assert client.send(a_push()).outcome == Outcome.SENT  # same token: APNs refuses renewals within 20 min
        clock.shift(timedelta(minutes=21))
        assert client.send(a_push()).outcome == Outcome.SENT
    iats = [r["claims"]["iat"] for r in fake.requests]
    assert iats == [int(T0.timestamp())] * 2 + [int((T0 + timedelta(minutes=51)).timestamp())]
    assert fake.connections == 1


def test_a_token_apns_finds_expired_is_signed_anew_for_the_retry(fake, client, monkeypatch):
    monkeypatch.setattr(apns, "TOKEN_LIFETIME", 2 * 3600)  # as if the key were used past APNs' hour
    with time_machine.travel(T0, tick=False) as clock:
        assert client.send(a_push()).outcome == Outcome.SENT
        clock.shift(timedelta(minutes=61))
        refused = client.send(a_push())
        assert (refused.outcome, refused.code) == (Outcome.TRANSIENT, "ExpiredProviderToken")
        assert client.send(a_push()).outcome == Outcome.SENT
    assert fake.requests[-1]["claims"]["iat"] == int((T0 + timedelta(minutes=61)).timestamp())


def test_concurrent_sends_share_one_provider_token(fake, client):
    """The outbox sends a chunk from several threads: one token for all (a second within 20 minutes is refused)."""
    with time_machine.travel(T0, tick=False), ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.send(a_push()), range(16)))
    assert [r.outcome for r in results] == [Outcome.SENT] * 16
    assert len({r["headers"]["authorization"] for r in fake.requests}) == 1
    assert len({r.provider_id for r in results}) == 16


@pytest.mark.parametrize(("status", "reason"), [(410, "Unregistered"), (410, "ExpiredToken"), (400, "BadDeviceToken")])
def test_a_token_apns_no_longer_knows_is_dead(fake, client, status, reason):
    fake.fail_token[TOKEN] = (status, reason)
    with time_machine.travel(T0, tick=False):
        result = client.send(a_push())
    assert (result.outcome, result.code) == (Outcome.DEAD_TOKEN, reason)
    assert str(status) in result.detail


def test_a_malformed_token_is_dead(fake, client):
    with time_machine.travel(T0, tick=False):
        result = client.send(a_push(token="not-a-device-token-but-long-enough-0123456789abcdef0123456789abcdef"))
    assert (result.outcome, result.code) == (Outcome.DEAD_TOKEN, "BadDeviceToken")


@pytest.mark.parametrize(("status", "reason"), [(429, "TooManyRequests"), (500, "InternalServerError"),
                                                (503, "ServiceUnavailable")])
def test_rate_limits_and_outages_are_transient(fake, client, status, reason):
    fake.errors.append((status, reason))
    fake.retry_after = "60"
    with time_machine.travel(T0, tick=False):
        result = client.send(a_push())
        assert (result.outcome, result.code, result.retryable) == (Outcome.TRANSIENT, reason, True)
        assert result.retry_after == (60.0 if status in (429, 503) else None)  # the fake sends it with both
        assert client.send(a_push()).outcome == Outcome.SENT


def test_a_wrong_topic_is_permanent(fake, team_key, make):
    transport = make(ApnsConfig.from_environ(environ(fake, team_key, APNS_TOPIC="org.other.app")))
    with time_machine.travel(T0, tick=False):
        result = transport.send(a_push())
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "DeviceTokenNotForTopic")


def test_a_token_signed_with_another_key_is_refused(fake, make):
    transport = make(ApnsConfig.from_environ(environ(fake, ec.generate_private_key(ec.SECP256R1()))))
    with time_machine.travel(T0, tick=False):
        result = transport.send(a_push())
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "InvalidProviderToken")


def test_a_push_past_its_window_is_not_sent(fake, client):
    with time_machine.travel(WINDOW_CLOSES + timedelta(seconds=1), tick=False):
        result = client.send(a_push())
    assert (result.outcome, result.code) == (Outcome.PERMANENT, "expired")
    assert not fake.requests


def test_apns_speaks_only_http2(fake, team_key, make):
    """The fake refuses HTTP/1.1 as APNs does, so the sends above prove the client's HTTP/2."""
    http1 = httpx.Client(base_url=fake.base_url, verify=ssl.create_default_context(cafile=fake.ca_file), http2=False)
    transport = make(ApnsConfig.from_environ(environ(fake, team_key)), http=http1)
    with time_machine.travel(T0, tick=False):
        result = transport.send(a_push())
    assert (result.outcome, result.code) == (Outcome.TRANSIENT, "network")
    assert fake.refused_alpn == 1 and not fake.requests


def test_the_host_certificate_is_verified(fake, team_key, make):
    env = environ(fake, team_key)
    del env["APNS_CA_FILE"]  # the public CAs do not vouch for the fake's self-signed certificate
    transport = make(ApnsConfig.from_environ(env))
    with time_machine.travel(T0, tick=False):
        result = transport.send(a_push())
    assert (result.outcome, result.code) == (Outcome.TRANSIENT, "network")
    assert "CERTIFICATE_VERIFY_FAILED" in result.detail and not fake.requests


def test_configuration_comes_from_the_environment(tmp_path, team_key):
    assert ApnsConfig.from_environ({}) is None  # APNs off
    key_file = tmp_path / "AuthKey_KEY1234567.p8"
    key_file.write_text(pem(team_key))
    config = ApnsConfig.from_environ({"APNS_TEAM_ID": TEAM, "APNS_KEY_ID": KEY_ID, "APNS_TOPIC": TOPIC,
                                      "APNS_AUTH_KEY_FILE": str(key_file), "APNS_ENVIRONMENT": "sandbox"})
    assert config.api_base == "https://api.sandbox.push.apple.com" and config.auth_key == pem(team_key)
    with pytest.raises(PushConfigError, match="APNS_KEY_ID, APNS_TOPIC"):
        ApnsConfig.from_environ({"APNS_TEAM_ID": TEAM, "APNS_AUTH_KEY_FILE": str(key_file)})
    for environment in ("staging", None):  # a wrong one, or none: no default (a wrong guess kills every token)
        with pytest.raises(PushConfigError, match="APNS_ENVIRONMENT: expected production .* or sandbox"):
            ApnsConfig.from_environ({"APNS_TEAM_ID": TEAM, "APNS_KEY_ID": KEY_ID, "APNS_TOPIC": TOPIC,
                                     "APNS_AUTH_KEY": pem(team_key), **({"APNS_ENVIRONMENT": environment}
                                                                         if environment else {})})
    rsa_key = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(PushConfigError, match="P-256"):
        ApnsTransport(ApnsConfig(team_id=TEAM, key_id=KEY_ID, auth_key=rsa_key, topic=TOPIC))
