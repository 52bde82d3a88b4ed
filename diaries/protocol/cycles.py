"""Treatment cycles of the long-term phase, derived from a participant's treatment events.

The one home of the cycle rule: a pure function over plain values (no ORM, no clock).
The scheduler plans the stop prompt by it, the chatbot and the treatment reports tell
the patient the stop day by it; analysis/longterm.py applies the same rule to a whole
trial with pandas and is tested to agree with it (tests/analysis/test_longterm_agrees.py):

    CLEAR on local date D  -> keep applying until D+N, stop on D+N (N = stop_treatment_after_days, 3)
    FLARE on local date R  -> resume treatment: the cycle ends and the next one starts on R

A recurrence before the stop day cancels the stop (the patient never stopped: 0 days off).
A recurrence on the stop day itself comes after the stop (stopped that day, 0 days off); the
scheduler still withholds the 09:00 stop prompt if it is reported before the prompt is sent.

Reports that do not move the cycle are kept in the database but change nothing here:
a second CLEAR before the next FLARE (the first clearance dates the cycle), and a FLARE
while still on treatment in a cycle with no clearance (except the very first report,
which marks the start of treatment). Superseded events (a recurrence re-recorded with the
answer to "new areas or extensive?") count once, as their current version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

CLEARED = "cleared"
RECURRED = "recurred"
STOPPED = "stopped"


@dataclass(frozen=True)
class Event:
    """One treatment event as the analysis and the scheduler see it."""

    id: str
    kind: str  # "cleared" | "recurred" | "stopped"
    event_date: date  # local date of the report
    reported_at: datetime  # orders events reported on the same date
    supersedes: str | None = None  # the id of the event this one replaces


@dataclass(frozen=True)
class Cycle:
    number: int  # 1, 2, ...
    started_on: date | None  # the recurrence that restarted treatment; cycle 1: the `started_on` given
    cleared_on: date | None  # D: lesions reported clear
    cleared_event: str | None
    stop_on: date | None  # D + N: the protocol's stop day (the day of the stop prompt)
    stopped_on: date | None  # the day treatment stopped; None while still on treatment or if it never did
    stop_reported: bool  # the patient reported stopping (a "stopped" event), not just prompted
    recurred_on: date | None  # R: lesions reported back, treatment resumed
    recurred_event: str | None
    stop_cancelled: bool  # a recurrence came before the stop day
    days_on_treatment: int | None
    days_off_treatment: int | None

    @property
    def stop_prompt_due(self) -> bool:
        """Whether the stop prompt of this cycle should still go out (scheduler rule).

        Not after a recurrence on or before the stop day, nor when the patient already
        reported stopping.
        """
        if self.cleared_on is None or self.stop_reported:
            return False
        return self.recurred_on is None or self.recurred_on > self.stop_on


def current_events(events: Iterable[Event]) -> list[Event]:
    """The events no other event supersedes, in the order they were reported."""
    events = list(events)
    replaced = {e.supersedes for e in events if e.supersedes}
    return sorted((e for e in events if e.id not in replaced), key=lambda e: (e.reported_at, e.id))


def derive_cycles(
    events: Iterable[Event], *, stop_after_days: int, started_on: date | None = None, as_of: date | None = None
) -> list[Cycle]:
    """Every cycle, in order; the last one is always open (no recurrence yet).

    `started_on` is the start of treatment in the long-term phase (e.g. the Week 8 visit),
    used for cycle 1's days on treatment. `as_of` (a local date) closes the counts of an
    open cycle: without it, days still running are None and a stop day not yet reached is
    not a stop.
    """
    cycles: list[Cycle] = []
    cur = _Open(started_on)
    seen_any = False
    for event in current_events(events):
        if event.kind == CLEARED:
            if cur.cleared is None:
                cur.cleared = event
        elif event.kind == STOPPED:
            if cur.stopped is None:
                cur.stopped = event
        elif event.kind == RECURRED:
            if cur.cleared is None and cur.stopped is None:
                if not seen_any and not cycles:
                    cur.started_on = event.event_date  # the first report: treatment starts here
                # else: a flare while on treatment: no new cycle
            else:
                cycles.append(cur.close(len(cycles) + 1, event, stop_after_days, as_of))
                cur = _Open(event.event_date)
        seen_any = True
    cycles.append(cur.close(len(cycles) + 1, None, stop_after_days, as_of))  # the open one, on or off treatment
    return cycles


class _Open:
    def __init__(self, started_on: date | None):
        self.started_on = started_on
        self.cleared: Event | None = None
        self.stopped: Event | None = None

    def close(self, number: int, recurrence: Event | None, n: int, as_of: date | None) -> Cycle:
        cleared_on = self.cleared.event_date if self.cleared else None
        stop_on = stop_day(cleared_on, n) if cleared_on else None
        recurred_on = recurrence.event_date if recurrence else None
        # The day treatment stopped: a report of stopping, else the protocol's stop day once reached.
        candidates = []
        if self.stopped is not None:
            candidates.append(self.stopped.event_date)
        if stop_on is not None:
            candidates.append(stop_on)
        stopped_on = min(candidates) if candidates else None
        stop_cancelled = False
        if stopped_on is not None and recurred_on is not None and recurred_on < stopped_on:
            stopped_on, stop_cancelled = None, True
        if stopped_on is not None and recurrence is None and self.stopped is None:
            if as_of is None or as_of < stopped_on:
                stopped_on = None  # the stop day has not come yet
        end = recurred_on or as_of
        on_until = stopped_on or (recurred_on if stop_cancelled else as_of)
        days_on = (on_until - self.started_on).days if self.started_on and on_until else None
        if stop_cancelled:
            days_off = 0
        elif stopped_on is not None and end is not None:
            days_off = max((end - stopped_on).days, 0)
        else:
            days_off = None
        return Cycle(
            number=number,
            started_on=self.started_on,
            cleared_on=cleared_on,
            cleared_event=self.cleared.id if self.cleared else None,
            stop_on=stop_on,
            stopped_on=stopped_on,
            stop_reported=self.stopped is not None,
            recurred_on=recurred_on,
            recurred_event=recurrence.id if recurrence else None,
            stop_cancelled=stop_cancelled,
            days_on_treatment=days_on,
            days_off_treatment=days_off,
        )


def open_cycle_cleared_on(events: Iterable[Event], stop_after_days: int) -> date | None:
    """The clearance date of the open cycle, if lesions are reported clear now (and not back since)."""
    events = list(events)
    if not events:
        return None
    open_cycle = derive_cycles(events, stop_after_days=stop_after_days)[-1]
    return open_cycle.cleared_on if open_cycle.recurred_on is None else None


def keep_treating_until(events: Iterable[Event], rules) -> date | None:
    """The stop day of the open cycle: its first clearance D + `stop_treatment_after_days`."""
    cleared_on = open_cycle_cleared_on(events, rules.stop_treatment_after_days)
    return stop_day(cleared_on, rules.stop_treatment_after_days) if cleared_on else None


def stop_day(cleared_on: date, stop_after_days: int) -> date:
    """CLEAR on D: keep applying until D + N and stop that day."""
    return cleared_on + timedelta(days=stop_after_days)
