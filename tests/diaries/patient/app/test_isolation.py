"""A participant token reaches that participant's data only, by every route, whatever the request says."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from diaries import participants
from diaries.models import DiaryRecord, Phase, PushDevice, TreatmentEvent
from tests.conftest import answer

from .conftest import BASE, app_client

CHICAGO = ZoneInfo("America/Chicago")
WARSAW = ZoneInfo("Europe/Warsaw")
# 19:00 in Chicago is 02:00 next day in Warsaw: both diaries are open.
EVENING = datetime(2026, 3, 21, 19, 0, tzinfo=CHICAGO)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_data(alice):
    """Alice has answered by app and SMS, registered a device and reported in the long-term phase."""
    key = "shared-key-0001"
    client = app_client(alice)
    with time_machine.travel(EVENING, tick=False):
        assert client.post(BASE + "answers", {"instrument": "ITCH_NRS", "answers": {"1": 9}}, format="json",
                           HTTP_IDEMPOTENCY_KEY=key).status_code == 201
        answer(participant=alice, instrument="PROMIS_SD8B", channel="sms",
                                answers={n: 5 for n in range(1, 9)})
    client.post(BASE + "devices", {"platform": "android", "token": "alice-device-token-0123456789"}, format="json")
    return {"key": key, "ids": {str(r.pk) for r in DiaryRecord.objects.filter(participant=alice)}}


def assert_nothing_of_alice(response, alice, alice_data):
    text = response.content.decode()
    assert alice.usubjid not in text and "alice-device-token" not in text
    assert not any(record_id in text for record_id in alice_data["ids"])


def test_bob_sees_only_bob_by_every_route(alice, bob, alice_data):
    bob_app = app_client(bob)
    participants.change_phase(participant=alice, phase=Phase.LONG_TERM, actor="system:test")
    app_client(alice).post(BASE + "reports", {"kind": "cleared"}, format="json", HTTP_IDEMPOTENCY_KEY="alice-report-1")
    with time_machine.travel(EVENING, tick=False):
        answered = bob_app.post(BASE + "answers", {"instrument": "ITCH_NRS", "answers": {"1": 2}}, format="json",
                                HTTP_IDEMPOTENCY_KEY="bob-key-0001")
        # Alice's key is hers: the same key from bob is a new request of bob's, never her stored reply.
        same_key = bob_app.post(BASE + "answers", {"instrument": "ITCH_NRS", "answers": {"1": 9}}, format="json",
                                HTTP_IDEMPOTENCY_KEY=alice_data["key"])
        responses = [
            answered, same_key,
            bob_app.get(BASE + "me"), bob_app.get(BASE + "today"), bob_app.get(BASE + "history"),
            bob_app.get(BASE + "reports"),
            bob_app.post(BASE + "devices", {"platform": "ios", "token": "bob-device-token-0123456789"}, format="json"),
            bob_app.post(BASE + "reports", {"kind": "cleared"}, format="json", HTTP_IDEMPOTENCY_KEY="alice-report-1"),
        ]
    for r in responses:
        assert_nothing_of_alice(r, alice, alice_data)
    assert answered.status_code == 201 and same_key.status_code == 201 and same_key.json()["corrected"] is True
    assert responses[2].json()["usubjid"] == bob.usubjid
    history = responses[4].json()["results"]
    assert {h["record_id"] for h in history} == {str(r.pk) for r in DiaryRecord.objects.current().filter(
        participant=bob)}
    assert responses[5].json() == []
    assert responses[7].status_code == 409  # bob is not in the long-term phase: nothing of alice's report
    assert DiaryRecord.objects.filter(participant=alice).count() == 2
    assert set(DiaryRecord.objects.filter(participant=bob).values_list("channel", flat=True)) == {"app"}
    assert PushDevice.objects.get(participant=bob).token == "bob-device-token-0123456789"
    assert TreatmentEvent.objects.filter(participant=bob).count() == 0


def test_naming_another_participant_in_the_request_changes_nothing(alice, bob, alice_data):
    bob_app = app_client(bob)
    with time_machine.travel(EVENING, tick=False):
        body = {"instrument": "ITCH_NRS", "answers": {"1": 1}, "participant": str(alice.pk),
                "usubjid": alice.usubjid}
        r = bob_app.post(BASE + "answers", body, format="json", HTTP_IDEMPOTENCY_KEY="bob-key-0002")
        assert r.status_code == 201  # unknown body fields are ignored: the token alone says who
        for route in ("me", "today", "history"):
            r = bob_app.get(BASE + route, {"participant": str(alice.pk)})
            assert r.status_code == 400 and r.json()["errors"][0]["code"] == "unknown_parameter"
        assert bob_app.get(BASE + "history").json()["count"] == 1
    assert DiaryRecord.objects.current().get(participant=alice, instrument="ITCH_NRS").derived == {"itch": 9}
    assert DiaryRecord.objects.get(participant=bob).derived == {"itch": 1}


def test_there_is_no_route_with_an_id_in_it():
    from diaries.patient.app import urls as patient_api_urls

    assert all("<" not in str(p.pattern) for p in patient_api_urls.urlpatterns)


def test_a_logged_out_token_gets_nothing_by_any_route(alice, alice_data):
    from diaries.patient.app import auth as patient_auth

    client = app_client(alice)
    for token in patient_auth.patient_tokens(participant=alice):
        patient_auth.log_out(token=token)
    for method, route in (("get", "me"), ("get", "today"), ("get", "history"), ("get", "reports"),
                          ("post", "answers"), ("post", "reports"), ("post", "devices"), ("post", "auth/logout")):
        assert getattr(client, method)(BASE + route, {}, format="json").status_code == 401
