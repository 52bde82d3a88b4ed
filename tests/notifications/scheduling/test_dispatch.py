"""The tick: due prompts become outbound messages once; skips carry their reason; a crash rolls back."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from diaries import participants
from diaries.models import Participant
from notifications import context
from notifications.inbound import Inbound, receive_sms
from notifications.models import Conversation, OutboundMessage, ScheduledPrompt
from notifications.scheduling import dispatch, planner
from tests.conftest import CHICAGO, WARSAW, answer, report_treatment

pytestmark = pytest.mark.django_db


def prompt(participant, kind, due_at, slot=None, diary_date=None):
    now = datetime(2026, 1, 1, tzinfo=CHICAGO)
    return ScheduledPrompt.objects.create(participant=participant, kind=kind, slot=slot or kind, due_at=due_at,
                                          diary_date=diary_date, created_at=now, updated_at=now)


def test_a_due_prompt_is_sent_once_and_linked_to_its_message(alice, run_tick, sync_sends):
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    assert run_tick(datetime(2026, 3, 20, 18, 59, tzinfo=CHICAGO)).claimed == 0  # not yet due
    stats = run_tick(datetime(2026, 3, 20, 19, 0, 20, tzinfo=CHICAGO))
    assert (stats.claimed, stats.sent) == (1, 1)
    assert run_tick(datetime(2026, 3, 20, 19, 1, tzinfo=CHICAGO)).claimed == 0  # a second tick sends nothing
    diary = ScheduledPrompt.objects.get(participant=alice, kind="diary", slot="2026-03-20")
    assert diary.status == "sent" and diary.outbound.status == "sent"
    assert [m["to"] for m in sync_sends] == [alice.phone]
    assert sync_sends[0]["body"].startswith("Skin Diary, diary for Fri 20 Mar")


def test_the_prompt_leaves_the_conversation_waiting_for_the_answer(alice, run_tick, sync_sends):
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    run_tick(datetime(2026, 3, 20, 19, 0, 20, tzinfo=CHICAGO))
    assert Conversation.objects.get(participant=alice).state["q"] == "itch"
    reply = receive_sms(inbound=Inbound("SMx1", alice.phone, "4", 0), now=datetime(2026, 3, 20, 19, 5, tzinfo=CHICAGO))
    assert "4" in reply and "1/8" in reply  # itch saved, first sleep question asked


def test_opted_out_and_withdrawn_participants_are_skipped_with_a_reason(alice, bob, run_tick, sync_sends):
    participants.record_sms_consent(participant=alice, opted_in=False, actor="system:test", source="test")
    participants.discontinue_participant(participant=bob, on=date(2026, 3, 21), actor="system:test",
                                           reason="moved away")
    at = datetime(2026, 3, 22, 19, 0, tzinfo=CHICAGO)
    a = prompt(alice, "diary", at, "2026-03-22", date(2026, 3, 22))
    b = prompt(bob, "visit_reminder", at, "week-2", date(2026, 4, 2))
    assert run_tick(at + timedelta(seconds=30)).skipped == 2
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, a.reason, b.status, b.reason) == ("skipped", "opted out", "skipped", "participant withdrawn")
    assert sync_sends == [] and not OutboundMessage.objects.exists()


def test_a_visit_reminder_due_in_quiet_hours_waits_until_08_00(alice, run_tick, sync_sends):
    late = datetime(2026, 4, 4, 23, 10, tzinfo=CHICAGO)  # the beat was down since 10:00
    p = prompt(alice, "visit_reminder", datetime(2026, 4, 4, 10, 0, tzinfo=CHICAGO), "week-4", date(2026, 4, 5))
    assert run_tick(late).deferred == 1
    p.refresh_from_db()
    assert (p.status, p.due_at) == ("pending", datetime(2026, 4, 5, 8, 0, tzinfo=CHICAGO))
    # 08:00 on the visit day: "the day before" has passed, the reminder has expired.
    assert run_tick(datetime(2026, 4, 5, 8, 0, 30, tzinfo=CHICAGO)).skipped == 1
    p.refresh_from_db()
    assert p.status == "skipped" and p.reason.startswith("expired")
    assert sync_sends == []


def test_a_quiet_hours_deferral_survives_a_replan(alice, run_tick, sync_sends):
    participants.change_phase(participant=alice, phase="long_term", actor="system:test")
    planner.plan_prompts(now=datetime(2026, 5, 9, 12, 0, tzinfo=CHICAGO))
    checkin = ScheduledPrompt.objects.get(participant=alice, kind="lesion_checkin", slot="2026-05-09")
    assert checkin.due_at == datetime(2026, 5, 9, 18, 0, tzinfo=CHICAGO)  # Saturday
    run_tick(datetime(2026, 5, 9, 23, 10, tzinfo=CHICAGO))  # the beat was down all evening
    planner.plan_prompts(now=datetime(2026, 5, 9, 23, 30, tzinfo=CHICAGO))
    checkin.refresh_from_db()
    assert (checkin.status, checkin.due_at) == ("pending", datetime(2026, 5, 10, 8, 0, tzinfo=CHICAGO))
    assert checkin.reason == "deferred: quiet hours"
    run_tick(datetime(2026, 5, 10, 8, 0, 10, tzinfo=CHICAGO))
    checkin.refresh_from_db()
    assert checkin.status == "sent" and "FLARE" in sync_sends[0]["body"]


def test_the_diary_prompt_is_protocol_timed_and_skipped_once_its_window_closed(alice, run_tick, sync_sends):
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    run_tick(datetime(2026, 3, 21, 3, 0, tzinfo=CHICAGO))  # the beat came back after the window closed
    tonight = ScheduledPrompt.objects.filter(participant=alice, slot="2026-03-20")
    assert {(p.kind, p.status, p.reason[:7]) for p in tonight} == {("diary", "skipped", "expired"),
                                                                  ("reminder", "skipped", "expired")}
    assert sync_sends == []


def test_a_reminder_after_a_complete_diary_sends_nothing(alice, run_tick, sync_sends):
    at = datetime(2026, 3, 20, 21, 30, tzinfo=CHICAGO)
    r = prompt(alice, "reminder", at, "2026-03-20", date(2026, 3, 20))
    # Answers arrive while the hooks are not running (as in one test transaction): the tick itself checks.
    receive_sms(inbound=Inbound("SMy1", alice.phone, "5", 0), now=at - timedelta(hours=1))
    receive_sms(inbound=Inbound("SMy2", alice.phone, "3 2 4 1 5 3 2 2", 0), now=at - timedelta(minutes=59))
    run_tick(at + timedelta(seconds=5))
    r.refresh_from_db()
    assert (r.status, r.reason) == ("skipped", "diary already complete")


def test_h12_in_warsaw_at_twelve_elapsed_hours(study, run_tick, sync_sends):
    from tests.conftest import enroll

    applied = datetime(2026, 3, 28, 20, 0, tzinfo=WARSAW)  # +12 h crosses the 29 March spring-forward
    with_day1 = enroll(study, "TRUE-AD-101-0007", phone="+48601555017", zone="Europe/Warsaw",
                       runin_start=date(2026, 3, 21), first_application_at=applied)
    planner.plan_prompts(now=applied)
    h12 = ScheduledPrompt.objects.get(participant=with_day1, kind="h12")
    assert h12.due_at.astimezone(WARSAW) == datetime(2026, 3, 29, 9, 0, tzinfo=WARSAW)  # 12 h, not 09:00-1h
    run_tick(h12.due_at + timedelta(seconds=15))
    h12.refresh_from_db()
    assert h12.status == "sent" and sync_sends[0]["to"] == with_day1.phone


def test_a_crash_in_the_middle_of_a_batch_rolls_back_claims_and_messages(alice, bob, monkeypatch, run_tick,
                                                                           sync_sends):
    at = datetime(2026, 4, 4, 12, 0, tzinfo=CHICAGO)
    prompt(alice, "visit_reminder", at, "week-4", date(2026, 4, 5))
    prompt(bob, "visit_reminder", at + timedelta(seconds=1), "week-2", date(2026, 4, 5))
    real = dispatch._save_states

    def dies_at_the_end(changed):
        # The messages are inserted and the prompts marked sent: the connection drops now.
        assert OutboundMessage.objects.count() == 2
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(dispatch, "_save_states", dies_at_the_end)
    with pytest.raises(DatabaseError):
        run_tick(at + timedelta(minutes=1))
    assert not OutboundMessage.objects.exists() and sync_sends == []
    assert set(ScheduledPrompt.objects.values_list("status", flat=True)) == {"pending"}
    monkeypatch.setattr(dispatch, "_save_states", real)
    assert run_tick(at + timedelta(minutes=2)).sent == 2
    assert OutboundMessage.objects.count() == 2 and len(sync_sends) == 2


def test_a_bug_for_one_prompt_skips_it_and_sends_the_others(alice, bob, monkeypatch, run_tick, sync_sends):
    at = datetime(2026, 4, 4, 12, 0, tzinfo=CHICAGO)
    a = prompt(alice, "visit_reminder", at, "week-4", date(2026, 4, 5))
    prompt(bob, "visit_reminder", at, "week-2", date(2026, 4, 5))
    real = context.diary_date_for

    def broken_for_alice(participant, *args):
        if participant.pk == alice.pk:
            raise KeyError("instrument")
        return real(participant, *args)

    monkeypatch.setattr(context, "diary_date_for", broken_for_alice)
    stats = run_tick(at + timedelta(minutes=1))
    a.refresh_from_db()
    assert (stats.sent, stats.skipped, a.status, a.reason) == (1, 1, "skipped", "error: KeyError")


def test_batches_continue_until_nothing_is_due(study, run_tick, sync_sends):
    from tests.conftest import enroll

    at = datetime(2026, 4, 4, 12, 0, tzinfo=CHICAGO)
    people = [enroll(study, f"TRUE-AD-101-01{i:02d}", phone=f"+1312555{i:04d}", zone="America/Chicago",
                     phase="long_term") for i in range(7)]
    for p in people:
        prompt(p, "lesion_checkin", at, "2026-04-04", date(2026, 4, 4))
    stats = run_tick(at, batch_size=3)
    assert (stats.batches, stats.sent) == (3, 7)
    assert Participant.objects.count() == 7 and len(sync_sends) == 7


def test_the_batch_context_is_the_one_the_inbound_path_builds(study, alice, bob):
    from tests.conftest import enroll

    carol = enroll(study, "TRUE-AD-101-0003", phone="+13125550133", zone="America/Chicago",
                   first_application_at=datetime(2026, 3, 8, 9, 30, tzinfo=CHICAGO))
    at = datetime(2026, 3, 8, 22, 0, tzinfo=CHICAGO)  # alice's and carol's H12 windows and diaries open
    answer(participant=alice, instrument="ITCH_NRS", timepoint="H12", answers={1: 6},
                                  channel="sms", at=at)
    answer(participant=alice, instrument="ITCH_NRS", answers={1: 4}, channel="sms",
                                  at=at)
    answer(participant=alice, instrument="ITCH_NRS", answers={1: 5}, channel="sms",
                                  at=at + timedelta(minutes=1))  # supersedes the 4
    dave = enroll(study, "TRUE-AD-101-0004", phone="+13125550144", zone="America/Chicago", phase="long_term")
    report_treatment(participant=dave, kind="cleared", channel="sms",
                                          at=at - timedelta(days=1))
    people = list(Participant.objects.select_related("site", "study").order_by("usubjid"))
    for now in (at, at + timedelta(hours=3), datetime(2026, 3, 9, 12, 0, tzinfo=CHICAGO)):
        batch = context.build_contexts(people, now)
        assert batch == {p.pk: context.build_context(p, now) for p in people}
    ctx = context.build_contexts(people, at)
    assert ctx[alice.pk].current == {"ITCH_NRS": {1: 5}} and ctx[alice.pk].h12_done
    assert ctx[carol.pk].h12_open and not ctx[carol.pk].h12_done and ctx[bob.pk].diary_date is None
    assert ctx[dave.pk].cleared_on == date(2026, 3, 7) and ctx[alice.pk].cleared_on is None


def test_a_participants_other_prompts_in_the_batch_cost_no_statement(alice, sync_sends):
    """A reminder due with its diary prompt (the beat was down, or a peak): the participant's study is read once."""

    def statements(at: datetime, kinds: list[str]) -> int:
        for kind in kinds:
            prompt(alice, kind, at, f"{at:%Y-%m-%d}", at.date())
        with time_machine.travel(at, tick=False), CaptureQueriesContext(connection) as queries:
            stats = dispatch.dispatch_batch(now=at)
        assert stats.claimed == len(kinds)
        return len(queries)

    statements(datetime(2026, 3, 19, 20, 0, tzinfo=CHICAGO), ["diary"])  # creates the conversation
    one = statements(datetime(2026, 3, 20, 20, 0, tzinfo=CHICAGO), ["diary"])
    three = statements(datetime(2026, 3, 21, 20, 0, tzinfo=CHICAGO), ["diary", "reminder", "visit_reminder"])
    assert three == one


def test_a_backlog_starts_helper_ticks_only_when_texts_are_not_paced(alice, bob, settings, monkeypatch, sync_sends,
                                                                     django_capture_on_commit_callbacks):
    """Paced, the sender's budget is the limit: a helper tick would only hold a worker process the sends need."""
    from notifications import tasks

    helpers = []
    monkeypatch.setattr(tasks.dispatch_due_prompts, "delay", lambda *args: helpers.append(args))
    monkeypatch.setattr(dispatch, "BATCH_SIZE", 1)  # the first batch comes back full: a backlog
    for paced, day in ((225, 20), (0, 21)):
        settings.SMS_MAX_PER_SECOND = paced
        at = datetime(2026, 3, day, 19, 0, tzinfo=CHICAGO)
        for p in (alice, bob):
            prompt(p, "diary", at, f"2026-03-{day}", date(2026, 3, day))
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            assert tasks.dispatch_due_prompts(3) == 2
        assert helpers == ([] if paced else [(2,)])


@pytest.mark.parametrize("count", [1, 3])
def test_a_batch_of_messages_is_stored_as_built(alice, bob, count):
    """The batch's one INSERT (arrays on PostgreSQL) stores every field of every message as given."""
    at = datetime(2026, 3, 20, 19, 0, tzinfo=CHICAGO)
    built = [
        OutboundMessage(participant=alice, kind="diary", body="Skin Diary, diary for Fri 20 Mar: 0 to 10?",
                        created_at=at, updated_at=at, expires_at=at + timedelta(hours=8)),
        OutboundMessage(participant=bob, kind="reminder", body="¿Picazón? 0-10", channel="push", created_at=at,
                        updated_at=at, payload={"title": "Diario", "link": "/d/", "collapse_id": "diary"},
                        sealed_body=b"sealed", not_before=at + timedelta(minutes=1)),
        OutboundMessage(participant=alice, kind="diary", body="", created_at=at, updated_at=at),
    ][:count]
    dispatch._insert_messages(built)
    fields = [f.attname for f in OutboundMessage._meta.concrete_fields]
    stored = {m.pk: m for m in OutboundMessage.objects.all()}
    assert len(stored) == count
    for message in built:
        row = stored[message.pk]
        assert {f: getattr(row, f) for f in fields} == {f: getattr(message, f) for f in fields}
        assert not message._state.adding
