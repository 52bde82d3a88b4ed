"""Input bounds of the app API: clear 400s, never a 500, nothing recorded."""

import pytest

from diaries.models import DiaryRecord, PushDevice
from tests.diaries.patient.app.conftest import BASE, new_key

pytestmark = pytest.mark.django_db


def _raw(client, route, body: str):
    return client.post(BASE + route, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=new_key())


@pytest.mark.parametrize("route", ["answers", "devices", "auth/code"])
def test_a_deeply_nested_body_is_a_400(alice_app, route):
    body = "[" * 50_000 + "]" * 50_000  # 100 KB
    response = _raw(alice_app, route, body)
    assert response.status_code == 400
    assert "nested too deeply" in response.content.decode()


def test_a_key_written_twice_is_refused(alice_app):
    body = '{"instrument": "ITCH_NRS", "timepoint": "DAILY", "answers": {"1": 5, "1": 9}}'
    assert _raw(alice_app, "answers", body).status_code == 400
    assert not DiaryRecord.objects.exists()


@pytest.mark.parametrize("answers", [{"1": 5, "01": 9}, {"01": 5}, {"+1": 5}, {" 1": 5}, {"1.0": 5}])
def test_an_item_number_written_another_way_is_refused(alice_app, answers):
    response = alice_app.post(BASE + "answers", {"instrument": "ITCH_NRS", "timepoint": "DAILY", "answers": answers},
                              format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 400, response.content
    assert "answers" in response.content.decode()
    assert not DiaryRecord.objects.exists()


def test_more_items_than_the_schema_allows_are_refused(alice_app):
    answers = {str(i): 1 for i in range(1, 52)}
    response = alice_app.post(BASE + "answers", {"instrument": "PROMIS_SD", "timepoint": "DAILY", "answers": answers},
                              format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 400
    assert "At most 50 items" in response.content.decode()


def test_at_most_five_push_devices_a_participant(alice, alice_app):
    for n in range(5):
        token = f"{n:x}" * 64
        assert alice_app.post(BASE + "devices", {"platform": "ios", "token": token}, format="json").status_code == 201
    sixth = alice_app.post(BASE + "devices", {"platform": "android", "token": "f" * 160}, format="json")
    assert sixth.status_code == 409 and "too_many_devices" in sixth.content.decode()
    # A device already registered still registers again.
    again = alice_app.post(BASE + "devices", {"platform": "ios", "token": "0" * 64}, format="json")
    assert again.status_code == 200
    assert PushDevice.objects.filter(participant=alice).count() == 5


def test_a_push_token_is_bounded_in_size(alice_app):
    response = alice_app.post(BASE + "devices", {"platform": "android", "token": "a" * 4097}, format="json")
    assert response.status_code == 400
    assert not PushDevice.objects.exists()
