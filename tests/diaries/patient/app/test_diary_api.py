"""The diary through the patient API: the same windows, corrections and audit as SMS and the web."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from diaries import participants
from diaries.models import AppSubmission, AuditEvent, DiaryRecord, Phase, PushDevice, TreatmentEvent
from tests.conftest import answer

from .conftest import BASE, new_key

CHICAGO = ZoneInfo("America/Chicago")
WARSAW = ZoneInfo("Europe/Warsaw")
PROMIS = {"1": 3, "2": 2, "3": 4, "4": 1, "5": 5, "6": 3, "7": 2, "8": 2}

pytestmark = pytest.mark.django_db


def post_answers(client, body, key=None, **extra):
    return client.post(BASE + "answers", body, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key(), **extra)


def itch(value, timepoint="DAILY"):
    return {"instrument": "ITCH_NRS", "timepoint": timepoint, "answers": {"1": value}}


def test_full_evening_diary_in_english(alice, alice_app):
    with time_machine.travel(datetime(2026, 3, 9, 19, 5, tzinfo=CHICAGO), tick=False):
        me = alice_app.get(BASE + "me").json()
        assert me["usubjid"] == "TRUE-AD-101-0001" and me["study_day"] == 2 and me["phase"] == "vc"
        assert me["zone"] == "America/Chicago" and me["site"]["phone"] and me["sms_consent"] == "opted_in"

        today = alice_app.get(BASE + "today").json()
        assert today["daily"] == {"state": "open", "diary_date": "2026-03-09",
                                  "closes_at": "2026-03-10T03:00:00-05:00"}
        assert today["next_window_opens"] == "2026-03-10T17:00:00-05:00"
        assert [s["instrument"] for s in today["open"]] == ["ITCH_NRS", "PROMIS_SD8B"]
        itch_set, promis_set = today["open"]
        assert itch_set["study_day"] == 2 and itch_set["current"] is None
        item = itch_set["items"][0]
        assert item["kind"] == "nrs" and (item["min"], item["max"]) == (0, 10)
        assert item["anchor_high"] == "Worst itch imaginable" and "itch" in item["text"]
        assert [o["number"] for o in item["options"]] == list(range(11))
        assert len(promis_set["items"]) == 8
        assert [o["label"] for o in promis_set["items"][1]["options"]][:2] == ["Not at all", "A little bit"]
        assert promis_set["language_validated"] is True

        r = post_answers(alice_app, itch(7) | {"client_time": "2020-01-01T00:00:00Z"})
        assert r.status_code == 201, r.json()
        body = r.json()
        assert body["diary_date"] == "2026-03-09" and body["channel"] == "app" and body["corrected"] is False
        # Server time, in the participant's offset; the app's clock is only echoed.
        assert body["submitted_at"] == "2026-03-09T19:05:00-05:00"
        assert body["client_time"].startswith("2020-01-01")
        assert body["messages"] == ["Your answers for Monday, March 9, 2026 are saved."]
        r = post_answers(alice_app, {"instrument": "PROMIS_SD8B", "answers": PROMIS})
        assert r.status_code == 201, r.json()

        today = alice_app.get(BASE + "today").json()
        assert today["daily"]["state"] == "done"
        assert today["open"][0]["current"]["answers"] == {"1": 7}
        assert today["open"][1]["current"]["answers"] == PROMIS
    records = DiaryRecord.objects.current().filter(participant=alice)
    assert {(r.instrument, r.diary_date, r.channel) for r in records} == {
        ("ITCH_NRS", date(2026, 3, 9), "app"), ("PROMIS_SD8B", date(2026, 3, 9), "app")}
    promis = records.get(instrument="PROMIS_SD8B")
    # Items 2, 3, 7 and 8 are reverse-scored, as on every other channel.
    assert [a["score"] for a in promis.answers] == [3, 4, 2, 1, 5, 3, 4, 4]
    assert promis.submitted_at == datetime(2026, 3, 9, 19, 5, tzinfo=CHICAGO)
    assert AuditEvent.objects.filter(action="diary.answer", actor="participant:TRUE-AD-101-0001").count() == 2


def test_full_evening_diary_in_spanish(bob, bob_app):
    with time_machine.travel(datetime(2026, 3, 21, 20, 0, tzinfo=WARSAW), tick=False):
        me = bob_app.get(BASE + "me").json()
        assert me["language"] == "es" and me["study_day"] is None and me["phase"] == "runin"
        today = bob_app.get(BASE + "today").json()
        assert today["language"] == "es"
        itch_set, promis_set = today["open"]
        assert itch_set["items"][0]["anchor_low"] == "Sin picazón"
        assert promis_set["items"][0]["options"][0]["label"] == "Nada"
        assert promis_set["language_validated"] is False  # a working translation, flagged by the study file
        assert post_answers(bob_app, itch(4)).status_code == 201
        r = post_answers(bob_app, {"instrument": "PROMIS_SD8B", "answers": PROMIS})
        assert r.status_code == 201
        assert r.json()["messages"] == ["Sus respuestas del sábado, 21 de marzo de 2026 están guardadas."]
        assert r.json()["answers"][0] == {"item": 1, "option": 3, "label": "Algo"}
        history = bob_app.get(BASE + "history").json()
        assert history["count"] == 2
        assert {r["instrument"] for r in history["results"]} == {"ITCH_NRS", "PROMIS_SD8B"}


def test_language_follows_the_query_then_accept_language(bob_app):
    with time_machine.travel(datetime(2026, 3, 21, 20, 0, tzinfo=WARSAW), tick=False):
        assert bob_app.get(BASE + "today", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8").json()["language"] == "en"
        assert bob_app.get(BASE + "today?lang=en").json()["open"][0]["items"][0]["anchor_low"] == "No itch"
        r = bob_app.get(BASE + "today?lang=es", HTTP_ACCEPT_LANGUAGE="en")
        assert r.json()["language"] == "es"
        assert bob_app.get(BASE + "today", HTTP_ACCEPT_LANGUAGE="de, pt;q=0.5").json()["language"] == "es"
        r = bob_app.get(BASE + "today?lang=fr")
        assert r.status_code == 400 and r.json()["errors"][0] == {
            "field": "lang", "code": "invalid_choice", "message": "One of en, es."}
        r = bob_app.get(BASE + "today?language=en")
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "unknown_parameter"


def test_outside_the_window_is_409_with_the_next_opening_in_local_time(alice, alice_app):
    with time_machine.travel(datetime(2026, 3, 9, 12, 0, tzinfo=CHICAGO), tick=False):
        today = alice_app.get(BASE + "today").json()
        assert today["daily"]["state"] == "closed" and today["open"] == []
        assert today["next_window_opens"] == "2026-03-09T17:00:00-05:00"
        r = post_answers(alice_app, itch(5))
    assert r.status_code == 409
    assert r.json() == {"errors": [{"field": None, "code": "outside_window",
                                    "message": "The diary is open from 17:00 to 03:00."}],
                        "next_window_opens": "2026-03-09T17:00:00-05:00"}
    assert not DiaryRecord.objects.filter(participant=alice).exists()
    assert not AppSubmission.objects.exists()
    refused = AuditEvent.objects.get(action="diary.refused")
    assert refused.after["channel"] == "app"


def test_next_window_follows_the_participant_zone_across_dst(bob, bob_app):
    # Europe moves its clocks on 29 March 2026: the window still opens at 17:00 local.
    with time_machine.travel(datetime(2026, 3, 29, 10, 0, tzinfo=WARSAW), tick=False):
        r = post_answers(bob_app, itch(5))
    assert r.status_code == 409 and r.json()["next_window_opens"] == "2026-03-29T17:00:00+02:00"


def test_a_second_submission_supersedes_the_first(alice, alice_app):
    with time_machine.travel(datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO), tick=False):
        first = post_answers(alice_app, itch(7)).json()
    with time_machine.travel(datetime(2026, 3, 10, 1, 30, tzinfo=CHICAGO), tick=False):
        r = post_answers(alice_app, itch(4))
        today = alice_app.get(BASE + "today").json()
    assert r.status_code == 201
    second = r.json()
    assert second["corrected"] is True and second["diary_date"] == "2026-03-09"
    assert second["messages"][0].startswith("Your changed answers for Monday, March 9, 2026")
    current = DiaryRecord.objects.current().get(participant=alice)
    assert str(current.pk) == second["record_id"] and str(current.supersedes_id) == first["record_id"]
    assert DiaryRecord.objects.filter(participant=alice).count() == 2  # the original is kept
    assert today["open"][0]["current"]["answers"] == {"1": 4}
    assert AuditEvent.objects.filter(action="diary.supersede").count() == 1


def test_a_retry_with_the_same_key_returns_the_first_response_and_records_nothing(alice, alice_app):
    key = new_key()
    with time_machine.travel(datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO), tick=False):
        first = post_answers(alice_app, itch(7), key=key)
    with time_machine.travel(datetime(2026, 3, 9, 19, 1, tzinfo=CHICAGO), tick=False):
        again = post_answers(alice_app, itch(7), key=key)
    # Even after the window closed, a retry gets its answer, not a refusal.
    with time_machine.travel(datetime(2026, 3, 10, 9, 0, tzinfo=CHICAGO), tick=False):
        late = post_answers(alice_app, itch(7), key=key)
    assert first.status_code == 201 and again.status_code == 201 and late.status_code == 201
    assert again.json() == first.json() == late.json()
    assert again["Idempotent-Replayed"] == "true"
    assert DiaryRecord.objects.filter(participant=alice).count() == 1
    assert AuditEvent.objects.filter(action__startswith="diary.").count() == 1


def test_a_key_reused_for_another_request_is_refused(alice, alice_app):
    key = new_key()
    with time_machine.travel(datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO), tick=False):
        post_answers(alice_app, itch(7), key=key)
        r = post_answers(alice_app, itch(3), key=key)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert DiaryRecord.objects.filter(participant=alice).count() == 1


def test_the_idempotency_key_is_required(alice_app):
    with time_machine.travel(datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO), tick=False):
        r = alice_app.post(BASE + "answers", itch(7), format="json")
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert not DiaryRecord.objects.exists()


@pytest.mark.parametrize("body, field, code", [
    ({"instrument": "ITCH_NRS", "answers": {"1": 11}}, "answers.1", "out_of_range"),
    ({"instrument": "ITCH_NRS", "answers": {"1": -1}}, "answers.1", "out_of_range"),
    ({"instrument": "ITCH_NRS", "answers": {"1": "7"}}, "answers.1", "invalid"),
    ({"instrument": "ITCH_NRS", "answers": {"1": True}}, "answers.1", "invalid"),
    ({"instrument": "ITCH_NRS", "answers": {"1": 7.5}}, "answers.1", "invalid"),
    ({"instrument": "ITCH_NRS", "answers": {"2": 7, "1": 3}}, "answers.2", "unknown_item"),
    ({"instrument": "ITCH_NRS", "answers": {}}, "answers", "empty"),
    ({"instrument": "PROMIS_SD8B", "answers": {"1": 3, "2": 6}}, "answers.2", "out_of_range"),
    ({"instrument": "PROMIS_SD8B", "answers": {"1": 3}}, "answers.2", "required"),
    ({"instrument": "PROMIS_SD8B", "timepoint": "H12", "answers": PROMIS}, "timepoint", "not_collected"),
    ({"instrument": "EASI", "answers": {"1": 1}}, "instrument", "invalid_choice"),
    ({"answers": {"1": 1}}, "instrument", "required"),
])
def test_validation_errors_name_the_field(alice_app, body, field, code):
    with time_machine.travel(datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO), tick=False):
        r = post_answers(alice_app, body)
    assert r.status_code == 400
    assert {"field": field, "code": code} in [{k: e[k] for k in ("field", "code")} for e in r.json()["errors"]]
    assert not DiaryRecord.objects.exists()


def test_the_12_hour_assessment(alice, alice_app):
    with time_machine.travel(datetime(2026, 3, 8, 18, 0, tzinfo=CHICAGO), tick=False):
        today = alice_app.get(BASE + "today").json()
        assert today["h12"]["state"] == "not_yet" and today["h12"]["opens_at"] == "2026-03-08T20:00:00-05:00"
        r = post_answers(alice_app, itch(6, "H12"))
        assert r.status_code == 409 and r.json()["next_window_opens"] == "2026-03-08T20:00:00-05:00"
    with time_machine.travel(datetime(2026, 3, 8, 21, 0, tzinfo=CHICAGO), tick=False):
        today = alice_app.get(BASE + "today").json()
        assert [(s["instrument"], s["timepoint"]) for s in today["open"]] == [
            ("ITCH_NRS", "DAILY"), ("PROMIS_SD8B", "DAILY"), ("ITCH_NRS", "H12")]
        daily_itch, h12_itch = today["open"][0]["items"][0]["text"], today["open"][2]["items"][0]["text"]
        assert "in the past 24 hours" in daily_itch and "in the past 12 hours" in h12_itch
        r = post_answers(alice_app, itch(6, "H12"))
        assert r.status_code == 201 and r.json()["diary_date"] == "2026-03-08" and r.json()["study_day"] == 1
        assert r.json()["messages"] == ["Your 12-hour answer is saved."]
    with time_machine.travel(datetime(2026, 3, 9, 1, 0, tzinfo=CHICAGO), tick=False):
        r = post_answers(alice_app, itch(6, "H12"))
        assert r.status_code == 409 and r.json()["next_window_opens"] is None
    assert DiaryRecord.objects.get(participant=alice, timepoint="H12").derived == {"itch": 6}


def test_run_in_not_started_says_when_it_opens(bob, bob_app):
    with time_machine.travel(datetime(2026, 3, 18, 20, 0, tzinfo=WARSAW), tick=False):
        assert bob_app.get(BASE + "today").json()["daily"]["state"] == "not_started"
        r = post_answers(bob_app, itch(3))
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "diary_not_open"
    assert r.json()["next_window_opens"] == "2026-03-20T17:00:00+01:00"


def test_answers_by_sms_show_as_current_in_the_app(alice, alice_app):
    with time_machine.travel(datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO), tick=False):
        answer(participant=alice, instrument="ITCH_NRS", answers={1: 8}, channel="sms")
        current = alice_app.get(BASE + "today").json()["open"][0]["current"]
    assert current["channel"] == "sms" and current["answers"] == {"1": 8}


def test_history_is_paginated_and_current_only(alice, alice_app):
    for day in range(9, 14):
        with time_machine.travel(datetime(2026, 3, day, 19, 0, tzinfo=CHICAGO), tick=False):
            post_answers(alice_app, itch(day - 5))
            post_answers(alice_app, itch(day - 6))  # a correction: only the last is current
    page1 = alice_app.get(BASE + "history?page_size=2").json()
    assert page1["count"] == 5 and len(page1["results"]) == 2 and page1["next"]
    assert [r["diary_date"] for r in page1["results"]] == ["2026-03-13", "2026-03-12"]
    assert page1["results"][0]["answers"] == [{"item": 1, "option": 7, "label": "7"}]
    assert alice_app.get(BASE + "history?page=99").status_code == 404


def test_long_term_reports_clear_then_back_with_spread(alice, alice_app):
    participants.change_phase(participant=alice, phase=Phase.LONG_TERM, actor="system:test")
    with time_machine.travel(datetime(2026, 5, 9, 19, 0, tzinfo=CHICAGO), tick=False):
        today = alice_app.get(BASE + "today").json()
        assert today["daily"]["state"] == "ended" and today["open"] == []
        assert [k["kind"] for k in today["reports"]["kinds"]] == ["cleared", "recurred", "spread"]
        r = alice_app.post(BASE + "reports", {"kind": "cleared"}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
        assert r.status_code == 201, r.json()
        assert r.json()["keep_treating_until"] == "2026-05-12" and r.json()["channel"] == "app"
    with time_machine.travel(datetime(2026, 5, 20, 9, 0, tzinfo=CHICAGO), tick=False):
        r = alice_app.post(BASE + "reports", {"kind": "recurred"}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
        assert r.status_code == 201 and r.json()["spread_answer_pending"] is True
        body = {"kind": "spread", "new_areas": True, "extensive": False}
        r = alice_app.post(BASE + "reports?lang=es", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
        assert r.status_code == 201, r.json()
        assert r.json()["site_will_call"] is True and r.json()["spread_answer_pending"] is False
        assert r.json()["messages"][1].startswith("Su centro del estudio le llamará pronto")
        r = alice_app.post(BASE + "reports", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
        assert r.status_code == 409 and r.json()["errors"][0]["code"] == "no_recurrence"
    assert alice.alerts.get().kind == "lesions_spread"
    kinds = [e["kind"] for e in alice_app.get(BASE + "reports").json()]
    assert kinds == ["recurred", "cleared"]
    assert TreatmentEvent.objects.filter(participant=alice, channel="app").count() == 3


def test_report_follow_up_answers_come_as_a_pair_of_booleans(alice, alice_app):
    participants.change_phase(participant=alice, phase=Phase.LONG_TERM, actor="system:test")
    for body, field in [({"kind": "recurred", "new_areas": True}, "extensive"),
                        ({"kind": "spread"}, "new_areas"),
                        ({"kind": "cleared", "extensive": False}, "extensive"),
                        ({"kind": "recurred", "new_areas": "yes", "extensive": False}, "new_areas")]:
        r = alice_app.post(BASE + "reports", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
        assert r.status_code == 400 and field in [e["field"] for e in r.json()["errors"]], body
    assert not TreatmentEvent.objects.exists()


def test_reports_outside_the_long_term_phase_are_refused(alice_app):
    r = alice_app.post(BASE + "reports", {"kind": "cleared"}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "diary_not_open"
    assert not TreatmentEvent.objects.exists()


def test_a_retried_report_is_recorded_once(alice, alice_app):
    participants.change_phase(participant=alice, phase=Phase.LONG_TERM, actor="system:test")
    key = new_key()
    first = alice_app.post(BASE + "reports", {"kind": "cleared"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = alice_app.post(BASE + "reports", {"kind": "cleared"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.json() == again.json() and TreatmentEvent.objects.count() == 1


def test_push_device_registration_is_stored_once(alice, alice_app):
    body = {"platform": "ios", "token": "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"}
    assert alice_app.post(BASE + "devices", body, format="json").status_code == 201
    assert alice_app.post(BASE + "devices", body, format="json").status_code == 200
    assert alice_app.post(BASE + "devices", {"platform": "windows", "token": "x"}, format="json").status_code == 400
    assert PushDevice.objects.get().participant == alice


def test_responses_are_not_cached(alice_app):
    r = alice_app.get(BASE + "me")
    assert "no-store" in r["Cache-Control"]


def test_the_diary_closes_for_a_withdrawn_participant(alice, alice_app):
    participants.discontinue_participant(participant=alice, on=date(2026, 3, 9), actor="system:test", reason="test")
    with time_machine.travel(datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO) + timedelta(days=1), tick=False):
        assert alice_app.get(BASE + "today").json()["daily"]["state"] == "over"
        assert post_answers(alice_app, itch(3)).status_code == 409
