"""plan_prompts and its hooks on the database: idempotent, re-plans on every participant change."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from diaries import participants, treatment
from notifications import tasks
from notifications.inbound import Inbound, receive_sms
from notifications.models import ScheduledPrompt
from notifications.scheduling import planner
from tests.conftest import CHICAGO, WARSAW, answer_spread, enroll, report_treatment

pytestmark = pytest.mark.django_db


def rows(participant, **filters):
    return {(p.kind, p.slot): p for p in ScheduledPrompt.objects.filter(participant=participant, **filters)}


def text(participant, body, at, sid):
    return receive_sms(inbound=Inbound(sid, participant.phone, body, 0), now=at)


def test_planning_twice_changes_nothing(alice, bob):
    now = datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO)
    first = planner.plan_prompts(now=now)
    before = {(p.participant_id, p.kind, p.slot, p.due_at, p.status) for p in ScheduledPrompt.objects.all()}
    again = planner.plan_prompts(now=now)
    after = {(p.participant_id, p.kind, p.slot, p.due_at, p.status) for p in ScheduledPrompt.objects.all()}
    assert first.participants == 2 and before and before == after
    assert (again.retimed, again.cancelled, again.revived) == (0, 0, 0)
    # Two days ahead, to noon on 22 March: the evenings of 20 and 21 March.
    assert sorted(slot for kind, slot in rows(alice) if kind == "diary") == ["2026-03-20", "2026-03-21"]


def test_the_horizon_rolls_forward_day_by_day(alice):
    for day in range(10, 14):
        planner.plan_prompts(now=datetime(2026, 3, day, 12, 0, tzinfo=CHICAGO))
    assert sorted(slot for kind, slot in rows(alice) if kind == "diary") == [f"2026-03-{d}" for d in range(10, 15)]


def test_a_phase_change_replans(alice, tasks_inline, django_capture_on_commit_callbacks):
    now = datetime(2026, 5, 1, 12, 0, tzinfo=CHICAGO)  # Day 55, a Friday
    planner.plan_prompts(now=now)
    assert {k for k, _ in rows(alice, status="pending")} == {"diary", "reminder", "visit_reminder"}
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        participants.change_phase(participant=alice, phase="long_term", actor="system:test")
    pending = rows(alice, status="pending")
    # The Week 8 visit (Day 57, 3 May) is still reminded; the diary ends; Saturday's check-in begins.
    assert set(pending) == {("lesion_checkin", "2026-05-02"), ("visit_reminder", "week-8")}
    assert pending["lesion_checkin", "2026-05-02"].due_at == datetime(2026, 5, 2, 18, 0, tzinfo=CHICAGO)
    cancelled = rows(alice, status="cancelled")
    assert {k for k, _ in cancelled} == {"diary", "reminder"}
    assert all(p.reason.startswith("no longer planned") for p in cancelled.values())


def test_withdrawal_cancels_everything_pending_and_a_return_revives_it(alice, tasks_inline, django_capture_on_commit_callbacks):
    now = datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO)
    planner.plan_prompts(now=now)
    planned = set(rows(alice, status="pending"))
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        participants.change_phase(participant=alice, phase="withdrawn", actor="system:test")
    assert rows(alice, status="pending") == {} and set(rows(alice, status="cancelled")) == planned
    with time_machine.travel(now + timedelta(minutes=5), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        participants.change_phase(participant=alice, phase="vc", actor="system:test", reason="entered in error")
    assert set(rows(alice, status="pending")) == planned


def test_the_daily_plan_cancels_prompts_of_participants_who_ended(alice, bob):
    now = datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO)
    planner.plan_prompts(now=now)
    # A change that bypassed the services (a data fix): the next daily plan still catches it.
    type(alice).objects.filter(pk=alice.pk).update(phase="completed")
    stats = planner.plan_prompts(now=now + timedelta(hours=6))
    assert stats.cancelled > 0 and rows(alice, status="pending") == {}
    assert rows(bob, status="pending")


def test_a_recorded_visit_date_retimes_its_reminder(alice, tasks_inline, django_capture_on_commit_callbacks):
    now = datetime(2026, 4, 3, 12, 0, tzinfo=CHICAGO)  # Week 4 visit nominally Day 29, 5 April
    planner.plan_prompts(now=now)
    assert rows(alice)["visit_reminder", "week-4"].due_at == datetime(2026, 4, 4, 10, 0, tzinfo=CHICAGO)
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        participants.record_visit(participant=alice, week=4, visit_date=date(2026, 4, 5) + timedelta(days=1),
                              actor="system:test")
    reminder = rows(alice)["visit_reminder", "week-4"]
    assert (reminder.status, reminder.due_at) == ("pending", datetime(2026, 4, 5, 10, 0, tzinfo=CHICAGO))
    assert reminder.diary_date == date(2026, 4, 6)


def test_a_completed_diary_cancels_that_evenings_prompts(alice, tasks_inline, django_capture_on_commit_callbacks):
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    evening = datetime(2026, 3, 20, 18, 0, tzinfo=CHICAGO)  # before the 19:00 prompt, window open
    with django_capture_on_commit_callbacks(execute=True):
        text(alice, "6", evening, "SMd1")
    assert rows(alice)["reminder", "2026-03-20"].status == "pending"  # itch alone is not the whole diary
    with django_capture_on_commit_callbacks(execute=True):
        text(alice, "3 2 4 1 5 3 2 2", evening + timedelta(minutes=1), "SMd2")
    tonight = rows(alice)
    for kind in ("diary", "reminder"):
        assert (tonight[kind, "2026-03-20"].status, tonight[kind, "2026-03-20"].reason) == (
            "cancelled", "diary completed")
    assert tonight["diary", "2026-03-21"].status == "pending"


def test_a_diary_completed_by_text_cancels_its_prompts_without_reading_the_diary_again(
        alice, tasks_inline, django_capture_on_commit_callbacks):
    """The inbound path read the evening's records under the participant's lock: the hook is given them."""
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    evening = datetime(2026, 3, 20, 18, 0, tzinfo=CHICAGO)
    with django_capture_on_commit_callbacks(execute=True):
        text(alice, "6", evening, "SMq1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        text(alice, "3 2 4 1 5 3 2 2", evening + timedelta(minutes=1), "SMq2")
    with CaptureQueriesContext(connection) as queries:
        for callback in callbacks:
            callback()
    assert not [q for q in queries if "diaries_diaryrecord" in q["sql"]]
    assert [q for q in queries if q["sql"].startswith('UPDATE "notifications_scheduledprompt"')]
    assert {rows(alice)[kind, "2026-03-20"].reason for kind in ("diary", "reminder")} == {"diary completed"}


def test_a_late_day_1_record_still_gets_the_h12_prompt_within_its_window(study, tasks_inline, django_capture_on_commit_callbacks):
    applied = datetime(2026, 4, 1, 8, 0, tzinfo=WARSAW)
    with time_machine.travel(applied + timedelta(hours=12, minutes=30), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        p = enroll(study, "TRUE-AD-101-0009", phone="+48601555019", zone="Europe/Warsaw",
                   runin_start=date(2026, 3, 25), first_application_at=applied)
    h12 = rows(p)["h12", "h12"]
    assert (h12.status, h12.due_at) == ("pending", applied + timedelta(hours=12))


def test_treatment_reports_run_the_after_treatment_hooks(alice, tasks_inline, django_capture_on_commit_callbacks):
    seen = []
    treatment.after_treatment_hooks.append(seen.append)
    try:
        participants.change_phase(participant=alice, phase="long_term", actor="system:test")
        with django_capture_on_commit_callbacks(execute=True):
            flare = report_treatment(participant=alice, kind="recurred", channel="sms")
            spread = answer_spread(participant=alice, channel="sms", new_or_extensive=False)
    finally:
        treatment.after_treatment_hooks.remove(seen.append)
    assert seen == [flare, spread]
    assert tasks.replan_after_treatment in treatment.after_treatment_hooks  # registered by the app


def test_a_clearance_plans_the_stop_prompt_and_a_recurrence_cancels_it(alice, tasks_inline, django_capture_on_commit_callbacks):
    participants.change_phase(participant=alice, phase="long_term", actor="system:test")
    cleared_at = datetime(2026, 6, 2, 20, 0, tzinfo=CHICAGO)
    with time_machine.travel(cleared_at, tick=False), django_capture_on_commit_callbacks(execute=True):
        clear = report_treatment(participant=alice, kind="cleared", channel="web", at=cleared_at)
    # Planned as soon as the stop day enters the horizon (the daily plan), not days ahead.
    assert ("stop_treatment", f"clear:{clear.pk}") not in rows(alice)
    planner.plan_prompts(now=datetime(2026, 6, 4, 0, 30, tzinfo=CHICAGO))
    stop = rows(alice)["stop_treatment", f"clear:{clear.pk}"]
    assert (stop.status, stop.due_at) == ("pending", datetime(2026, 6, 5, 9, 0, tzinfo=CHICAGO))
    flare_at = datetime(2026, 6, 4, 19, 0, tzinfo=CHICAGO)
    with time_machine.travel(flare_at, tick=False), django_capture_on_commit_callbacks(execute=True):
        report_treatment(participant=alice, kind="recurred", channel="web", at=flare_at)
    stop.refresh_from_db()
    assert stop.status == "cancelled" and stop.reason.startswith("no longer planned")


def test_a_change_enqueues_the_replan_instead_of_planning_in_the_request(alice, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    planner.plan_prompts(now=datetime(2026, 5, 1, 12, 0, tzinfo=CHICAGO))
    before = rows(alice, status="pending")
    queued = []
    monkeypatch.setattr(tasks.replan_participant, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        participants.change_phase(participant=alice, phase="long_term", actor="system:test")
    assert queued == [str(alice.pk)]
    assert rows(alice, status="pending") == before  # nothing re-planned inside the change's request
