"""Diary windows and study days: ENDPOINTS.md section 1, computed on local wall-clock time.

Every rule here works on the participant's local wall clock through zoneinfo, never on
fixed UTC offsets, so a window follows the patient through a DST change (a 23- or
25-hour diary day) and a 19:00 prompt stays at 19:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from diaries.errors import OutsideWindow


@dataclass(frozen=True)
class Window:
    opens: time = time(17, 0)
    closes: time = time(3, 0)

    @classmethod
    def of(cls, rules) -> Window:
        return cls(opens=rules.window_opens, closes=rules.window_closes)


def local(instant: datetime, zone: str) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: every instant must carry its offset")
    return instant.astimezone(ZoneInfo(zone))


def wall_clock(d: date, t: time, zone: str) -> datetime:
    """The UTC instant at which the local wall clock first reads date d, time t (or later).

    At a fall-back repeat that is the first occurrence. In a spring-forward gap (02:30 on
    a night that skips 02:00-03:00) it is the instant the clock jumps past t, so a window
    bound agrees with `diary_date`, which compares wall-clock readings.
    """
    tz = ZoneInfo(zone)
    naive = datetime.combine(d, t)
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return aware.astimezone(UTC)
    # Nonexistent local time: the jump lies between the two readings of it; find it to the second.
    lo, hi = naive.replace(tzinfo=tz, fold=1).astimezone(UTC), aware.astimezone(UTC)
    lo, hi = min(lo, hi), max(lo, hi)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.astimezone(tz).replace(tzinfo=None) >= naive else hi


def diary_date(instant: datetime, zone: str, window: Window = Window()) -> date:
    """The diary date a submission at this instant belongs to; OutsideWindow when closed."""
    t = local(instant, zone)
    if t.time() >= window.opens:
        return t.date()
    if t.time() < window.closes:
        return t.date() - timedelta(days=1)
    raise OutsideWindow(
        f"The diary is open from {window.opens:%H:%M} to {window.closes:%H:%M}.",
        next_opens_at=next_window_opens(instant, zone, window),
    )


def open_diary_date(instant: datetime, zone: str, window: Window = Window()) -> date | None:
    """The diary date whose window is open at this instant, or None."""
    try:
        return diary_date(instant, zone, window)
    except OutsideWindow:
        return None


def window_bounds(d: date, zone: str, window: Window = Window()) -> tuple[datetime, datetime]:
    """UTC instants [opens, closes) of the window of diary date d."""
    return wall_clock(d, window.opens, zone), wall_clock(d + timedelta(days=1), window.closes, zone)


def last_closed_diary_date(instant: datetime, zone: str, window: Window = Window()) -> date:
    """The latest diary date whose window has closed at this instant (03:00 the next morning by default).

    The one rule for "missed": compliance, the coordinator's grid and the missed-diary alert.
    """
    d = local(instant, zone).date()
    while window_bounds(d, zone, window)[1] > instant:
        d -= timedelta(days=1)
    return d


def next_window_opens(instant: datetime, zone: str, window: Window = Window()) -> datetime:
    """The UTC instant the next window opens strictly after this instant (or now, if opening)."""
    t = local(instant, zone)
    candidate = wall_clock(t.date(), window.opens, zone)
    if candidate <= instant:
        candidate = wall_clock(t.date() + timedelta(days=1), window.opens, zone)
    return candidate


def study_day(d: date, day1: date) -> int:
    """CDISC study day: Day 1 is the first application; the day before is Day -1; no Day 0."""
    delta = (d - day1).days
    return delta + 1 if delta >= 0 else delta


def date_of_study_day(day: int, day1: date) -> date:
    if day == 0:
        raise ValueError("there is no Day 0")
    return day1 + timedelta(days=day - 1 if day > 0 else day)


def day1(first_application_at: datetime, zone: str) -> date:
    """Day 1 is the local calendar date of the first application, whatever offset it was written with."""
    return local(first_application_at, zone).date()


@dataclass(frozen=True)
class H12Window:
    prompt_at: datetime
    opens: datetime
    closes: datetime

    def is_open(self, instant: datetime) -> bool:
        return self.opens <= instant <= self.closes


def h12_window(first_application_at: datetime, rules) -> H12Window:
    """The 12-hour assessment: prompted at +12 h, accepted from +10 h to +14 h (elapsed time, not wall time)."""
    base = first_application_at.astimezone(UTC)
    return H12Window(
        prompt_at=base + timedelta(hours=rules.h12_prompt_after_hours),
        opens=base + timedelta(hours=rules.h12_accept_from_hours),
        closes=base + timedelta(hours=rules.h12_accept_to_hours),
    )
