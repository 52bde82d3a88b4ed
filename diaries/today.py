"""What is open for a participant now: today's diary, the 12-hour assessment, the question flows.

The reads every patient channel shows (the web diary's pages, the app's "today", the
SMS context), by the same rule `diary.submit_diary` applies to a submission.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from diaries.protocol import windows

from .diary import current_record, diary_date_for
from .errors import DiaryNotOpen, OutsideWindow
from .models import Participant, Phase, Timepoint


@dataclass(frozen=True)
class Flow:
    """The questions of one sitting, in order: tonight's diary, or the 12-hour assessment."""

    slug: str
    timepoint: str
    instruments: tuple[str, ...]

    def steps(self, p: Participant) -> list[tuple[str, object]]:
        """(instrument code, item) per screen, in the order of the diary."""
        rules = p.study.rules
        return [(code, item) for code in self.instruments for item in rules.instrument(code).items]


FLOWS = {
    "today": Flow("today", Timepoint.DAILY, ("ITCH_NRS", "PROMIS_SD8B")),
    "12h": Flow("12h", Timepoint.H12, ("ITCH_NRS",)),
}


@dataclass
class DailyStatus:
    state: str  # open, done, closed, not_started, ended, over
    diary_date: date | None = None
    closes_at: datetime | None = None
    next_opens_at: datetime | None = None


def daily_status(p: Participant, now: datetime) -> DailyStatus:
    """Where today's diary stands, by the rule `submit_diary` applies to a submission."""
    try:
        d = diary_date_for(p, Timepoint.DAILY, now)
    except OutsideWindow as exc:
        return DailyStatus("closed", next_opens_at=exc.next_opens_at)
    except DiaryNotOpen:
        if p.phase == Phase.LONG_TERM:
            return DailyStatus("ended")
        if p.phase in (Phase.COMPLETED, Phase.WITHDRAWN) or p.discontinued_on:
            return DailyStatus("over")
        return DailyStatus("not_started", diary_date=p.runin_start)
    closes = windows.window_bounds(d, p.zone, windows.Window.of(p.study.rules))[1]
    done = all(current_record(p, code, Timepoint.DAILY, d) is not None
               for code in FLOWS["today"].instruments)
    return DailyStatus("done" if done else "open", diary_date=d, closes_at=closes)


@dataclass
class H12Status:
    state: str  # not_yet, open, done, closed
    opens_at: datetime
    closes_at: datetime


def h12_status(p: Participant, now: datetime) -> H12Status | None:
    """The 12-hour assessment, shown from the first application until its window closes."""
    if p.first_application_at is None or p.phase in (Phase.COMPLETED, Phase.WITHDRAWN):
        return None
    w = windows.h12_window(p.first_application_at, p.study.rules)
    if now < p.first_application_at:
        return None
    if now < w.opens:
        return H12Status("not_yet", w.opens, w.closes)
    if now > w.closes:
        return H12Status("closed", w.opens, w.closes)
    done = current_record(p, "ITCH_NRS", Timepoint.H12, p.day1) is not None
    return H12Status("done" if done else "open", w.opens, w.closes)
