"""diaries.protocol.cycles: treatment cycles from clearance and recurrence reports, without a database."""

from datetime import UTC, date, datetime, timedelta

from diaries.protocol.cycles import Event, current_events, derive_cycles


def ev(eid, kind, on, hour=12, supersedes=None):
    return Event(eid, kind, on, datetime(on.year, on.month, on.day, hour, tzinfo=UTC), supersedes)


D = date(2026, 6, 1)


def test_clearance_then_recurrence_after_the_stop_is_one_full_cycle():
    (cycle, *rest) = derive_cycles([ev("c1", "cleared", D), ev("r1", "recurred", D + timedelta(days=10))],
                                   stop_after_days=3, started_on=D - timedelta(days=20))
    assert cycle.cleared_on == D and cycle.stop_on == D + timedelta(days=3)
    assert cycle.stopped_on == D + timedelta(days=3) and not cycle.stop_cancelled
    assert cycle.recurred_on == D + timedelta(days=10)
    assert (cycle.days_on_treatment, cycle.days_off_treatment) == (23, 7)
    assert cycle.stop_prompt_due  # the recurrence came after the stop day: the D+3 prompt stands
    # The next cycle is open, on treatment since the recurrence.
    assert [(c.number, c.started_on, c.cleared_on) for c in rest] == [(2, D + timedelta(days=10), None)]


def test_a_recurrence_before_the_stop_day_cancels_the_stop():
    cycles = derive_cycles([ev("c1", "cleared", D), ev("r1", "recurred", D + timedelta(days=2))],
                           stop_after_days=3, started_on=D - timedelta(days=5))
    first = cycles[0]
    assert first.stop_cancelled and first.stopped_on is None and not first.stop_prompt_due
    assert (first.days_on_treatment, first.days_off_treatment) == (7, 0)


def test_a_recurrence_on_the_stop_day_withholds_the_prompt_but_counts_the_stop():
    first = derive_cycles([ev("c1", "cleared", D), ev("r1", "recurred", D + timedelta(days=3))],
                          stop_after_days=3)[0]
    assert not first.stop_cancelled and first.stopped_on == D + timedelta(days=3)
    assert first.days_off_treatment == 0 and not first.stop_prompt_due


def test_the_open_cycle_waits_for_its_stop_day():
    (cycle,) = derive_cycles([ev("c1", "cleared", D)], stop_after_days=3, started_on=D - timedelta(days=4))
    assert cycle.stop_prompt_due and cycle.stopped_on is None and cycle.days_off_treatment is None
    (cycle,) = derive_cycles([ev("c1", "cleared", D)], stop_after_days=3, started_on=D - timedelta(days=4),
                             as_of=D + timedelta(days=5))
    assert cycle.stopped_on == D + timedelta(days=3)
    assert (cycle.days_on_treatment, cycle.days_off_treatment) == (7, 2)


def test_clear_stop_flare_clear_gives_two_cycles_with_their_own_stop():
    events = [ev("c1", "cleared", D), ev("r1", "recurred", D + timedelta(days=8)),
              ev("c2", "cleared", D + timedelta(days=15))]
    one, two = derive_cycles(events, stop_after_days=3)
    assert (one.cleared_event, one.stop_on, one.recurred_on) == ("c1", D + timedelta(days=3), D + timedelta(days=8))
    assert (two.started_on, two.cleared_event, two.stop_on) == (D + timedelta(days=8), "c2", D + timedelta(days=18))
    assert two.stop_prompt_due and two.days_on_treatment is None


def test_a_second_clear_before_the_next_flare_does_not_move_the_stop():
    (cycle,) = derive_cycles([ev("c1", "cleared", D), ev("c2", "cleared", D + timedelta(days=1))],
                             stop_after_days=3)
    assert cycle.cleared_event == "c1" and cycle.stop_on == D + timedelta(days=3)


def test_a_superseded_recurrence_counts_once():
    events = [ev("c1", "cleared", D), ev("r1", "recurred", D + timedelta(days=6)),
              ev("r1b", "recurred", D + timedelta(days=6), hour=13, supersedes="r1")]
    assert [e.id for e in current_events(events)] == ["c1", "r1b"]
    one, two = derive_cycles(events, stop_after_days=3)
    assert one.recurred_event == "r1b" and two.cleared_on is None and two.started_on == D + timedelta(days=6)


def test_a_reported_stop_dates_the_stop_and_withholds_the_prompt():
    (cycle,) = derive_cycles([ev("c1", "cleared", D), ev("s1", "stopped", D + timedelta(days=2))],
                             stop_after_days=3, as_of=D + timedelta(days=4))
    assert cycle.stop_reported and cycle.stopped_on == D + timedelta(days=2) and not cycle.stop_prompt_due
    assert cycle.days_off_treatment == 2


def test_a_first_flare_marks_the_start_of_treatment_and_later_flares_on_treatment_change_nothing():
    events = [ev("r0", "recurred", D), ev("r0b", "recurred", D + timedelta(days=2)),
              ev("c1", "cleared", D + timedelta(days=9))]
    (cycle,) = derive_cycles(events, stop_after_days=3, as_of=D + timedelta(days=20))
    assert cycle.started_on == D and cycle.cleared_on == D + timedelta(days=9)
    assert (cycle.days_on_treatment, cycle.days_off_treatment) == (12, 8)


def test_no_events_is_one_open_cycle():
    (cycle,) = derive_cycles([], stop_after_days=3, started_on=D, as_of=D + timedelta(days=3))
    assert cycle.cleared_on is None and cycle.days_on_treatment == 3 and not cycle.stop_prompt_due
