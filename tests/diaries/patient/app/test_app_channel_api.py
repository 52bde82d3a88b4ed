"""The app as a channel: its channel preference, what is pending, and diaries captured offline."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from diaries.models import Alert, AuditEvent, DiaryRecord, PushDevice

from .conftest import BASE, new_key

CHICAGO = ZoneInfo("America/Chicago")
pytestmark = pytest.mark.django_db


def offline_itch(value, captured, device_time):
    return {"instrument": "ITCH_NRS", "timepoint": "DAILY", "answers": {"1": value},
            "captured_at": captured, "device_time": device_time}


def test_me_shows_and_changes_the_channel_preference_audited(alice, alice_app):
    with time_machine.travel(datetime(2026, 3, 9, 12, 0, tzinfo=CHICAGO), tick=False):
        me = alice_app.get(BASE + "me").json()
        assert (me["channel_preference"], me["channel_preference_is_default"]) == ("sms", True)
        assert me["fallback_after_minutes"] == 30 and me["push_devices_active"] == 0
        alice_app.post(BASE + "devices", {"platform": "android", "token": "t" * 40}, format="json")
        r = alice_app.patch(BASE + "me", {"channel_preference": "push_then_sms"}, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()["channel_preference"] == "push_then_sms" and r.json()["push_devices_active"] == 1
        assert r.json()["channel_preference_is_default"] is False
        assert alice_app.patch(BASE + "me", {"channel_preference": "fax"}, format="json").status_code == 400
    event = AuditEvent.objects.get(action="participant.channel_preference")
    assert event.after == {"channel_preference": "push_then_sms", "source": "app"}


def test_today_tells_the_app_what_is_pending_and_until_when(alice, alice_app):
    with time_machine.travel(datetime(2026, 3, 9, 19, 5, tzinfo=CHICAGO), tick=False):
        today = alice_app.get(BASE + "today").json()
    assert today["pending"] == [{"kind": "diary", "timepoint": "DAILY", "diary_date": "2026-03-09",
                                 "until": "2026-03-10T03:00:00-05:00"}]
    with time_machine.travel(datetime(2026, 3, 9, 12, 0, tzinfo=CHICAGO), tick=False):
        assert alice_app.get(BASE + "today").json()["pending"] == []


def test_an_offline_diary_sent_after_the_close_is_dated_that_evening_and_a_resend_is_the_same(alice, alice_app):
    key = new_key()
    body = offline_itch(6, "2026-03-09T21:00:00-05:00", "2026-03-10T03:13:00-05:00")  # device 3 minutes fast
    with time_machine.travel(datetime(2026, 3, 10, 3, 10, tzinfo=CHICAGO), tick=False):
        r = alice_app.post(BASE + "answers", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert r.status_code == 201, r.json()
        again = alice_app.post(BASE + "answers", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        resent = alice_app.post(BASE + "answers", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    first = r.json()
    assert first["diary_date"] == "2026-03-09"
    assert first["submitted_at"] == "2026-03-09T20:57:00-05:00"  # corrected by the device's 3 minutes
    assert first["received_at"] == "2026-03-10T03:10:00-05:00" and first["clock_offset_s"] == 180
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first
    assert resent.status_code == 201 and resent.json()["record_id"] == first["record_id"]
    assert DiaryRecord.objects.count() == 1


def test_an_offline_diary_from_a_clock_two_hours_off_is_refused_409_and_flagged(alice, alice_app):
    body = offline_itch(6, "2026-03-09T23:00:00-05:00", "2026-03-10T05:10:00-05:00")
    with time_machine.travel(datetime(2026, 3, 10, 3, 10, tzinfo=CHICAGO), tick=False):
        r = alice_app.post(BASE + "answers", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert r.status_code == 409 and r.json()["errors"][0]["code"] == "clock_off"
    assert not DiaryRecord.objects.exists() and Alert.objects.filter(kind="clock_off", participant=alice).exists()


def test_captured_at_needs_device_time(alice, alice_app):
    body = {"instrument": "ITCH_NRS", "answers": {"1": 6}, "captured_at": "2026-03-09T21:00:00-05:00"}
    with time_machine.travel(datetime(2026, 3, 10, 3, 10, tzinfo=CHICAGO), tick=False):
        r = alice_app.post(BASE + "answers", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "device_time"


def test_registering_a_dead_device_again_reactivates_it(alice, alice_app):
    token = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
    alice_app.post(BASE + "devices", {"platform": "ios", "token": token}, format="json")
    PushDevice.objects.update(active=False, deactivated_reason="apns:Unregistered")
    r = alice_app.post(BASE + "devices", {"platform": "ios", "token": token}, format="json")
    assert r.status_code == 200
    device = PushDevice.objects.get()
    assert device.active and device.deactivated_reason == ""
    assert AuditEvent.objects.filter(action="app.device_reactivated").count() == 1
