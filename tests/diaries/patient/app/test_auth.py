"""Sign-in by texted code, tokens that expire and can be revoked, and nobody else's credentials."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from diaries import participants
from diaries.models import AuditEvent, PatientToken, SignInCode
from diaries.patient.app import auth as patient_auth
from notifications import outbox
from notifications.models import OutboundMessage

from .conftest import BASE, app_client

CHICAGO = ZoneInfo("America/Chicago")
ALICE_PHONE = "+13125550111"
UNKNOWN_PHONE = "+13125550199"

pytestmark = pytest.mark.django_db

ROUTES = [("get", "me"), ("get", "today"), ("post", "answers"), ("get", "history"), ("get", "reports"),
          ("post", "reports"), ("post", "devices"), ("post", "auth/logout")]


def ask_code(client, phone, **extra):
    return client.post(BASE + "auth/code", {"phone": phone}, format="json", **extra)


def texted_code(participant) -> str:
    message = OutboundMessage.objects.filter(participant=participant, kind="signin_code").latest("created_at")
    return re.search(r"\b(\d{6})\b", outbox.as_sent(message)).group(1)  # what the phone gets


def sign_in(client, phone, code, **extra):
    return client.post(BASE + "auth/token", {"phone": phone, "code": code, "device": "test phone"}, format="json",
                       **extra)


def test_sign_in_with_a_texted_code(alice):
    client = APIClient()
    r = ask_code(client, ALICE_PHONE)
    assert r.status_code == 202
    message = OutboundMessage.objects.get(participant=alice, kind="signin_code")
    assert message.body.endswith("is your Skin Diary app sign-in code. Do not share it. If you did not ask for it, "
                                 "ignore this.")
    code = texted_code(alice)
    assert code not in SignInCode.objects.get().code_hash  # only a keyed hash is stored
    r = sign_in(client, ALICE_PHONE, code)
    assert r.status_code == 201
    body = r.json()
    assert body["token_type"] == "Bearer" and body["token"].startswith("ept_")
    token = PatientToken.objects.get()
    assert token.key_hash != body["token"] and body["token"] not in token.key_hash
    assert token.device == "test phone" and token.participant == alice
    assert token.expires_at - token.created_at == timedelta(days=30)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert client.get(BASE + "me").json()["usubjid"] == alice.usubjid
    # The code works once.
    assert sign_in(APIClient(), ALICE_PHONE, code).status_code == 400
    assert {"app.signin_code", "app.token_issue"} <= set(AuditEvent.objects.values_list("action", flat=True))


def test_spanish_participants_get_the_code_in_spanish(bob):
    ask_code(APIClient(), "+48601555012")
    body = OutboundMessage.objects.get(participant=bob).body
    assert "es su código para entrar en la aplicación Diario de la piel" in body


def test_the_reply_never_reveals_whether_a_number_is_enrolled(alice):
    enrolled, unknown = ask_code(APIClient(), ALICE_PHONE), ask_code(APIClient(), UNKNOWN_PHONE)
    assert enrolled.status_code == unknown.status_code == 202
    assert enrolled.content == unknown.content
    assert {k: v for k, v in enrolled.items() if k != "Date"} == {k: v for k, v in unknown.items() if k != "Date"}
    assert OutboundMessage.objects.count() == 1
    # ... nor does the token endpoint.
    a, b = sign_in(APIClient(), ALICE_PHONE, "000000"), sign_in(APIClient(), UNKNOWN_PHONE, "000000")
    assert a.status_code == b.status_code == 400 and a.content == b.content


def test_sign_in_takes_the_same_minimum_time_enrolled_or_not(alice, settings, monkeypatch):
    settings.PATIENT_SIGNIN_MIN_SECONDS = 0.25
    slept = []
    monkeypatch.setattr(patient_auth.time, "sleep", slept.append)
    ask_code(APIClient(), ALICE_PHONE)
    ask_code(APIClient(), UNKNOWN_PHONE)
    assert len(slept) == 2 and all(0 < s <= 0.25 for s in slept)
    # Failed code checks too: a wrong code for an enrolled number and any code for an unknown one.
    sign_in(APIClient(), ALICE_PHONE, "999999" if texted_code(alice) != "999999" else "999998")
    sign_in(APIClient(), UNKNOWN_PHONE, "999999")
    assert len(slept) == 4 and all(0 < s <= 0.25 for s in slept)


def test_opted_out_participants_get_no_text_and_the_same_reply(alice):
    participants.record_sms_consent(participant=alice, opted_in=False, actor="system:test", source="test")
    assert ask_code(APIClient(), ALICE_PHONE).status_code == 202
    assert not OutboundMessage.objects.exists() and not SignInCode.objects.exists()


def test_a_malformed_number_is_a_field_error(db):
    r = ask_code(APIClient(), "3125550111")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "phone"


def test_five_wrong_tries_kill_the_code(alice):
    ask_code(APIClient(), ALICE_PHONE)
    code = texted_code(alice)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert sign_in(APIClient(), ALICE_PHONE, wrong).status_code == 400
    assert SignInCode.objects.get().attempts == 5
    assert AuditEvent.objects.filter(action="app.signin_failed").count() == 5
    r = sign_in(APIClient(), ALICE_PHONE, code)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "invalid_code"
    assert not PatientToken.objects.exists()


def test_a_new_code_replaces_the_previous_one(alice):
    ask_code(APIClient(), ALICE_PHONE)
    first = texted_code(alice)
    with time_machine.travel(datetime.now(CHICAGO) + timedelta(seconds=5), tick=False):
        ask_code(APIClient(), ALICE_PHONE)
    second = texted_code(alice)
    if first != second:
        assert sign_in(APIClient(), ALICE_PHONE, first).status_code == 400
    assert sign_in(APIClient(), ALICE_PHONE, second).status_code == 201


def test_a_code_expires_after_ten_minutes(alice):
    start = datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO)
    with time_machine.travel(start, tick=False):
        ask_code(APIClient(), ALICE_PHONE)
    with time_machine.travel(start + timedelta(minutes=10, seconds=1), tick=False):
        assert sign_in(APIClient(), ALICE_PHONE, texted_code(alice)).status_code == 400


def test_code_requests_are_limited_per_number_enrolled_or_not(alice):
    for phone in (ALICE_PHONE, UNKNOWN_PHONE):
        statuses = [ask_code(APIClient(), phone, REMOTE_ADDR=f"10.0.0.{i}").status_code for i in range(4)]
        assert statuses == [202, 202, 202, 429]
    limited = ask_code(APIClient(), ALICE_PHONE)
    assert limited.json()["errors"][0]["code"] == "rate_limited" and int(limited["Retry-After"]) > 0
    assert OutboundMessage.objects.count() == 3


def test_code_requests_are_limited_per_address(db, settings):
    settings.PATIENT_SIGNIN_IP_LIMITS = [(2, 900)]
    statuses = [ask_code(APIClient(), f"+1312555{n:04d}").status_code for n in range(120, 123)]
    assert statuses == [202, 202, 429]


def test_code_checks_are_limited_per_address(alice, settings):
    settings.PATIENT_TOKEN_IP_LIMITS = [(3, 900)]
    statuses = [sign_in(APIClient(), ALICE_PHONE, "123456").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_limits_reset_after_their_window(alice):
    start = datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO)
    with time_machine.travel(start, tick=False):
        assert [ask_code(APIClient(), ALICE_PHONE).status_code for _ in range(4)][-1] == 429
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert ask_code(APIClient(), ALICE_PHONE).status_code == 202


def test_an_expired_token_is_401(alice):
    start = datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO)
    with time_machine.travel(start, tick=False):
        client = app_client(alice)
        assert client.get(BASE + "me").status_code == 200
    with time_machine.travel(start + timedelta(days=30, seconds=1), tick=False):
        r = client.get(BASE + "me")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
    assert r.json()["errors"][0]["code"] == "authentication_failed"


def test_logout_revokes_the_token(alice):
    client = app_client(alice)
    assert client.post(BASE + "auth/logout").status_code == 204
    assert client.get(BASE + "me").status_code == 401
    assert PatientToken.objects.get().revoked_by == f"participant:{alice.usubjid}"


def test_site_staff_list_and_revoke_tokens(alice, django_user_model, charlie):
    client = app_client(alice)
    token = patient_auth.patient_tokens(participant=alice).get()
    # charlie is staff of site B: alice (site A) is not his.
    with pytest.raises(PermissionDenied):
        patient_auth.revoke_patient_token(token, charlie)
    assert client.get(BASE + "me").status_code == 200
    dana = django_user_model.objects.create_user("dana", "dana@example.org", "dana-password-123", is_staff=True)
    alice.site.staff.add(dana)
    patient_auth.revoke_patient_token(token, dana)
    assert client.get(BASE + "me").status_code == 401
    token.refresh_from_db()
    assert token.revoked_by == "user:dana"
    assert AuditEvent.objects.filter(action="app.token_revoke", actor="user:dana").exists()


@pytest.mark.parametrize("method, route", ROUTES)
def test_no_token_gets_401_on_every_route(db, method, route):
    r = getattr(APIClient(), method)(BASE + route, {}, format="json")
    assert r.status_code == 401


@pytest.mark.parametrize("method, route", ROUTES)
def test_staff_and_sponsor_credentials_get_nothing(alice, charlie, method, route):
    staff_token = Token.objects.create(user=charlie)
    for header in (f"Token {staff_token.key}", f"Bearer {staff_token.key}"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert getattr(client, method)(BASE + route, {}, format="json").status_code == 401, header
    session = APIClient()
    session.force_login(charlie)
    assert getattr(session, method)(BASE + route, {}, format="json").status_code == 401
    superuser = type(charlie).objects.create_superuser("root", "root@example.org", "root-password-123")
    session.force_login(superuser)
    assert getattr(session, method)(BASE + route, {}, format="json").status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer ept_notatoken", "Basic YTpi"])
def test_malformed_credentials_are_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(BASE + "me").status_code == 401
