"""The long-term treatment cycle by SMS with time travel: clear -> stop on D+3 -> flare -> clear again."""

from datetime import date, datetime, timedelta

import pytest

from diaries import participants
from diaries.models import TreatmentEvent
from diaries.protocol import cycles
from notifications.models import ScheduledPrompt
from tests.conftest import WARSAW

from .simulation import Simulation

pytestmark = pytest.mark.django_db(transaction=True)


def test_clearance_stop_recurrence_clearance(bob, sync_sends):
    participants.record_first_application(participant=bob, at=datetime(2026, 3, 27, 9, 0, tzinfo=WARSAW),
                                      actor="system:test")
    participants.change_phase(participant=bob, phase="long_term", actor="system:test")
    sim = Simulation(datetime(2026, 6, 1, tzinfo=WARSAW), datetime(2026, 7, 6, tzinfo=WARSAW))
    sim.text(datetime(2026, 6, 3, 20, 15, tzinfo=WARSAW), bob, "CLEAR")      # D1 = 3 June: stop on 6 June
    sim.text(datetime(2026, 6, 12, 8, 30, tzinfo=WARSAW), bob, "FLARE")      # back on treatment
    sim.text(datetime(2026, 6, 12, 8, 31, tzinfo=WARSAW), bob, "NO")         # not new areas, not extensive
    sim.text(datetime(2026, 6, 20, 18, 5, tzinfo=WARSAW), bob, "CLEAR")      # D2 = 20 June: stop on 23 June
    sim.text(datetime(2026, 6, 22, 7, 0, tzinfo=WARSAW), bob, "FLARE")       # before the stop: cancels it
    sim.text(datetime(2026, 6, 22, 7, 1, tzinfo=WARSAW), bob, "NO")
    sim.text(datetime(2026, 6, 27, 21, 0, tzinfo=WARSAW), bob, "CLEAR")      # D3 = 27 June: stop on 30 June
    sent = []
    sim.run(on_sent=lambda prompt, at: sent.append((prompt, at)))

    # The chatbot's answer to CLEAR: keep treating until D+3 (Spanish: bob's language).
    clear_replies = [r for at, who, r in sim.replies if at.astimezone(WARSAW).date() in (
        date(2026, 6, 3), date(2026, 6, 20), date(2026, 6, 27)) and "CLEAR" not in r]
    assert len(clear_replies) == 3
    events = list(TreatmentEvent.objects.filter(participant=bob, kind="cleared").order_by("reported_at"))
    stops = {p.slot: (p, at) for p, at in sent if p.kind == "stop_treatment"}
    # Exactly the first and third clearances got a stop prompt, at 09:00 local three days later.
    assert set(stops) == {f"clear:{events[0].pk}", f"clear:{events[2].pk}"}
    for event in (events[0], events[2]):
        prompt, _ = stops[f"clear:{event.pk}"]
        assert prompt.due_at.astimezone(WARSAW) == datetime.combine(
            event.event_date + timedelta(days=3), datetime.min.time().replace(hour=9), tzinfo=WARSAW)
        assert prompt.outbound.body in [m["body"] for m in sync_sends]
    cancelled = ScheduledPrompt.objects.filter(participant=bob, slot=f"clear:{events[1].pk}")
    assert [(p.status, p.reason[:17]) for p in cancelled] in ([], [("cancelled", "no longer planned")])
    # The cycles the analysis will see.
    rows = [cycles.Event(str(e.pk), e.kind, e.event_date, e.reported_at, str(e.supersedes_id or "") or None)
            for e in TreatmentEvent.objects.filter(participant=bob)]
    derived = cycles.derive_cycles(rows, stop_after_days=3, as_of=date(2026, 7, 5))
    assert [(c.cleared_on, c.stopped_on, c.recurred_on, c.stop_cancelled, c.days_off_treatment)
            for c in derived] == [
        (date(2026, 6, 3), date(2026, 6, 6), date(2026, 6, 12), False, 6),
        (date(2026, 6, 20), None, date(2026, 6, 22), True, 0),
        (date(2026, 6, 27), date(2026, 6, 30), None, False, 5),
    ]
    # Saturday check-ins throughout, at 18:00 local; nothing else was sent in the long-term phase.
    checkins = [p for p, _ in sent if p.kind == "lesion_checkin"]
    assert [p.diary_date for p in checkins] == [date(2026, 6, 6) + timedelta(weeks=k) for k in range(5)]
    assert {p.due_at.astimezone(WARSAW).strftime("%a %H:%M") for p in checkins} == {"Sat 18:00"}
    assert {p.kind for p, _ in sent} == {"lesion_checkin", "stop_treatment", "visit_reminder"}
