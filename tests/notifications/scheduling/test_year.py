"""A simulated year: two participants from run-in to Week 52 with time travel (the issue's "done when").

alice (Chicago, Day 1 on the US spring-forward day) keeps her diary on most evenings, moves
to the long-term phase at Week 8 and reports clearances and recurrences by SMS; bob
(Warsaw) texts STOP in May. Every prompt must go out at its local time, the stop prompt
exactly three days after each clearance, and nothing to bob after STOP.
"""

from datetime import date, datetime, time, timedelta

import pytest

from diaries import participants
from diaries.models import Alert, TreatmentEvent
from diaries.protocol import windows
from notifications.models import OutboundMessage, ScheduledPrompt
from notifications.scheduling import missed
from tests.conftest import CHICAGO, WARSAW

from .simulation import Simulation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SKIPPED_EVENINGS = {date(2026, 3, 14), date(2026, 4, 7), date(2026, 4, 8), date(2026, 4, 9)}
CLEARANCES = [date(2026, 5, 20), date(2026, 7, 1), date(2026, 10, 30), date(2027, 1, 12)]
FLARES = [date(2026, 6, 10), date(2026, 7, 3), date(2026, 12, 2)]  # 3 July: before the 4 July stop


def test_a_year_of_prompts(alice, bob, sync_sends):
    rules = alice.study.rules
    sim = Simulation(datetime(2026, 3, 1, tzinfo=CHICAGO), datetime(2027, 3, 8, tzinfo=CHICAGO))
    # alice answers at 19:20 on diary evenings (late on skipped ones: the reminder goes out first).
    d = date(2026, 3, 1)
    while d <= date(2026, 5, 2):  # Day -7 .. Day 56
        if d not in SKIPPED_EVENINGS:
            at = datetime.combine(d, time(19, 20) if d.day % 5 else time(22, 10), tzinfo=CHICAGO)
            sim.text(at, alice, "6")
            sim.text(at + timedelta(minutes=1), alice, "3 2 4 1 5 3 2 2")
        d += timedelta(days=1)
    sim.text(datetime(2026, 3, 8, 22, 5, tzinfo=CHICAGO), alice, "5")  # the H12 answer
    sim.at(datetime(2026, 5, 3, 11, 0, tzinfo=CHICAGO),  # the Week 8 visit
           lambda now: participants.change_phase(participant=alice, phase="long_term", actor="system:site"))
    for d in CLEARANCES:
        sim.text(datetime.combine(d, time(12, 0), tzinfo=CHICAGO), alice, "CLEAR")
    for d in FLARES:
        sim.text(datetime.combine(d, time(7, 30), tzinfo=CHICAGO), alice, "FLARE")
        sim.text(datetime.combine(d, time(7, 31), tzinfo=CHICAGO), alice, "NO")
    sim.at(datetime(2026, 3, 27, 9, 0, tzinfo=WARSAW), lambda now: participants.record_first_application(
        participant=bob, at=now, actor="system:site"))
    for day in range(70):  # the hourly missed-diary check, once a day is enough here
        sim.at(datetime(2026, 3, 2, 9, 30, tzinfo=CHICAGO) + timedelta(days=day),
               lambda now: missed.alert_missed_diaries())
    stop_at = datetime(2026, 5, 10, 20, 3, tzinfo=WARSAW)
    sim.text(stop_at, bob, "STOP")
    sent = []
    sim.run(on_sent=lambda prompt, at: sent.append((prompt, at)))

    alice_sent = [p for p, _ in sent if p.participant_id == alice.pk]
    by_kind = {}
    for p in alice_sent:
        by_kind.setdefault(p.kind, []).append(p)
    # Every prompt at its local time, and dispatched within the minute.
    for p, at in sent:
        assert timedelta(0) <= at - p.due_at < timedelta(minutes=1)
    local = {k: [p.due_at.astimezone(CHICAGO) for p in v] for k, v in by_kind.items()}
    assert {t.time() for t in local["diary"]} == {time(19, 0)}
    assert len(local["diary"]) == 63  # 1 March .. 2 May, through the spring-forward
    assert {t.time() for t in local["reminder"]} == {time(21, 30)}
    reminded = {p.diary_date for p in by_kind["reminder"]}
    late = {d for d in (date(2026, 3, 1) + timedelta(days=i) for i in range(63)) if d.day % 5 == 0}
    assert reminded == SKIPPED_EVENINGS | late  # done diaries cancelled their reminders
    assert local["h12"] == [datetime(2026, 3, 8, 22, 0, tzinfo=CHICAGO)]
    for p in by_kind["visit_reminder"]:
        assert p.due_at.astimezone(CHICAGO) == datetime.combine(p.diary_date - timedelta(days=1), time(10, 0),
                                                                tzinfo=CHICAGO)
    assert [p.slot for p in by_kind["visit_reminder"]] == [f"week-{w}" for w in rules.visit_weeks]
    assert {(t.isoweekday(), t.time()) for t in local["lesion_checkin"]} == {(6, time(18, 0))}  # through fall-back
    assert len(local["lesion_checkin"]) == 44  # 9 May 2026 .. 6 March 2027
    # The stop prompt exactly three days after each clearance, at 09:00 local; none for the one
    # followed by a flare before its stop day.
    clear_events = {e.event_date: e for e in TreatmentEvent.objects.filter(participant=alice, kind="cleared")}
    assert set(clear_events) == set(CLEARANCES)
    stops = {p.slot: p for p in by_kind["stop_treatment"]}
    expected = [d for d in CLEARANCES if d != date(2026, 7, 1)]
    assert sorted(stops) == sorted(f"clear:{clear_events[d].pk}" for d in expected)
    for d in expected:
        assert stops[f"clear:{clear_events[d].pk}"].due_at.astimezone(CHICAGO) == datetime.combine(
            d + timedelta(days=3), time(9, 0), tzinfo=CHICAGO)
    # Missed-diary alerts, once per streak: alice's 7-9 April (14 March alone is one day), and
    # bob's, who never kept the diary (one alert for the whole streak, STOP or not).
    assert sorted(Alert.objects.filter(kind="missed_diaries").values_list("key", flat=True)) == sorted([
        f"missed:{alice.pk}:2026-04-07", f"missed:{bob.pk}:2026-03-20"])
    # bob: prompts until he texted STOP, nothing after, though his plan kept running.
    bob_messages = OutboundMessage.objects.filter(participant=bob)
    assert bob_messages.filter(created_at__lt=stop_at).exists()
    assert not bob_messages.filter(created_at__gte=stop_at).exists()
    assert [m for m in sync_sends if m["to"] == bob.phone]  # he did get prompts before
    skipped = ScheduledPrompt.objects.filter(participant=bob, status="skipped", reason="opted out")
    assert {p.kind for p in skipped} == {"diary", "reminder", "visit_reminder"} and skipped.count() > 20
    assert windows.local(stop_at, "Europe/Warsaw").date() == date(2026, 5, 10)
