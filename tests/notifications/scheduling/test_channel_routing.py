"""The tick sends each prompt on the participant's channel: SMS, push, or push then one SMS fallback."""

from datetime import date, datetime, timedelta

import pytest

from diaries import participants
from diaries.models import PatientToken, PushDevice
from diaries.patient.app.auth import issue_token
from notifications.models import OutboundMessage, ScheduledPrompt
from notifications.providers import push_backends
from notifications.providers.push_texts import CATALOG
from notifications.scheduling import planner
from tests.conftest import CHICAGO, answer

pytestmark = pytest.mark.django_db

EVENING = date(2026, 3, 20)
PROMPT_AT = datetime(2026, 3, 20, 19, 0, 20, tzinfo=CHICAGO)
FALLBACK_AT = PROMPT_AT + timedelta(minutes=30)  # the study's fallback_after_minutes
SLEEP = {str(i): 2 for i in range(1, 9)}


@pytest.fixture
def pushes():
    push_backends.outbox.clear()
    push_backends.answer_next.clear()
    yield push_backends.outbox
    push_backends.outbox.clear()
    push_backends.answer_next.clear()


def with_app(p, preference, token="fcm-token-alice"):
    now = datetime(2026, 3, 1, tzinfo=CHICAGO)
    participants.register_push_device(participant=p, platform="android", token=token, at=now)
    participants.set_channel_preference(participant=p, preference=preference, actor="system:test", source="test")


def plan():
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))


def sms_to(sync_sends, p):
    return [m for m in sync_sends if m["to"] == p.phone]


def test_push_preference_sends_a_push_that_expires_at_the_window_close(alice, run_tick, sync_sends, pushes):
    with_app(alice, "push")
    plan()
    assert run_tick(PROMPT_AT).sent == 1
    [sent] = pushes
    assert sent["platform"] == "android" and sent["push"].token == "fcm-token-alice"
    assert sent["push"].body == CATALOG["en"]["diary"][1]
    assert sent["push"].link == "eprp://diary/2026-03-20?timepoint=DAILY"
    assert sent["push"].expires_at == datetime(2026, 3, 21, 3, 0, tzinfo=CHICAGO)  # the window's close
    prompt = ScheduledPrompt.objects.get(participant=alice, kind="diary", slot="2026-03-20")
    assert prompt.outbound.channel == "push" and prompt.outbound.status == "sent"
    assert sync_sends == []
    assert not ScheduledPrompt.objects.filter(fallback_of__isnull=False).exists()  # push only: no fallback


def test_push_then_sms_diary_started_in_time_sends_no_sms(alice, run_tick, sync_sends, pushes):
    with_app(alice, "push_then_sms")
    plan()
    run_tick(PROMPT_AT)
    assert len(pushes) == 1
    answer(participant=alice, instrument="ITCH_NRS", answers={"1": 4}, channel="app",
           at=PROMPT_AT + timedelta(minutes=10))
    run_tick(FALLBACK_AT)
    fallback = ScheduledPrompt.objects.get(fallback_of__isnull=False)
    assert (fallback.status, fallback.reason) == ("skipped", "diary started after the push")
    assert sync_sends == []


def test_push_then_sms_ignored_gets_exactly_one_sms_that_evening(alice, run_tick, sync_sends, pushes):
    with_app(alice, "push_then_sms")
    plan()
    run_tick(PROMPT_AT)
    run_tick(FALLBACK_AT - timedelta(minutes=1))
    assert sms_to(sync_sends, alice) == []  # not yet
    run_tick(FALLBACK_AT)
    [sms] = sms_to(sync_sends, alice)
    assert "diary" in sms["body"].lower()
    fallback = ScheduledPrompt.objects.get(fallback_of__isnull=False)
    assert fallback.status == "sent" and fallback.outbound.channel == "sms" and fallback.kind == "diary"
    # The 21:30 reminder goes by push; its own fallback finds the SMS already sent.
    run_tick(datetime(2026, 3, 20, 21, 30, 20, tzinfo=CHICAGO))
    assert [p["push"].body for p in pushes] == [CATALOG["en"]["diary"][1], CATALOG["en"]["reminder"][1]]
    run_tick(datetime(2026, 3, 20, 22, 0, 30, tzinfo=CHICAGO))
    run_tick(datetime(2026, 3, 21, 8, 0, 30, tzinfo=CHICAGO))
    assert len(sms_to(sync_sends, alice)) == 1
    second = ScheduledPrompt.objects.get(fallback_of__kind="reminder")
    assert (second.status, second.reason) == ("skipped", "an SMS already went out for this diary")


def test_completed_by_sms_after_the_push_sends_nothing_more(alice, run_tick, sync_sends, pushes,
                                                           django_capture_on_commit_callbacks):
    with_app(alice, "push_then_sms")
    plan()
    run_tick(PROMPT_AT)
    run_tick(FALLBACK_AT)
    assert len(sms_to(sync_sends, alice)) == 1
    at = FALLBACK_AT + timedelta(minutes=2)
    with django_capture_on_commit_callbacks(execute=True):  # the complete diary cancels the evening's prompts
        answer(participant=alice, instrument="ITCH_NRS", answers={"1": 3}, at=at)
        answer(participant=alice, instrument="PROMIS_SD8B", answers=SLEEP, at=at, partial=False)
    for tick_at in (datetime(2026, 3, 20, 21, 30, 20, tzinfo=CHICAGO), datetime(2026, 3, 20, 22, 1, tzinfo=CHICAGO)):
        run_tick(tick_at)
    assert len(pushes) == 1 and len(sms_to(sync_sends, alice)) == 1
    reminder = ScheduledPrompt.objects.get(participant=alice, kind="reminder", slot="2026-03-20",
                                           fallback_of__isnull=True)
    assert (reminder.status, reminder.reason) == ("cancelled", "diary completed")


def test_an_sms_opt_out_still_gets_push_and_a_dead_app_still_gets_sms(alice, bob, run_tick, sync_sends, pushes):
    with_app(alice, "sms")
    participants.record_sms_consent(participant=alice, opted_in=False, actor="system:test", source="test")
    participants.set_channel_preference(participant=bob, preference="push", actor="system:test", source="test")
    plan()
    run_tick(PROMPT_AT)
    assert [p["push"].token for p in pushes] == ["fcm-token-alice"]
    assert OutboundMessage.objects.get(participant=alice).channel == "push"
    # Bob prefers push but has no app device: his prompts went by SMS.
    bob_messages = OutboundMessage.objects.filter(participant=bob)
    assert bob_messages.exists() and {m.channel for m in bob_messages} == {"sms"}
    assert {m["to"] for m in sync_sends} == {bob.phone}


def test_the_planner_leaves_fallback_rows_alone(alice, run_tick, sync_sends, pushes):
    with_app(alice, "push_then_sms")
    plan()
    run_tick(PROMPT_AT)
    fallback = ScheduledPrompt.objects.get(fallback_of__isnull=False)
    stats = planner.plan_prompts(now=PROMPT_AT + timedelta(minutes=5))
    assert stats.cancelled == 0
    fallback.refresh_from_db()
    assert fallback.status == "pending" and fallback.due_at == FALLBACK_AT.replace(second=20)


def test_a_deactivated_device_gets_no_push(alice, run_tick, sync_sends, pushes):
    with_app(alice, "push")
    PushDevice.objects.filter(participant=alice).update(active=False)
    plan()
    run_tick(PROMPT_AT)
    assert pushes == [] and [m["to"] for m in sync_sends] == [alice.phone]


VISIT_AT = datetime(2026, 3, 21, 10, 0, 20, tzinfo=CHICAGO)  # the eve of the Week 2 visit (nominal Day 15)


@pytest.mark.parametrize(("app_used", "sms"), [(None, True), (VISIT_AT - timedelta(hours=1), True),
                                               (VISIT_AT + timedelta(minutes=5), False)])
def test_a_visit_reminder_push_falls_back_to_sms_unless_the_app_was_opened_after_it(alice, run_tick, sync_sends,
                                                                                   pushes, app_used, sms):
    with_app(alice, "push_then_sms")
    plan()
    if app_used is not None:
        token, _ = issue_token(participant=alice, device="Pixel 8")
        PatientToken.objects.filter(pk=token.pk).update(last_used_at=app_used)
    run_tick(VISIT_AT)
    assert [p["push"].body for p in pushes] == [CATALOG["en"]["visit_reminder"][1]]
    run_tick(VISIT_AT + timedelta(minutes=30))
    fallback = ScheduledPrompt.objects.get(fallback_of__kind="visit_reminder")
    if sms:
        [text] = sms_to(sync_sends, alice)
        assert "visit" in text["body"] and "tomorrow" in text["body"]
        assert fallback.status == "sent" and fallback.outbound.channel == "sms"
    else:
        assert sms_to(sync_sends, alice) == []
        assert (fallback.status, fallback.reason) == ("skipped", "app opened after the push")


def test_the_stop_treatment_push_falls_back_to_the_sms_that_says_stop(alice, run_tick, sync_sends, pushes):
    with_app(alice, "push_then_sms")
    participants.change_phase(participant=alice, phase="long_term", actor="system:test", reason="test")
    at = datetime(2026, 5, 4, 10, 0, tzinfo=CHICAGO)
    ScheduledPrompt.objects.create(participant=alice, kind="stop_treatment", slot="clear:test", due_at=at,
                                   diary_date=date(2026, 5, 4), created_at=at, updated_at=at)
    run_tick(at + timedelta(seconds=20))
    # The lock screen says only that a message waits; the instruction itself is in the app, or the SMS.
    assert [p["push"].body for p in pushes] == [CATALOG["en"]["stop_treatment"][1]]
    run_tick(at + timedelta(minutes=30, seconds=20))
    [text] = sms_to(sync_sends, alice)
    assert "stop applying the study cream today" in text["body"]
    assert ScheduledPrompt.objects.get(fallback_of__kind="stop_treatment").outbound.channel == "sms"
