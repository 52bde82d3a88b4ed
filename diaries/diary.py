"""The one door every channel uses to submit a diary: SMS, web, app, the simulator.

`submit_diary` validates the answers once, against the study configuration; finds the
diary date by the window rules, in the participant's zone, from the server's clock;
saves every instrument or none; recognises a repeat; and audits a refused attempt once,
in one shape whatever the channel (`diary.refused`: channel, timepoint, reason code,
next opening, the answers as given). Diary answers are append-only: a correction is a
new record that supersedes the current one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from diaries import alerts, audit
from diaries.protocol import offline as offline_rule
from diaries.protocol import scoring, windows
from diaries.protocol.study_config import StudyConfig

from .errors import DiaryNotOpen, InvalidAnswer, OutsideWindow, ServiceError
from .models import AlertKind, Channel, DiaryRecord, Participant, Phase, Timepoint
from .participants import locked_participant

# Run after a diary record commits (notifications cancels that evening's reminders):
# the core calls what the channels registered and imports none of them. Each hook gets the
# record and the date's current daily records as read under the participant's lock with this
# write in them (instrument -> record), or None when the writer did not read them (the hook
# queries them itself).
after_answer_hooks: list[Callable[[DiaryRecord, dict[str, DiaryRecord] | None], None]] = []

PATIENT_CHANNELS = frozenset({Channel.SMS, Channel.WEB, Channel.APP})


class Reason:
    """Why a submission was refused: the codes the channels show and the audit trail keeps."""

    OUTSIDE_WINDOW = "outside_window"
    DIARY_NOT_OPEN = "diary_not_open"
    INVALID_ANSWER = "invalid_answer"
    CLOCK_OFF = "clock_off"  # an offline capture from a device whose clock is further off than the study allows
    NEWER_ANSWER = "newer_answer"  # an offline capture older than the answer already current for its date


@dataclass(frozen=True)
class OfflineCapture:
    """What the app says about a diary it captured without a connection: both times by the device's clock."""

    device_captured_at: datetime
    device_time_at_upload: datetime


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the answers: `field` as the app API names it (`answers.3`, `timepoint`)."""

    instrument: str
    field: str
    code: str  # unknown_instrument, not_collected, unknown_item, out_of_range, not_a_whole_number, required
    message: str


@dataclass(frozen=True)
class Recorded:
    """The current record of each instrument submitted; `written` are the new ones (none: a repeat)."""

    diary_date: date
    records: list[DiaryRecord]
    written: list[DiaryRecord]

    @property
    def repeat(self) -> bool:
        return not self.written

    @property
    def corrected(self) -> bool:
        return any(r.supersedes_id for r in self.written)


@dataclass(frozen=True)
class Refused:
    """Nothing was recorded; the attempt is in the audit trail once."""

    reason: str
    message: str
    next_opens_at: datetime | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class LockedDiary:
    """A participant row-locked in the caller's transaction, with their current daily records of one date.

    The SMS path reads these once for the chatbot's context and hands them to
    `submit_diary`, which then neither locks nor reads them again; the records are kept
    up to date as answers are written, so a second answer in the same text supersedes
    the first.
    """

    participant: Participant
    diary_date: date | None
    records: dict[str, DiaryRecord] = field(default_factory=dict)


def lock_diary(participant: Participant, diary_date: date | None) -> LockedDiary:
    """The current daily records of `diary_date` for a participant the caller has row-locked.

    One query without a subquery: a date holds a handful of records (one more per
    answer), and the current ones are those no other record of the date supersedes.
    """
    if not transaction.get_connection().in_atomic_block:
        raise ServiceError("lock_diary needs the caller's transaction and its row lock on the participant")
    if diary_date is None:
        return LockedDiary(participant, None)
    # order_by(): the model's default ordering joins the participant table for nothing here.
    rows = list(DiaryRecord.objects.filter(participant=participant, timepoint=Timepoint.DAILY,
                                           diary_date=diary_date).order_by())
    superseded = {r.supersedes_id for r in rows}
    current = {}
    for r in sorted((r for r in rows if r.pk not in superseded), key=lambda r: r.submitted_at):
        current[r.instrument] = r
    return LockedDiary(participant, diary_date, current)


def current_record(participant: Participant, instrument: str, timepoint: str, diary_date: date | None):
    qs = DiaryRecord.objects.current().filter(participant=participant, instrument=instrument, timepoint=timepoint)
    if diary_date is not None:
        qs = qs.filter(diary_date=diary_date)
    return qs.order_by("-submitted_at").first()


def diary_date_for(p: Participant, timepoint: str, at: datetime) -> date:
    """Where a patient's answer at this instant belongs; raises OutsideWindow or DiaryNotOpen."""
    rules = p.study.rules
    if p.phase in (Phase.COMPLETED, Phase.WITHDRAWN):
        raise DiaryNotOpen("the diary is closed for this participant")
    if timepoint == Timepoint.H12:
        if p.first_application_at is None:
            raise DiaryNotOpen("the 12-hour assessment opens after the first application")
        window = windows.h12_window(p.first_application_at, rules)
        if not window.is_open(at):
            raise OutsideWindow("the 12-hour assessment is not open now",
                                next_opens_at=window.opens if at < window.opens else None)
        return p.day1
    if p.phase == Phase.LONG_TERM:
        raise DiaryNotOpen("the daily diary ends with the vehicle-controlled period")
    d = windows.diary_date(at, p.zone, windows.Window.of(rules))
    if d < p.runin_start:
        raise DiaryNotOpen(f"the diary starts on {p.runin_start.isoformat()}")
    if p.discontinued_on and d > p.discontinued_on:
        raise DiaryNotOpen("the diary is closed for this participant")
    return d


def next_opening(p: Participant, timepoint: str, at: datetime) -> datetime | None:
    """When the diary opens next after this instant, if it will: for a refusal and for "what is open now".

    One answer for every channel (the web's refusal page, the app's 409 and its "today").
    """
    rules = p.study.rules
    if p.phase in (Phase.COMPLETED, Phase.WITHDRAWN):
        return None
    if timepoint == Timepoint.H12:
        if p.first_application_at is None:
            return None
        window = windows.h12_window(p.first_application_at, rules)
        return window.opens if at < window.opens else None
    if p.phase not in (Phase.RUNIN, Phase.VEHICLE_CONTROLLED):
        return None
    window = windows.Window.of(rules)
    if windows.local(at, p.zone).date() < p.runin_start:
        return windows.wall_clock(p.runin_start, window.opens, p.zone)
    opens = windows.next_window_opens(at, p.zone, window)
    if p.discontinued_on and windows.local(opens, p.zone).date() > p.discontinued_on:
        return None  # no diary after the discontinuation date
    return opens


def answer_problems(rules: StudyConfig, timepoint: str, answers: dict[str, dict], *, partial: bool) -> list[Problem]:
    """Every problem of the answers against the study configuration, each naming its field.

    `answers` maps instrument to {item number: option as shown}; item numbers may come as
    strings (JSON keys). Without `partial`, every item of an instrument needs an answer.
    """
    problems = []
    if not answers:
        return [Problem("", "answers", "required", "No answer given.")]
    for code, given in answers.items():
        if code not in rules.instruments:
            problems.append(Problem(code, "instrument", "unknown_instrument", f"Unknown instrument {code!r}."))
            continue
        inst = rules.instrument(code)
        if timepoint not in inst.timepoints:
            problems.append(Problem(code, "timepoint", "not_collected",
                                    f"{code} is collected at {', '.join(inst.timepoints)}."))
            continue
        items = {it.number: it for it in inst.items}
        seen = set()
        for key, option in given.items():
            number = _item_number(key)
            item = items.get(number)
            name = f"answers.{key}"
            if item is None:
                problems.append(Problem(code, name, "unknown_item", f"{code} has items {min(items)}..{max(items)}."))
            elif isinstance(option, bool) or not isinstance(option, int):
                problems.append(Problem(code, name, "not_a_whole_number", "The answer must be a whole number."))
            elif option not in item.choices:
                problems.append(Problem(code, name, "out_of_range",
                                        f"Must be a whole number {item.choices.start}..{item.choices.stop - 1}."))
            else:
                seen.add(number)
        if not given and partial:
            problems.append(Problem(code, "answers", "required", "No answer given."))
        if not partial:
            # A diary is answered whole: a correction must not drop items.
            problems += [Problem(code, f"answers.{n}", "required", "Every item needs an answer.")
                         for n in sorted(set(items) - seen - {_item_number(k) for k in given})]
    return problems


def _item_number(key) -> int | None:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 4:
        return int(key)
    return None


def submit_diary(
    *,
    participant: Participant,
    channel: str,
    timepoint: str,
    answers: dict[str, dict],
    at: datetime,
    partial: bool = False,
    locked: LockedDiary | None = None,
    offline: OfflineCapture | None = None,
) -> Recorded | Refused:
    """A patient's diary, stamped with server time: every instrument recorded, or none and one refusal.

    `answers`: {instrument: {item number: option as shown}} (for PROMIS items 2, 3, 7 and
    8 the stored score is reversed). `partial` (SMS, item by item) adds the answers to
    the current record of the same date instead of requiring every item. Identical
    answers again while the window is open are a repeat: nothing is written. `locked` is
    the caller's `lock_diary` (the SMS path): the participant is already row-locked and
    the current records read in the caller's transaction.

    `offline` (the app): the diary was captured earlier without a connection; `at` is the
    receipt time. The capture time, corrected by the device's clock offset, dates the
    diary and becomes its `submitted_at`; the receipt time and the offset are kept beside
    it (`diaries.protocol.offline`: grace period, clock limit).
    """
    if channel not in PATIENT_CHANNELS:
        raise ServiceError(f"patients answer by sms, web or app, not {channel!r}")
    if locked is None:
        with transaction.atomic():
            return _submit(locked_participant(participant), channel, timepoint, answers, at, partial, None, offline)
    if not transaction.get_connection().in_atomic_block:
        raise ServiceError("a LockedDiary is only valid inside the transaction that locked it")
    if locked.participant.pk != participant.pk:
        raise ServiceError("the LockedDiary belongs to another participant")
    # No savepoint of our own: everything that can refuse the diary is decided before the first write.
    return _submit(locked.participant, channel, timepoint, answers, at, partial, locked)


def _submit(p: Participant, channel: str, timepoint: str, answers: dict[str, dict], at: datetime, partial: bool,
            locked: LockedDiary | None, offline: OfflineCapture | None = None) -> Recorded | Refused:
    rules = p.study.rules
    problems = answer_problems(rules, timepoint, answers, partial=partial)
    if problems:
        return refuse_diary(participant=p, channel=channel, timepoint=timepoint, answers=answers, at=at,
                            reason=Reason.INVALID_ANSWER, message=problems[0].message, problems=problems)
    capture = None
    try:
        if offline is not None:
            capture = _offline_capture(p, timepoint, offline, at)
        d = diary_date_for(p, timepoint, capture.captured_at if capture else at)
    except offline_rule.ClockOff as exc:
        return _refuse_clock_off(p, channel, timepoint, answers, at, exc)
    except offline_rule.CapturedLater as exc:
        return refuse_diary(participant=p, channel=channel, timepoint=timepoint, answers=answers, at=at,
                            reason=Reason.OUTSIDE_WINDOW, message=str(exc))
    except (OutsideWindow, DiaryNotOpen) as exc:
        reason = Reason.OUTSIDE_WINDOW if isinstance(exc, OutsideWindow) else Reason.DIARY_NOT_OPEN
        return refuse_diary(participant=p, channel=channel, timepoint=timepoint, answers=answers, at=at,
                            reason=reason, message=str(exc))
    from_lock = locked is not None and timepoint == Timepoint.DAILY and d == locked.diary_date
    stamp = capture.captured_at if capture else at
    previous_of = {code: locked.records.get(code) if from_lock else current_record(p, code, timepoint, d)
                   for code in answers}
    if capture and (newer := [r for r in previous_of.values() if r is not None and r.submitted_at > stamp]):
        # An answer given later (on any channel) stays current: an older capture must not replace it.
        return refuse_diary(participant=p, channel=channel, timepoint=timepoint, answers=answers, at=at,
                            reason=Reason.NEWER_ANSWER, message=f"A newer answer for {d.isoformat()} was already "
                            f"recorded ({newer[0].channel}); this one, captured earlier, is not kept.")
    records, written = [], []
    for code, given in answers.items():
        previous = previous_of[code]
        options = {_item_number(k): v for k, v in given.items()}
        if partial and previous is not None:
            options = {a["item"]: a["option"] for a in previous.answers} | options
        scored = score(rules, code, options)
        if previous is not None and previous.answers == scored:
            records.append(previous)  # a repeat: the same answers are already current
            continue
        record = DiaryRecord.objects.create(
            participant=p, instrument=code, timepoint=timepoint, diary_date=d, answers=scored,
            derived=scoring.derived_scores(code, scored), channel=channel, submitted_at=stamp, supersedes=previous,
            received_at=capture.received_at if capture else None,
            clock_offset_s=capture.clock_offset.total_seconds() if capture else None,
        )
        after = {"instrument": code, "timepoint": timepoint, "diary_date": d, "answers": scored, "channel": channel}
        if capture:
            after |= {"offline": True, "captured_at": capture.captured_at, "received_at": capture.received_at,
                      "clock_offset_s": capture.clock_offset.total_seconds()}
        audit.log(
            actor=p, action="diary.answer" if previous is None else "diary.supersede", obj=record,
            before={"record": previous.pk, "answers": previous.answers} if previous else None,
            after=after, at=at,
        )
        if from_lock:
            locked.records[code] = record
        records.append(record)
        written.append(record)
    day = dict(locked.records) if from_lock else None
    for record in written:
        _after_commit(record, day)
    return Recorded(diary_date=d, records=records, written=written)


def _offline_capture(p: Participant, timepoint: str, offline: OfflineCapture, at: datetime):
    """The corrected capture by the study's [offline] rules; raises ClockOff, CapturedLater, OutsideWindow."""
    rules = p.study.rules
    limits = {"grace": timedelta(hours=rules.offline_grace_hours),
              "max_clock_offset": timedelta(minutes=rules.max_clock_offset_minutes)}
    times = {"device_captured_at": offline.device_captured_at,
             "device_time_at_upload": offline.device_time_at_upload, "received_at": at}
    if timepoint == Timepoint.H12:
        if p.first_application_at is None:
            raise DiaryNotOpen("the 12-hour assessment opens after the first application")
        return offline_rule.h12_capture(**times, h12=windows.h12_window(p.first_application_at, rules), **limits)
    return offline_rule.daily_capture(**times, zone=p.zone, window=windows.Window.of(rules), **limits)


def _refuse_clock_off(p: Participant, channel: str, timepoint: str, answers: dict, at: datetime,
                      exc: offline_rule.ClockOff) -> Refused:
    """Never silently corrected: refused, and the site told (a clock that far off may be set by hand)."""
    refused = refuse_diary(participant=p, channel=channel, timepoint=timepoint, answers=answers, at=at,
                           reason=Reason.CLOCK_OFF, message=str(exc))
    offset_min = round(exc.offset.total_seconds() / 60)
    alerts.raise_alert(participant=p, kind=AlertKind.CLOCK_OFF, key=f"clock:{p.pk}:{at:%Y%m%dT%H%M%S}",
                       detail=f"A diary captured offline was refused: the app device's clock is off by {offset_min:+d} "
                              f"minutes (limit {exc.limit.total_seconds() / 60:.0f}). Ask the patient to set the "
                              "phone's time automatically.")
    return refused


def refuse_diary(*, participant: Participant, channel: str, timepoint: str, answers: dict, at: datetime,
                 reason: str, message: str, problems: list[Problem] | None = None) -> Refused:
    """Audit a refused attempt once, in the one shape every channel shares; nothing else is written.

    ENDPOINTS.md section 1: a refused submission is never diary data, but the attempt is
    kept in the log. Also for a channel that refuses before it can submit (the chatbot
    re-asking an out-of-range number, a text outside the window).
    """
    nxt = next_opening(participant, timepoint, at) if reason != Reason.INVALID_ANSWER else None
    given = {code: {str(k): v for k, v in items.items()} for code, items in answers.items()}
    audit.log(actor=participant, action="diary.refused", obj=participant, at=at, after={
        "channel": channel, "timepoint": timepoint, "reason": reason, "message": message, "next_opens_at": nxt,
        "answers": given,
    })
    return Refused(reason=reason, message=message, next_opens_at=nxt, problems=problems or [])


def score(rules: StudyConfig, instrument: str, options: dict[int, int]) -> list[dict]:
    """The stored answers of one record: item, option as shown, score (reversed where the instrument says), label."""
    inst = rules.instrument(instrument)
    out = []
    for number, option in sorted(options.items()):
        try:
            item = inst.item(number)
            value = item.score_of(option)
        except (KeyError, ValueError) as exc:
            raise InvalidAnswer(f"{instrument} item {number}: {option!r} is not an answer") from exc
        out.append({"item": item.number, "option": option, "score": value, "label": item.label_of(option, "en")})
    return out


@transaction.atomic
def correct_record(*, record: DiaryRecord, answers: dict[int, int], user: Any, reason: str) -> DiaryRecord:
    """A site correction: a new record superseding the current one, with who, when and why.

    Only a current record can be corrected (no backfilling of days the patient missed),
    and the original stays in the database and the audit trail.
    """
    if not (reason or "").strip():
        raise ServiceError("a correction needs a reason")
    p = locked_participant(record.participant)
    if DiaryRecord.objects.filter(supersedes=record).exists():
        raise ServiceError("this record was already superseded; correct the current one")
    merged = {a["item"]: a["option"] for a in record.answers} | {int(k): v for k, v in answers.items()}
    problems = answer_problems(p.study.rules, record.timepoint, {record.instrument: merged}, partial=True)
    if problems:
        raise InvalidAnswer(problems[0].message)
    scored = score(p.study.rules, record.instrument, merged)
    new = DiaryRecord.objects.create(
        participant=p, instrument=record.instrument, timepoint=record.timepoint, diary_date=record.diary_date,
        answers=scored, derived=scoring.derived_scores(record.instrument, scored), channel=Channel.SITE,
        submitted_at=timezone.now(), supersedes=record, entered_by=user, reason=reason.strip(),
    )
    audit.log(actor=user, action="diary.correct", obj=new,
              before={"record": record.pk, "answers": record.answers},
              after={"record": new.pk, "answers": scored}, reason=reason.strip())
    _after_commit(new, None)
    return new


def _after_commit(record: DiaryRecord, day: dict[str, DiaryRecord] | None) -> None:
    for hook in after_answer_hooks:
        transaction.on_commit(lambda hook=hook: hook(record, day))
