"""The cycle rule has one home, diaries.protocol.cycles; analysis.longterm is its vectorised twin.

The pandas version stays for speed (every participant of a trial at once), so both must
agree on any sequence of reports: the same cycles, dates, stops and days on and off.
The transfer's days run to the cut-off inclusive, so the rule is asked with `as_of` the
day after for the counts, and with the cut-off itself for whether a stop day was reached.
"""

import os
from datetime import date, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.longterm import derive_cycles as derive_frame
from diaries.protocol.cycles import CLEARED, RECURRED, STOPPED, Event, derive_cycles

START = date(2026, 5, 3)  # the Week 8 visit: the long-term phase begins on treatment

reports = st.lists(st.tuples(st.sampled_from([CLEARED, RECURRED, STOPPED]), st.integers(0, 6)), max_size=12)


def as_events(sequence) -> list[Event]:
    """Reports in the order they were made, each on or after the day of the one before."""
    events, day = [], START
    for i, (kind, gap) in enumerate(sequence):
        day += timedelta(days=gap)
        at = datetime(day.year, day.month, day.day, 20, i)
        events.append(Event(f"e{i:02d}", kind, day, at))
    return events


def frame(events: list[Event], cutoff: date, stop_after_days: int) -> pd.DataFrame:
    rows = pd.DataFrame({
        "USUBJID": ["P1"] * len(events), "KIND": [e.kind for e in events],
        "EVENT_DATE": pd.to_datetime([e.event_date for e in events]),
        "REPORTED_AT": pd.to_datetime([e.reported_at for e in events]), "EVENT_ID": [e.id for e in events],
    })
    starts = pd.DataFrame({"USUBJID": ["P1"], "LT_START": pd.to_datetime([START]), "LT_END": [pd.NaT],
                           "DISCONTINUED_ON": [pd.NaT]})
    return derive_frame(rows, starts, stop_after_days=stop_after_days, as_of=cutoff)


def day(value) -> date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


@settings(max_examples=int(os.environ.get("CYCLE_EXAMPLES", "100")), deadline=None)
@given(sequence=reports, length=st.integers(0, 60), stop_after_days=st.integers(1, 5))
def test_the_pandas_cycles_agree_with_the_rule(sequence, length, stop_after_days):
    cutoff = START + timedelta(days=length)
    events = [e for e in as_events(sequence) if e.event_date <= cutoff]  # the transfer ignores later reports
    dates = derive_cycles(events, stop_after_days=stop_after_days, started_on=START, as_of=cutoff)
    counts = derive_cycles(events, stop_after_days=stop_after_days, started_on=START,
                           as_of=cutoff + timedelta(days=1))
    table = frame(events, cutoff, stop_after_days)
    assert list(table["CYCLE"]) == [c.number for c in dates]
    for row, rule, count in zip(table.itertuples(), dates, counts, strict=True):
        assert (day(row.START_DATE), day(row.CLEARED_DATE), day(row.RECURRENCE_DATE), day(row.STOP_DATE)) == (
            rule.started_on, rule.cleared_on, rule.recurred_on, rule.stopped_on)
        assert (row.STOP_REPORTED == "Y", row.STOP_CANCELLED == "Y", row.ONGOING == "Y") == (
            rule.stop_reported, rule.stop_cancelled, rule.recurred_on is None)
        assert (row.DAYS_ON, row.DAYS_OFF) == (max(count.days_on_treatment, 0), count.days_off_treatment or 0)
