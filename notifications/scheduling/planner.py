"""The planner: which prompts a participant should have, and the service that keeps the rows so.

Rules (all times local to the participant, all values from the study configuration):

- diary prompt at `diary_prompt` (19:00) and a reminder at `diary_reminder` (21:30) for
  every diary date from `runin_start` through study day 7 x `vehicle_controlled_weeks`
  (Day 56), never after `discontinued_on`, in the run-in and vehicle-controlled phases;
  a completed diary cancels that evening's pending prompts (`cancel_done_diary_prompts`);
- the 12-hour prompt at first application + `h12_prompt_after_hours` (elapsed time);
- a visit reminder `visit_reminder_days_before` (1) day before each visit of `visit_weeks`,
  at `visit_reminder_time`: the actual date when staff recorded one, else nominal study
  day 7w + 1;
- in the long-term phase, the weekly lesion check-in on `lesion_checkin_weekday` at
  `lesion_checkin_time` through Week `long_term_end_week`, and the stop-treatment prompt
  at `stop_prompt_time` on D + `stop_treatment_after_days` after a clearance on D
  (diaries/protocol/cycles.py: withheld once a recurrence is reported on or before that day).

The diary prompt, its reminder and the 12-hour prompt are protocol-timed. Everything else
falling in quiet hours moves to their end (08:00). Withdrawn and completed participants get
no plan (their pending prompts are cancelled); opted-out ones keep theirs and dispatch skips
them, so START resumes at once. Times are wall-clock readings through zoneinfo
(`windows.wall_clock`): a 19:00 prompt stays at 19:00 across DST changes, and a time in a
spring-forward gap fires when the clock jumps past it.

Rows are planned over a rolling horizon (HORIZON, two days) by a daily task, and again by a
task after every participant change (notifications.tasks.replan_participant), never as
Celery ETA tasks. The service is bulk and idempotent:
missing rows are inserted (ON CONFLICT DO NOTHING on the slot key), pending rows that no
longer apply are cancelled, moved ones re-timed. Nothing it does touches a row that is
no longer pending, except reviving one it cancelled itself ("no longer planned").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from diaries.models import (
    DiaryRecord,
    Instrument,
    Participant,
    Phase,
    Study,
    Timepoint,
    TreatmentEvent,
    Visit,
)
from diaries.protocol import cycles, windows
from diaries.protocol.study_config import StudyConfig
from notifications.models import PromptKind, PromptStatus, ScheduledPrompt

HORIZON = timedelta(days=2)
# How far back a re-plan still recognises its own prompts: a prompt deferred out of quiet
# hours (at most a night) must still match the plan it came from, or it would be cancelled.
LOOKBACK = timedelta(days=1)
REPLANNED = "no longer planned"  # the reason prefix of rows the planner cancelled (it may revive them)
DIARY_PHASES = frozenset({Phase.RUNIN, Phase.VEHICLE_CONTROLLED})
PLANNED_PHASES = frozenset({Phase.RUNIN, Phase.VEHICLE_CONTROLLED, Phase.LONG_TERM})
PROTOCOL_TIMED = frozenset({PromptKind.DIARY, PromptKind.REMINDER, PromptKind.H12})
# Prompts worth creating after their time has passed, until they expire: Day 1 recorded
# after +12 h but within the H12 window, a visit date entered after the reminder's hour, a
# stop day reached while the planner was down.
LATE_OK = frozenset({PromptKind.H12, PromptKind.VISIT_REMINDER, PromptKind.STOP_TREATMENT})


# --- the rules, pure --------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the planner needs to know about one participant (read in bulk by the service)."""

    participant_id: object
    zone: str
    phase: str
    runin_start: date
    first_application_at: datetime | None = None
    discontinued_on: date | None = None
    visits: dict[int, date] = field(default_factory=dict)  # week -> actual visit date
    cycles: tuple[cycles.Cycle, ...] = ()
    day1: date | None = field(init=False, default=None)

    def __post_init__(self):
        if self.first_application_at is not None:  # computed once: every rule below needs it
            object.__setattr__(self, "day1", windows.day1(self.first_application_at, self.zone))


@dataclass(frozen=True)
class Planned:
    kind: str
    slot: str
    due_at: datetime  # UTC
    diary_date: date | None  # the diary date; the visit date; the check-in or stop day; Day 1 for H12


@cache
def _pin_zone(zone: str) -> ZoneInfo:
    """Keep a strong reference: ZoneInfo caches only 8 zones strongly, and re-reading a tz file
    for each of 100,000 participants spread over 20 zones cost seconds per plan."""
    return ZoneInfo(zone)


@lru_cache(maxsize=200_000)
def _at(d: date, t: time, zone: str) -> datetime:
    """windows.wall_clock, memoised: 100,000 participants share a few zones and dates."""
    return windows.wall_clock(d, t, zone)


def in_quiet_hours(local_time: time, rules: StudyConfig) -> bool:
    start, end = rules.quiet_hours_start, rules.quiet_hours_end
    if start <= end:
        return start <= local_time < end
    return local_time >= start or local_time < end  # the usual case: across midnight


def out_of_quiet_hours(instant: datetime, zone: str, rules: StudyConfig) -> datetime:
    """The instant itself, or the end of the quiet hours it falls in (08:00 local)."""
    t = windows.local(instant, zone)
    if not in_quiet_hours(t.time(), rules):
        return instant
    end = rules.quiet_hours_end
    day = t.date() if t.time() < end else t.date() + timedelta(days=1)
    return _at(day, end, zone)


def last_diary_date(facts: Facts, rules: StudyConfig) -> date | None:
    """The last evening of the daily diary: Day 56 (or the discontinuation date); None: open-ended run-in."""
    last = None
    if facts.day1 is not None:
        last = windows.date_of_study_day(7 * rules.vehicle_controlled_weeks, facts.day1)
    if facts.discontinued_on is not None:
        last = min(last, facts.discontinued_on) if last else facts.discontinued_on
    return last


def visit_dates(facts: Facts, rules: StudyConfig) -> dict[int, date]:
    """Each visit's date: the one staff recorded, else nominal study day 7w + 1."""
    out = {}
    for week in rules.visit_weeks:
        if week in facts.visits:
            out[week] = facts.visits[week]
        elif facts.day1 is not None:
            out[week] = windows.date_of_study_day(7 * week + 1, facts.day1)
    return out


def expires_at(kind: str, diary_date: date | None, facts: Facts, rules: StudyConfig) -> datetime | None:
    """After this instant a prompt is pointless and dispatch skips it (a late tick, a long outage)."""
    zone = facts.zone
    if kind in (PromptKind.DIARY, PromptKind.REMINDER):
        window = windows.Window.of(rules)
        return windows.window_bounds(diary_date, zone, window)[1]
    if kind == PromptKind.H12:
        if facts.first_application_at is None:
            return None
        return windows.h12_window(facts.first_application_at, rules).closes
    if kind == PromptKind.VISIT_REMINDER:
        return _at(diary_date, time(0, 0), zone)  # "your visit is tomorrow" is wrong on the day
    if kind in (PromptKind.LESION_CHECKIN, PromptKind.STOP_TREATMENT):
        return _at(diary_date + timedelta(days=2), time(0, 0), zone)  # still right the next day
    return None


def planned_prompts(facts: Facts, rules: StudyConfig, start: datetime, end: datetime) -> list[Planned]:
    """Every prompt this participant should have with due_at in [start, end), UTC."""
    if facts.phase not in PLANNED_PHASES:
        return []
    zone = facts.zone
    first = windows.local(start, zone).date() - timedelta(days=1)
    last = windows.local(end, zone).date() + timedelta(days=1)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    out: list[Planned] = []

    def add(kind, slot, due, diary_date):
        if start <= due < end:
            out.append(Planned(kind, slot, due, diary_date))

    if facts.phase in DIARY_PHASES:
        final = last_diary_date(facts, rules)
        for d in days:
            if d < facts.runin_start or (final is not None and d > final):
                continue
            slot = d.isoformat()
            add(PromptKind.DIARY, slot, _at(d, rules.diary_prompt, zone), d)
            add(PromptKind.REMINDER, slot, _at(d, rules.diary_reminder, zone), d)
    if facts.first_application_at is not None:
        add(PromptKind.H12, "h12", windows.h12_window(facts.first_application_at, rules).prompt_at, facts.day1)
    visits = visit_dates(facts, rules)
    for week, visit_on in visits.items():
        if facts.discontinued_on is not None and visit_on > facts.discontinued_on:
            continue
        remind_on = visit_on - timedelta(days=rules.visit_reminder_days_before)
        if first <= remind_on <= last:
            due = out_of_quiet_hours(_at(remind_on, rules.visit_reminder_time, zone), zone, rules)
            add(PromptKind.VISIT_REMINDER, f"week-{week}", due, visit_on)
    if facts.phase == Phase.LONG_TERM:
        end_visit = visits.get(rules.long_term_end_week)
        if end_visit is None and facts.day1 is not None:
            end_visit = windows.date_of_study_day(7 * rules.long_term_end_week + 1, facts.day1)
        for d in days:
            if d.isoweekday() != rules.lesion_checkin_weekday or (end_visit is not None and d > end_visit):
                continue
            due = out_of_quiet_hours(_at(d, rules.lesion_checkin_time, zone), zone, rules)
            add(PromptKind.LESION_CHECKIN, d.isoformat(), due, d)
        for cycle in facts.cycles:
            if cycle.stop_prompt_due and first <= cycle.stop_on <= last:
                due = out_of_quiet_hours(_at(cycle.stop_on, rules.stop_prompt_time, zone), zone, rules)
                add(PromptKind.STOP_TREATMENT, f"clear:{cycle.cleared_event}", due, cycle.stop_on)
    return out


# --- the service -----------------------------------------------------------------------


@dataclass
class PlanStats:
    participants: int = 0
    created: int = 0
    retimed: int = 0
    cancelled: int = 0
    revived: int = 0

    def __iadd__(self, other: PlanStats) -> PlanStats:
        for name in ("participants", "created", "retimed", "cancelled", "revived"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


FACT_FIELDS = ("id", "study_id", "zone", "phase", "runin_start", "first_application_at", "discontinued_on")


def plan_prompts(
    *, participant_ids: Iterable | None = None, now: datetime | None = None, horizon: timedelta = HORIZON,
    batch_size: int = 2000,
) -> PlanStats:
    """Bring the prompts of these participants (default: everyone) in line with the rules; idempotent."""
    now = now or timezone.now()
    stats = PlanStats()
    base = Participant.objects.order_by("pk").values_list(*FACT_FIELDS)
    if participant_ids is not None:
        ids = list(participant_ids)
        for i in range(0, len(ids), batch_size):
            stats += _plan_batch(list(base.filter(pk__in=ids[i : i + batch_size])), now, horizon)
        return stats
    # Everyone: the ended first, in one statement (they have no plan), then the rest in pk order.
    stats.cancelled += (
        ScheduledPrompt.objects.filter(status=PromptStatus.PENDING)
        .exclude(participant__phase__in=PLANNED_PHASES)
        .update(status=PromptStatus.CANCELLED, reason=f"{REPLANNED}: participant ended", updated_at=now)
    )
    active = base.filter(phase__in=PLANNED_PHASES)
    last = None
    while True:
        rows = list((active.filter(pk__gt=last) if last else active)[:batch_size])
        if not rows:
            return stats
        stats += _plan_batch(rows, now, horizon, id_range=(rows[0][0], rows[-1][0]))
        last = rows[-1][0]


def _plan_batch(rows: list[tuple], now: datetime, horizon: timedelta, id_range: tuple | None = None) -> PlanStats:
    stats = PlanStats(participants=len(rows))
    if not rows:
        return stats
    ids = [r[0] for r in rows]
    # Everyone's plan runs in pk order: a pk range is one index range scan, where an IN list of
    # 2,000 UUIDs costs quoting and planning time on every query.
    in_batch = Q(participant_id__gte=id_range[0], participant_id__lte=id_range[1]) if id_range else Q(
        participant_id__in=ids)
    for r in rows:
        _pin_zone(r[2])
    visits: dict[object, dict[int, date]] = defaultdict(dict)
    for pid, week, visit_on in Visit.objects.filter(in_batch).values_list(
        "participant_id", "week", "visit_date"
    ):
        visits[pid][week] = visit_on
    long_term = [r[0] for r in rows if r[3] == Phase.LONG_TERM]
    events: dict[object, list[cycles.Event]] = defaultdict(list)
    if long_term:
        events_of = TreatmentEvent.objects.filter(in_batch) if id_range else TreatmentEvent.objects.filter(
            participant_id__in=long_term)
        for eid, pid, kind, on, at, sup in events_of.values_list(
            "id", "participant_id", "kind", "event_date", "reported_at", "supersedes_id"
        ):
            events[pid].append(cycles.Event(str(eid), kind, on, at, str(sup) if sup else None))
    # The rows the plan may change: pending ones, and those it cancelled itself and may revive.
    existing: dict[object, dict[tuple, tuple]] = defaultdict(dict)
    # A push's SMS fallback shares its prompt's slot and is the tick's, not the plan's: left alone here.
    for pk, pid, kind, slot, due, status, diary_date in ScheduledPrompt.objects.filter(
        in_batch, fallback_of__isnull=True
    ).filter(
        Q(status=PromptStatus.PENDING)
        | Q(status=PromptStatus.CANCELLED, reason__startswith=REPLANNED, due_at__gte=now - LOOKBACK)
    ).values_list("pk", "participant_id", "kind", "slot", "due_at", "status", "diary_date"):
        existing[pid][(kind, slot)] = (pk, due, status, diary_date)
    rules_of = rules_by_study({r[1] for r in rows})

    to_create: list[tuple] = []
    retime: dict[int, Planned] = {}
    revive: dict[int, Planned] = {}
    cancel: list[int] = []
    end = now + horizon
    for pid, study_id, zone, phase, runin_start, first_at, discontinued_on in rows:
        rules = rules_of[study_id]
        facts = Facts(pid, zone, phase, runin_start, first_at, discontinued_on, visits.get(pid, {}), ())
        if phase == Phase.LONG_TERM and events.get(pid):
            facts = Facts(pid, zone, phase, runin_start, first_at, discontinued_on, visits.get(pid, {}),
                          tuple(cycles.derive_cycles(events[pid], stop_after_days=rules.stop_treatment_after_days)))
        mine = existing.get(pid, {})
        # Far enough to judge every pending row of this participant, even one beyond the horizon.
        until = max([end] + [row[1] + timedelta(seconds=1) for row in mine.values() if row[2] == PromptStatus.PENDING])
        wanted = {(p.kind, p.slot): p for p in planned_prompts(facts, rules, now - LOOKBACK, until)}
        for key, p in wanted.items():
            row = mine.get(key)
            fresh = p.due_at >= now
            if row is None:
                late_ok = p.kind in LATE_OK and now < expires_at(p.kind, p.diary_date, facts, rules)
                if p.due_at < end and (fresh or late_ok):
                    to_create.append((pid, p.kind, p.slot, p.diary_date, p.due_at))
            elif row[2] == PromptStatus.CANCELLED:
                if fresh and p.due_at < end:
                    revive[row[0]] = p
            elif fresh and (row[1], row[3]) != (p.due_at, p.diary_date):
                # Moved (a visit date entered, a configuration change). A row deferred out of
                # quiet hours keeps its later time: its plan lies in the past.
                retime[row[0]] = p
        for key, (pk, due, status, _) in mine.items():
            if status == PromptStatus.PENDING and key not in wanted and due >= now - LOOKBACK:
                cancel.append(pk)
    with transaction.atomic():
        if to_create:
            stats.created = insert_prompts(to_create, now)
        pending = ScheduledPrompt.objects.filter(status=PromptStatus.PENDING)
        if cancel:
            stats.cancelled = pending.filter(pk__in=cancel).update(
                status=PromptStatus.CANCELLED, reason=f"{REPLANNED}: the plan changed", updated_at=now
            )
        if retime:
            stats.retimed = pending.filter(pk__in=list(retime)).update(
                due_at=_case(retime, "due_at"), diary_date=_case(retime, "diary_date"), updated_at=now
            )
        if revive:
            stats.revived = ScheduledPrompt.objects.filter(
                pk__in=list(revive), status=PromptStatus.CANCELLED, reason__startswith=REPLANNED
            ).update(status=PromptStatus.PENDING, due_at=_case(revive, "due_at"),
                     diary_date=_case(revive, "diary_date"), reason="", updated_at=now)
    return stats


def insert_prompts(rows: list[tuple], now: datetime) -> int:
    """Insert (participant_id, kind, slot, diary_date, due_at) rows, skipping slots that exist.

    ON CONFLICT DO NOTHING on the slot key, so a concurrent plan or a prompt already sent,
    skipped or cancelled for cause is left alone. On PostgreSQL one INSERT ... SELECT FROM
    unnest(arrays) per batch: bulk_create spends about 200 us a row building and quoting
    its VALUES list, which was half the time of planning 100,000 participants. Returns the
    rows inserted (PostgreSQL) or attempted (elsewhere).
    """
    if connection.vendor != "postgresql":
        objs = [ScheduledPrompt(participant_id=pid, kind=kind, slot=slot, diary_date=d, due_at=due,
                                created_at=now, updated_at=now) for pid, kind, slot, d, due in rows]
        return len(ScheduledPrompt.objects.bulk_create(objs, ignore_conflicts=True, batch_size=2000))
    table = ScheduledPrompt._meta.db_table
    sql = (
        f"INSERT INTO {table} (participant_id, kind, slot, diary_date, due_at, status, reason, created_at, updated_at)"
        " SELECT t.p, t.k, t.s, t.d, t.due, %s, '', %s, %s"
        " FROM unnest(%s::uuid[], %s::varchar[], %s::varchar[], %s::date[], %s::timestamptz[]) AS t(p, k, s, d, due)"
        " ON CONFLICT (participant_id, kind, slot) WHERE fallback_of_id IS NULL DO NOTHING"
    )
    inserted = 0
    with connection.cursor() as cursor:
        for i in range(0, len(rows), 20_000):
            chunk = rows[i : i + 20_000]
            cursor.execute(sql, [PromptStatus.PENDING, now, now, *(list(col) for col in zip(*chunk, strict=True))])
            inserted += cursor.rowcount
    return inserted


def _case(planned: dict[int, Planned], name: str) -> Case:
    """One UPDATE for many rows: CASE id WHEN ... THEN the planned value of this field."""
    return Case(*(When(pk=pk, then=Value(getattr(p, name))) for pk, p in planned.items()),
                output_field=ScheduledPrompt._meta.get_field(name))


def rules_by_study(study_ids) -> dict[object, StudyConfig]:
    return {s.pk: s.rules for s in Study.objects.filter(pk__in=study_ids)}


def plan_participant(*, participant: Participant, now: datetime | None = None) -> PlanStats:
    """Re-plan one participant (enrollment, Day 1, phase, consent, visit or treatment change)."""
    stats = plan_prompts(participant_ids=[participant.pk], now=now)
    if participant.phase not in PLANNED_PHASES:
        stats.cancelled += ScheduledPrompt.objects.filter(
            participant_id=participant.pk, status=PromptStatus.PENDING
        ).update(status=PromptStatus.CANCELLED, reason=f"{REPLANNED}: participant {participant.phase}",
                 updated_at=now or timezone.now())
    return stats


# --- after a diary is done (registered in apps.py, runs right after the diary commits) -------


def cancel_done_diary_prompts(record: DiaryRecord, day: dict[str, DiaryRecord] | None = None) -> int:
    """A complete evening diary (itch and every sleep item) cancels that date's pending prompts.

    `day`: the date's current daily records as the writer read them under the participant's
    lock (the SMS path); without it they are queried.
    """
    if record.timepoint != Timepoint.DAILY:
        return 0
    rules = record.participant.study.rules
    items = len(rules.instrument(Instrument.PROMIS_SD8B).items)
    if record.instrument == Instrument.PROMIS_SD8B and len(record.answers) < items:
        return 0  # sleep answered one item at a time: not complete yet, no query needed (the hot path)
    if day is None:
        day = {r.instrument: r for r in DiaryRecord.objects.current().filter(
            participant_id=record.participant_id, timepoint=Timepoint.DAILY, diary_date=record.diary_date)}
    answered = {code: len(r.answers) for code, r in day.items()}
    if Instrument.ITCH_NRS not in answered or answered.get(Instrument.PROMIS_SD8B, 0) < items:
        return 0
    return ScheduledPrompt.objects.filter(
        participant_id=record.participant_id, kind__in=[PromptKind.DIARY, PromptKind.REMINDER],
        slot=record.diary_date.isoformat(), status=PromptStatus.PENDING,
    ).update(status=PromptStatus.CANCELLED, reason="diary completed", updated_at=timezone.now())
