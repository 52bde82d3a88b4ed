"""Helpers for the scheduling tests: a synchronous outbox, the clock, one tick, and the push providers' fakes."""

import json
from datetime import datetime

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from notifications import outbox
from notifications.providers import locmem, push_backends
from notifications.scheduling import dispatch
from tests.fake_push import FakeAPNs, FakeFCM


@pytest.fixture
def sync_sends(monkeypatch):
    """Send each queued message at once, in this process, through the locmem transport.

    The outbox enqueues a Celery task after commit; where a worker is not the point, the
    send task's service runs synchronously instead (tests/scheduling/test_concurrency.py
    runs the real worker).
    """
    monkeypatch.setattr(outbox, "_enqueue", lambda message_ids: [outbox.send_message(i) for i in message_ids])
    locmem.outbox.clear()
    locmem.fail_next.clear()
    yield locmem.outbox
    locmem.outbox.clear()


def tick(at: datetime):
    """One beat tick at this instant."""
    with time_machine.travel(at, tick=False):
        return dispatch.dispatch_due_prompts()


@pytest.fixture
def run_tick(sync_sends, django_capture_on_commit_callbacks):
    """tick(at) with the after-commit callbacks run (the test itself is one transaction)."""

    def run(at: datetime, **kw):
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return dispatch.dispatch_due_prompts(**kw)

    return run


TEAM, KEY_ID, TOPIC = "ABCDE12345", "KEY1234567", "org.eprp.diary"
EMAIL = "push@eprp-demo.iam.gserviceaccount.com"


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def keys():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048), ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def providers(settings, monkeypatch, keys):
    """PUSH_BACKEND=providers, FCM and APNs configured from the environment and aimed at the local fakes."""
    service_key, team_key = keys
    settings.PUSH_BACKEND = "providers"
    with FakeFCM(project_id="eprp-demo", client_email=EMAIL, public_key=service_key.public_key()) as fcm, \
            FakeAPNs(team_id=TEAM, key_id=KEY_ID, public_key=team_key.public_key(), topic=TOPIC) as apns:
        monkeypatch.setenv("FCM_SERVICE_ACCOUNT_JSON", json.dumps({
            "type": "service_account", "project_id": "eprp-demo", "private_key_id": "k1",
            "private_key": pem(service_key), "client_email": EMAIL, "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token"}))
        monkeypatch.setenv("FCM_API_BASE", fcm.base_url)
        monkeypatch.setenv("FCM_TOKEN_URI", fcm.token_uri)
        for name, value in {"APNS_TEAM_ID": TEAM, "APNS_KEY_ID": KEY_ID, "APNS_AUTH_KEY": pem(team_key),
                            "APNS_TOPIC": TOPIC, "APNS_ENVIRONMENT": "production", "APNS_API_BASE": apns.base_url,
                            "APNS_CA_FILE": str(apns.ca_file)}.items():
            monkeypatch.setenv(name, value)
        yield fcm, apns
        for client in push_backends._clients.values():
            if client is not None:
                client.close()
        push_backends._clients.clear()
