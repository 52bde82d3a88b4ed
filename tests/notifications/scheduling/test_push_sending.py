"""Prompts pushed through the real FCM and APNs clients to the local fakes, by the tick and the outbox."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from diaries import participants
from diaries.models import Alert, AuditEvent, PushDevice
from diaries.patient.app.auth import issue_token
from notifications import outbox
from notifications.models import OutboundMessage, ScheduledPrompt
from notifications.scheduling import planner
from tests.conftest import CHICAGO

pytestmark = pytest.mark.django_db

PROMPT_AT = datetime(2026, 3, 20, 19, 0, 20, tzinfo=CHICAGO)
WINDOW_CLOSES = datetime(2026, 3, 21, 3, 0, tzinfo=CHICAGO)
FCM_TOKEN = "fcm-token-" + "a" * 140
APNS_TOKEN = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad"
def app_patient(p, platform, token, preference="push"):
    participants.register_push_device(participant=p, platform=platform, token=token,
                                      at=datetime(2026, 3, 1, tzinfo=CHICAGO))
    participants.set_channel_preference(participant=p, preference=preference, actor="system:test", source="test")
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))


def test_fcm_push_at_19_00_expires_at_the_window_close_and_refreshes_its_access_token(alice, providers, run_tick,
                                                                                  sync_sends):
    fcm, _ = providers
    app_patient(alice, "android", FCM_TOKEN)
    run_tick(PROMPT_AT)
    run_tick(datetime(2026, 3, 20, 21, 30, 20, tzinfo=CHICAGO))  # the reminder
    first, second = fcm.messages
    assert first["message"]["token"] == FCM_TOKEN
    assert first["message"]["notification"]["body"] == "Your evening diary is open."
    assert first["message"]["data"] == {"link": "eprp://diary/2026-03-20?timepoint=DAILY"}
    assert first["message"]["android"]["ttl"] == f"{int((WINDOW_CLOSES - PROMPT_AT).total_seconds())}s"
    assert first["message"]["apns"]["headers"]["apns-expiration"] == str(int(WINDOW_CLOSES.timestamp()))
    # The reminder replaces the prompt on the device.
    assert first["message"]["android"]["collapse_key"] == second["message"]["android"]["collapse_key"]
    # The OAuth2 access token lasts an hour: the reminder 2.5 hours later needed a new one.
    assert len(fcm.grants) == 2 and first["bearer"] != second["bearer"]
    messages = OutboundMessage.objects.filter(channel="push").order_by("created_at")
    assert [m.status for m in messages] == ["sent", "sent"]
    assert messages[0].provider_sid == first["name"] and messages[0].expires_at == WINDOW_CLOSES
    assert sync_sends == []


def test_fcm_unregistered_deactivates_the_device_audits_and_tells_the_site(alice, providers, run_tick, sync_sends):
    fcm, _ = providers
    fcm.fail_token[FCM_TOKEN] = "UNREGISTERED"
    app_patient(alice, "android", FCM_TOKEN)
    run_tick(PROMPT_AT)
    message = OutboundMessage.objects.get(channel="push")
    assert (message.status, message.error_code) == ("failed", "UNREGISTERED")
    device = PushDevice.objects.get(participant=alice)
    assert not device.active and device.deactivated_reason == "fcm:UNREGISTERED"
    event = AuditEvent.objects.get(action="app.device_deactivated")
    assert event.actor == "system:fcm" and event.after["reason"] == "fcm:UNREGISTERED"
    assert FCM_TOKEN not in json.dumps(event.after)
    alert = Alert.objects.get(kind="device_deactivated")
    assert alert.participant == alice and FCM_TOKEN not in alert.detail
    # No live device: the reminder goes by SMS instead of nowhere.
    run_tick(datetime(2026, 3, 20, 21, 30, 20, tzinfo=CHICAGO))
    assert [m["to"] for m in sync_sends] == [alice.phone]
    # The app registers the same token again (it was reinstalled): active again.
    participants.register_push_device(participant=alice, platform="android", token=FCM_TOKEN,
                                      at=datetime(2026, 3, 21, tzinfo=CHICAGO))
    assert PushDevice.objects.get(participant=alice).active


def test_a_transient_fcm_error_goes_back_to_queued_and_the_retry_sends_it(alice, providers, run_tick):
    fcm, _ = providers
    fcm.errors = ["UNAVAILABLE"]
    app_patient(alice, "android", FCM_TOKEN)
    run_tick(PROMPT_AT)
    message = OutboundMessage.objects.get(channel="push")
    assert (message.status, message.error_code, message.attempts) == ("queued", "UNAVAILABLE", 1)
    with time_machine.travel(PROMPT_AT + timedelta(seconds=30), tick=False):
        assert outbox.send_message(message.pk) == "sent"  # the retry task
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 2) and len(fcm.messages) == 1


@pytest.mark.parametrize(("platform", "token", "error"), [
    ("android", FCM_TOKEN, "QUOTA_EXCEEDED"), ("android", FCM_TOKEN, "UNAVAILABLE"),
    ("ios", APNS_TOKEN, (429, "TooManyRequests")), ("ios", APNS_TOKEN, (503, "ServiceUnavailable"))])
def test_retry_after_holds_the_retry_until_the_provider_said(alice, providers, run_tick, platform, token, error):
    fcm, apns = providers
    fake = fcm if platform == "android" else apns
    fake.errors.append(error)
    fake.retry_after = "120"
    app_patient(alice, platform, token)
    run_tick(PROMPT_AT)
    message = OutboundMessage.objects.get(channel="push")
    assert message.status == "queued" and message.not_before == PROMPT_AT + timedelta(seconds=120)
    with time_machine.travel(PROMPT_AT, tick=False):
        # The retry task waits at least the 120 s (plus up to a fifth, so a burst does not return at once).
        assert all(120 <= outbox.retry_countdown(message.pk, 0) <= 144 for _ in range(50))
    with time_machine.travel(PROMPT_AT + timedelta(seconds=60), tick=False):
        # The 30 s backoff alone would have sent it by now; neither a stray task nor the sweeper does.
        assert outbox.send_message(message.pk) == "not-claimed"
        assert outbox.requeue_stuck_messages(older_than=timedelta(0)) == 0
    with time_machine.travel(PROMPT_AT + timedelta(seconds=121), tick=False):
        assert outbox.send_message(message.pk) == "sent"
    delivered = fcm.messages if platform == "android" else [r for r in apns.requests if r["status"] == 200]
    assert len(delivered) == 1


def test_a_retry_after_longer_than_ten_minutes_is_cut_to_ten(alice, providers, run_tick):
    fcm, _ = providers
    fcm.errors.append("QUOTA_EXCEEDED")
    fcm.retry_after = "86400"
    app_patient(alice, "android", FCM_TOKEN)
    run_tick(PROMPT_AT)
    message = OutboundMessage.objects.get(channel="push")
    assert message.not_before == PROMPT_AT + outbox.MAX_RETRY_AFTER
    with time_machine.travel(PROMPT_AT + outbox.MAX_RETRY_AFTER, tick=False):
        assert outbox.send_message(message.pk) == "sent"


def test_a_permanent_fcm_error_fails_without_retry(alice, providers, run_tick):
    fcm, _ = providers
    fcm.errors = ["SENDER_ID_MISMATCH"]
    app_patient(alice, "android", FCM_TOKEN)
    run_tick(PROMPT_AT)
    message = OutboundMessage.objects.get(channel="push")
    assert (message.status, message.error_code) == ("failed", "SENDER_ID_MISMATCH")
    assert PushDevice.objects.get(participant=alice).active  # not the device's fault


def test_apns_push_carries_the_window_close_and_a_dead_token_deactivates(alice, bob, providers, run_tick):
    _, apns = providers
    app_patient(alice, "ios", APNS_TOKEN)
    run_tick(PROMPT_AT)
    [request] = apns.requests
    assert request["headers"]["apns-push-type"] == "alert"
    assert request["headers"]["apns-expiration"] == str(int(WINDOW_CLOSES.timestamp()))
    assert request["headers"]["apns-collapse-id"] == "diary-2026-03-20"
    assert OutboundMessage.objects.get(channel="push").status == "sent"

    apns.fail_token[APNS_TOKEN] = (410, "Unregistered")
    run_tick(datetime(2026, 3, 20, 21, 30, 20, tzinfo=CHICAGO))
    device = PushDevice.objects.get(participant=alice)
    assert not device.active and device.deactivated_reason == "apns:Unregistered"
    assert AuditEvent.objects.get(action="app.device_deactivated").actor == "system:apns"


def test_a_push_to_a_withdrawn_participant_is_cancelled_before_sending(alice, providers):
    fcm, _ = providers
    app_patient(alice, "android", FCM_TOKEN)
    device = PushDevice.objects.get(participant=alice)
    now = datetime.now(UTC)
    message = OutboundMessage.objects.create(
        participant=alice, kind="diary", body="Your evening diary is open.", channel="push", device=device,
        expires_at=now + timedelta(hours=1), payload={"title": "Diary", "link": "eprp://today", "collapse_id": "x"},
        created_at=now, updated_at=now)
    participants.change_phase(participant=alice, phase="withdrawn", actor="system:test", reason="test")
    assert outbox.send_message(message.pk) == "cancelled"
    assert fcm.messages == [] and ScheduledPrompt.objects.filter(outbound=message).count() == 0


def test_the_readme_walk_through_push_ignored_sms_fallback_offline_diary_all_on_the_participant_page(
        alice, providers, run_tick, sync_sends, admin_client):
    """The issue's "done when", through the patient API, the real FCM client and the tick, then the site's page."""
    fcm, _ = providers
    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(participant=alice, device='Pixel 8')[1]}")
    with time_machine.travel(datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO), tick=False):
        assert app.post("/api/v1/patient/devices", {"platform": "android", "token": FCM_TOKEN},
                        format="json").status_code == 201
        me = app.patch("/api/v1/patient/me", {"channel_preference": "push_then_sms"}, format="json").json()
        assert (me["channel_preference"], me["push_devices_active"]) == ("push_then_sms", 1)
        planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    run_tick(PROMPT_AT)  # 19:00: the push, through the fake FCM
    [pushed] = fcm.messages
    assert pushed["message"]["notification"]["body"] == "Your evening diary is open."
    run_tick(PROMPT_AT + timedelta(minutes=30))  # ignored: the SMS fallback
    [sms] = sync_sends
    assert sms["to"] == alice.phone and "diary" in sms["body"].lower()
    run_tick(datetime(2026, 3, 20, 21, 30, 20, tzinfo=CHICAGO))  # the reminder: by push alone, an SMS already went
    run_tick(datetime(2026, 3, 20, 22, 0, 20, tzinfo=CHICAGO))  # and its fallback is skipped
    assert len(fcm.messages) == 2 and len(sync_sends) == 1
    # Filled in on a train at 21:00 without signal, sent at 03:10 after the window closed.
    with time_machine.travel(datetime(2026, 3, 21, 3, 10, tzinfo=CHICAGO), tick=False):
        r = app.post("/api/v1/patient/answers", {
            "instrument": "ITCH_NRS", "timepoint": "DAILY", "answers": {"1": 6},
            "captured_at": "2026-03-20T21:00:00-05:00", "device_time": "2026-03-21T03:10:00-05:00"},
            format="json", HTTP_IDEMPOTENCY_KEY="3f1c2b9e-0d4a-4c8e-9a57-1b2c3d4e5f60")
        assert r.status_code == 201, r.json()
        assert (r.json()["diary_date"], r.json()["submitted_at"], r.json()["received_at"]) == (
            "2026-03-20", "2026-03-20T21:00:00-05:00", "2026-03-21T03:10:00-05:00")
        page = admin_client.get(reverse("admin:diaries_participant_change", args=[alice.pk])).content.decode()
    # Both times of the diary (the page writes UTC): captured 21:00 CDT, received 03:10 CDT.
    assert "2026-03-21 02:00<br><small>captured offline; received 2026-03-21 08:10, device clock 0 s off" in page
    # The channel history: the two pushes to the Android device, the one SMS, and which prompt went how.
    assert page.count("<td>Push (Android (FCM))</td><td>diary</td>") == 1
    assert page.count("<td>Push (Android (FCM))</td><td>reminder</td>") == 1
    assert page.count("<td>SMS</td><td>diary</td>") == 1
    prompts = page[page.index('id="prompts"'):]
    for kind, channel in (("prompt", "Push, sent</td><td>Sent"), ("prompt", "SMS fallback: SMS, sent</td><td>Sent"),
                          ("reminder", "Push, sent</td><td>Sent"),
                          ("reminder", "SMS fallback</td><td>Skipped</td><td>an SMS already went out for this diary")):
        assert f"<td>Evening diary {kind}</td><td>2026-03-20</td><td>{channel}</td>" in prompts
    assert "Reminders go by push_then_sms." in page
