"""Reads shared by the admin and others: diary compliance per participant and per site.

Compliance follows ENDPOINTS.md (compliance.csv): `RUNIN` is study days -7..-1 and `VC`
days 1..56 of the daily ITCH_NRS; a day is EXPECTED when it is on or before the earlier
of the discontinuation date and the as-of date, COMPLETED when it has a current DAILY
ITCH_NRS record; PCT is empty (None) when nothing was expected. The as-of date is the
participant's local today unless given.

Two numbers for the site coordinator are not in the analysis contract and are computed
only over days whose diary window has already closed (so an evening still to come is
not counted as missed): "last 7 days" and "missed in a row".

Before Day 1 is recorded, run-in is the 7 days from `runin_start` (the planned Day -7)
and nothing of VC is expected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from diaries.protocol import windows

from .models import Alert, AlertKind, AlertStatus, DiaryRecord, Instrument, Participant, Timepoint

PERIODS: dict[str, tuple[int, int]] = {"RUNIN": (-7, -1), "VC": (1, 56)}


@dataclass(frozen=True)
class Tally:
    expected: int
    completed: int

    @property
    def pct(self) -> float | None:
        return None if self.expected == 0 else round(100 * self.completed / self.expected, 1)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.expected + other.expected, self.completed + other.completed)


@dataclass(frozen=True)
class Compliance:
    as_of: date
    periods: dict[str, Tally]  # RUNIN and VC, as in compliance.csv
    current_period: str | None  # the period the as-of (or discontinuation) date falls in, or the last begun
    last7: Tally  # the 7 latest closed diary days inside the periods
    missed_in_a_row: int  # closed diary days without an entry, counted back from the latest one
    last_entry: date | None  # latest diary date with a daily itch value

    @property
    def current(self) -> Tally | None:
        return self.periods[self.current_period] if self.current_period else None


@dataclass(frozen=True)
class DiaryDays:
    """The calendar dates a participant is expected to keep the daily diary, by period."""

    by_period: dict[str, list[date]]
    last_day: date | None  # discontinuation date, if any

    @classmethod
    def of(cls, p: Participant) -> DiaryDays:
        day1 = p.day1
        by_period: dict[str, list[date]] = {}
        for period, (first, last) in PERIODS.items():
            if day1 is None:
                # Run-in before Day 1 is recorded: the planned Day -7 onwards; VC not begun.
                days = [p.runin_start + timedelta(days=i) for i in range(last - first + 1)] if first < 0 else []
            else:
                days = [windows.date_of_study_day(k, day1) for k in range(first, last + 1) if k != 0]
            by_period[period] = days
        return cls(by_period=by_period, last_day=p.discontinued_on)

    def expected(self, period: str, cutoff: date) -> list[date]:
        end = min(cutoff, self.last_day) if self.last_day else cutoff
        return [d for d in self.by_period[period] if d <= end]

    def all_expected(self, cutoff: date) -> list[date]:
        return [d for period in PERIODS for d in self.expected(period, cutoff)]

    def period_of(self, d: date) -> str | None:
        return next((period for period, days in self.by_period.items() if d in days), None)


def completed_dates(participants: Iterable[Participant]) -> dict[object, set[date]]:
    """Diary dates with a current DAILY ITCH_NRS record, per participant id: one query."""
    ids = [p.pk for p in participants]
    rows = (
        DiaryRecord.objects.current()
        .filter(participant_id__in=ids, instrument=Instrument.ITCH_NRS, timepoint=Timepoint.DAILY)
        .values_list("participant_id", "diary_date")
    )
    done: dict[object, set[date]] = defaultdict(set)
    for pid, d in rows:
        done[pid].add(d)
    return done


def _compliance(p: Participant, done: set[date], as_of: date | None, now: datetime,
                window: windows.Window) -> Compliance:
    as_of = as_of or windows.local(now, p.zone).date()
    days = DiaryDays.of(p)
    periods = {}
    for period in PERIODS:
        expected = days.expected(period, as_of)
        periods[period] = Tally(len(expected), sum(1 for d in expected if d in done))
    cutoff = min(as_of, p.discontinued_on) if p.discontinued_on else as_of
    begun = [period for period in PERIODS if days.by_period[period] and days.by_period[period][0] <= cutoff]
    current_period = begun[-1] if begun else None

    closed = min(as_of, windows.last_closed_diary_date(now, p.zone, window))
    closed_days = days.all_expected(closed)
    recent = closed_days[-7:]
    last7 = Tally(len(recent), sum(1 for d in recent if d in done))
    missed = 0
    for d in reversed(closed_days):
        if d in done:
            break
        missed += 1
    return Compliance(
        as_of=as_of, periods=periods, current_period=current_period, last7=last7, missed_in_a_row=missed,
        last_entry=max(done) if done else None,
    )


def participant_compliance(participant: Participant, *, as_of: date | None = None,
                           now: datetime | None = None) -> Compliance:
    """Compliance of one participant (ENDPOINTS.md compliance.csv) and the coordinator's recent-days view."""
    return compliance_of([participant], as_of=as_of, now=now)[participant.pk]


def compliance_of(participants: Iterable[Participant], *, as_of: date | None = None,
                  now: datetime | None = None) -> dict[object, Compliance]:
    """Compliance of many participants with one query, keyed by participant id."""
    participants = list(participants)
    now = now or timezone.now()
    done = completed_dates(participants)
    window = _windows(participants)
    return {p.pk: _compliance(p, done.get(p.pk, set()), as_of, now, window[p.study_id]) for p in participants}


def _windows(participants: list[Participant]) -> dict[object, windows.Window]:
    """The diary window of each study, its configuration parsed once per study."""
    found: dict[object, windows.Window] = {}
    for p in participants:
        if p.study_id not in found:
            found[p.study_id] = windows.Window.of(p.study.rules)
    return found


@dataclass(frozen=True)
class SiteCompliance:
    rows: list[tuple[Participant, Compliance]]
    totals: dict[str, Tally] = field(default_factory=dict)  # per period, summed over participants
    last7: Tally = Tally(0, 0)


def site_compliance(site, *, as_of: date | None = None, now: datetime | None = None) -> SiteCompliance:
    """Every participant of a site with their compliance, and the site's totals per period."""
    participants = list(Participant.objects.filter(site=site).select_related("study", "site"))
    by_id = compliance_of(participants, as_of=as_of, now=now)
    rows = [(p, by_id[p.pk]) for p in participants]
    totals = {period: sum((c.periods[period] for _, c in rows), Tally(0, 0)) for period in PERIODS}
    return SiteCompliance(rows=rows, totals=totals, last7=sum((c.last7 for _, c in rows), Tally(0, 0)))


# Cell states of the daily completion grid.
DONE, MISSED, OPEN, NOT_EXPECTED, EXTRA = "done", "missed", "open", "none", "extra"


def daily_completion(participants: Iterable[Participant], start: date, end: date, *,
                     now: datetime | None = None) -> list[tuple[Participant, list[tuple[date, str]]]]:
    """Per participant and calendar date: done, missed, open (window not closed yet), none (no diary due)
    or extra (an entry on a day outside the compliance periods)."""
    participants = list(participants)
    now = now or timezone.now()
    done = completed_dates(participants)
    window = _windows(participants)
    dates = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    grid = []
    for p in participants:
        days = DiaryDays.of(p)
        due = set(days.all_expected(end))
        closed = windows.last_closed_diary_date(now, p.zone, window[p.study_id])
        mine = done.get(p.pk, set())
        cells = []
        for d in dates:
            if d not in due:
                state = EXTRA if d in mine else NOT_EXPECTED
            elif d in mine:
                state = DONE
            elif d > closed:
                state = OPEN
            else:
                state = MISSED
            cells.append((d, state))
        grid.append((p, cells))
    return grid


def completion_over_time(grid: list[tuple[Participant, list[tuple[date, str]]]]) -> list[tuple[date, Tally]]:
    """The share of due, closed diary days completed on each date of a completion grid (site compliance)."""
    if not grid:
        return []
    dates = [d for d, _ in grid[0][1]]
    series = []
    for i, d in enumerate(dates):
        states = [cells[i][1] for _, cells in grid]
        series.append((d, Tally(states.count(DONE) + states.count(MISSED), states.count(DONE))))
    return series


@dataclass(frozen=True)
class NextVisit:
    week: int
    on: date
    recorded: bool  # a date entered by the site; otherwise the nominal day (Day 7 x week + 1)


def next_visit(participant: Participant, today: date | None = None) -> NextVisit | None:
    """The next visit: the earliest recorded visit date from today on, else the next week without one."""
    if participant.day1 is None:
        return None
    today = today or windows.local(timezone.now(), participant.zone).date()
    visits = {v.week: v.visit_date for v in participant.visits.all()}
    upcoming = sorted((d, w) for w, d in visits.items() if d >= today)
    if upcoming:
        return NextVisit(week=upcoming[0][1], on=upcoming[0][0], recorded=True)
    for week in participant.study.rules.visit_weeks:
        nominal = windows.date_of_study_day(7 * week + 1, participant.day1)
        if week not in visits and nominal >= today:
            return NextVisit(week=week, on=nominal, recorded=False)
    return None


@dataclass(frozen=True)
class SiteToday:
    """What a site coordinator looks for first in the morning, counted over the site's active participants."""

    site: object
    missed_yesterday: int  # the latest closed diary day has no entry
    missed_two: int  # 2+ closed diary days in a row without an entry
    below80: int  # under 80% over the last 7 closed diary days
    open_alerts: list[tuple[str, str, int]]  # (kind, label, count) of open alerts, by kind


def site_today(site, *, now: datetime | None = None) -> SiteToday:
    """The site's counts for the home page: diaries missed, low compliance and open alerts by kind."""
    active = Participant.objects.filter(site=site, discontinued_on__isnull=True).select_related("study", "site")
    by_id = compliance_of(active, now=now)
    counts = (
        Alert.objects.filter(site=site, status=AlertStatus.OPEN).values("kind").annotate(n=Count("id")).order_by("kind")
    )
    labels = dict(AlertKind.choices)
    return SiteToday(
        site=site,
        missed_yesterday=sum(1 for c in by_id.values() if c.missed_in_a_row >= 1),
        missed_two=sum(1 for c in by_id.values() if c.missed_in_a_row >= 2),
        below80=sum(1 for c in by_id.values() if c.last7.pct is not None and c.last7.pct < 80),
        open_alerts=[(row["kind"], labels.get(row["kind"], row["kind"]), row["n"]) for row in counts],
    )


@dataclass(frozen=True)
class ParticipantSummary:
    """The top of a participant's page: where they are in the study and what needs the site."""

    compliance: Compliance
    study_day: int | None  # today's study day (no Day 0), None before Day 1
    since_day1: Tally | None  # every daily diary due from Day 1 to today, None before Day 1
    last_itch: DiaryRecord | None  # the latest current daily itch record
    open_alerts: list[Alert]  # open or acknowledged, newest first


def participant_summary(participant: Participant, *, now: datetime | None = None) -> ParticipantSummary:
    """Phase, study day, compliance, the last diary and the alerts not yet closed of one participant."""
    now = now or timezone.now()
    compliance = participant_compliance(participant, now=now)
    today = windows.local(now, participant.zone).date()
    day1 = participant.day1
    since = None
    if day1 is not None:
        since = sum((tally for period, tally in compliance.periods.items() if PERIODS[period][0] > 0), Tally(0, 0))
    last_itch = (
        DiaryRecord.objects.current()
        .filter(participant=participant, instrument=Instrument.ITCH_NRS, timepoint=Timepoint.DAILY)
        .order_by("-diary_date").first()
    )
    open_alerts = list(participant.alerts.filter(status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED])
                       .order_by("-created_at"))
    return ParticipantSummary(
        compliance=compliance, study_day=windows.study_day(today, day1) if day1 else None, since_day1=since,
        last_itch=last_itch, open_alerts=open_alerts,
    )
