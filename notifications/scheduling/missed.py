"""Missed diaries: the site is alerted once per streak of `missed_alert_days` evenings without a diary."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from diaries import alerts
from diaries.models import Alert, AlertKind, DiaryRecord, Instrument, Participant, Timepoint
from diaries.protocol import windows
from diaries.protocol.study_config import StudyConfig
from notifications.scheduling.planner import DIARY_PHASES, FACT_FIELDS, Facts, last_diary_date, rules_by_study

RECENT_DAYS = 21  # the missed-diary alert reads every diary of these last days


def streak_end(facts: Facts, rules: StudyConfig, now: datetime) -> date | None:
    """The latest diary date that can count as missed now: its window has closed; None outside the diary."""
    if facts.phase not in DIARY_PHASES:
        return None
    closed = windows.last_closed_diary_date(now, facts.zone, windows.Window.of(rules))
    final = last_diary_date(facts, rules)
    return min(closed, final) if final is not None else closed


def missed_streak(facts: Facts, end: date, last_done: date | None) -> tuple[date, int] | None:
    """(first date, length) of the run of missed diary days ending on `end`, or None.

    `last_done` is the latest diary date on or before `end` with a daily itch record.
    """
    first = max(facts.runin_start, last_done + timedelta(days=1)) if last_done else facts.runin_start
    if end < first:
        return None
    return first, (end - first).days + 1


def alert_missed_diaries(*, now: datetime | None = None) -> int:
    """Alert the site once per streak of `missed_alert_days` (2) missed diary days; the number raised.

    A day is missed when its window closed without a daily itch record (the compliance rule
    of ENDPOINTS.md). The alert's key is the streak's first date, so a streak alerts once
    however long it runs, and the next one (after a diary) alerts again. A diary answered
    tonight does not hide the streak before it. Runs hourly: windows close at 03:00 local
    in every zone.
    """
    now = now or timezone.now()
    rows = list(Participant.objects.filter(phase__in=DIARY_PHASES).values_list(*FACT_FIELDS))
    if not rows:
        return 0
    records = DiaryRecord.objects.filter(
        participant__phase__in=DIARY_PHASES, instrument=Instrument.ITCH_NRS, timepoint=Timepoint.DAILY
    )
    # The latest diary per participant, and every diary of the last weeks: together they give
    # the latest one before any streak that is not already weeks old (then one more query).
    recent_from = now.date() - timedelta(days=RECENT_DAYS)
    done: dict[object, set[date]] = defaultdict(set)
    for pid, d in records.filter(diary_date__gte=recent_from).order_by().values_list("participant_id", "diary_date"):
        done[pid].add(d)
    latest = dict(records.order_by().values_list("participant_id").annotate(Max("diary_date")))
    rules_of = rules_by_study({r[1] for r in rows})
    candidates = {}
    for pid, study_id, zone, phase, runin_start, first_at, discontinued_on in rows:
        rules = rules_of[study_id]
        facts = Facts(pid, zone, phase, runin_start, first_at, discontinued_on)
        end = streak_end(facts, rules, now)
        if end is None or end < runin_start:
            continue
        before = [d for d in done.get(pid, ()) if d <= end]
        if before:
            last_done = max(before)
        elif pid not in latest:
            last_done = None
        elif latest[pid] < recent_from:
            last_done = latest[pid]
        else:  # only diaries after `end` lately (tonight's): the one before lies further back
            last_done = records.filter(participant_id=pid, diary_date__lt=recent_from).aggregate(
                m=Max("diary_date"))["m"]
        streak = missed_streak(facts, end, last_done)
        if streak is not None and streak[1] >= rules.missed_alert_days:
            candidates[f"missed:{pid}:{streak[0].isoformat()}"] = (pid, streak)
    known = set(Alert.objects.filter(kind=AlertKind.MISSED_DIARIES, key__in=list(candidates)).values_list(
        "key", flat=True))
    raised = 0
    for key, (pid, (first, length)) in candidates.items():
        if key in known:
            continue
        participant = Participant.objects.select_related("site", "study").get(pk=pid)
        alert = alerts.raise_alert(
            participant=participant, kind=AlertKind.MISSED_DIARIES, key=key,
            detail=f"No diary for {length} days in a row since {first.isoformat()}.",
        )
        raised += alert is not None
    return raised
