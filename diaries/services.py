"""Every write to diary data goes through here: validate, save, audit, side effects after commit.

Each function is one transaction and leaves one audit event per change. Diary answers
are append-only: a correction is a new record that supersedes the current one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import audit, phones, windows
from .models import (
    Alert,
    AlertKind,
    AlertStatus,
    Channel,
    Consent,
    DiaryRecord,
    Instrument,
    Participant,
    Phase,
    Site,
    Study,
    Timepoint,
    TreatmentEvent,
    TreatmentEventKind,
    Visit,
)
from .study_config import StudyConfig, parse_study_config
from .windows import OutsideWindow

__all__ = ["OutsideWindow", "ServiceError", "InvalidAnswer", "DiaryNotOpen"]

# Hooks other apps register to run after a commit (e.g. notifications cancels reminders
# once a diary is done). Kept as a list so diaries never imports notifications.
after_answer_hooks: list[Callable[[DiaryRecord], None]] = []
after_participant_change_hooks: list[Callable[[Participant], None]] = []
after_alert_hooks: list[Callable[[Alert], None]] = []
# Clearance, recurrence and stop reports (notifications re-plans the stop prompt).
after_treatment_hooks: list[Callable[[TreatmentEvent], None]] = []


class ServiceError(ValueError):
    """A request that breaks a rule: the caller shows the message, nothing was written."""


class InvalidAnswer(ServiceError):
    pass


class DiaryNotOpen(ServiceError):
    pass


# --- studies ---------------------------------------------------------------------------


@transaction.atomic
def load_study(*, text: str, actor: Any = None) -> tuple[Study, bool]:
    """Create or update a study and its sites from a TOML text; (study, changed). Same text: no-op."""
    rules = parse_study_config(text)
    now = timezone.now()
    study = Study.objects.select_for_update().filter(code=rules.code).first()
    if study and study.config_hash == rules.content_hash:
        return study, False
    if study is None:
        study = Study.objects.create(
            code=rules.code, name=rules.name, config_toml=text, config_hash=rules.content_hash, loaded_at=now
        )
        audit.log(actor=actor, action="study.create", obj=study, after={"config_hash": rules.content_hash})
    else:
        before = {"config_hash": study.config_hash, "name": study.name}
        study.name, study.config_toml, study.config_hash, study.loaded_at = rules.name, text, rules.content_hash, now
        study.save()
        audit.log(
            actor=actor, action="study.update", obj=study, before=before,
            after={"config_hash": rules.content_hash, "name": rules.name},
        )
    for cfg in rules.sites:
        fields = {"name": cfg.name, "country": cfg.country, "zone": cfg.zone, "phone": cfg.phone, "hours": cfg.hours}
        site = Site.objects.filter(study=study, number=cfg.number).first()
        if site is None:
            site = Site.objects.create(study=study, number=cfg.number, **fields)
            audit.log(actor=actor, action="site.create", obj=site, after=fields)
        else:
            before = {k: getattr(site, k) for k in fields}
            if before != fields:
                Site.objects.filter(pk=site.pk).update(**fields)
                audit.log(actor=actor, action="site.update", obj=site, before=before, after=fields)
    return study, True


# --- participants ----------------------------------------------------------------------


def _snapshot(p: Participant) -> dict:
    return {
        "usubjid": p.usubjid,
        "site": p.site.number,
        "zone": p.zone,
        "language": p.language,
        "phase": p.phase,
        "sms_consent": p.sms_consent,
        "runin_start": p.runin_start,
        "first_application_at": p.first_application_at,
        "discontinued_on": p.discontinued_on,
        "age_group": p.age_group,
    }


def _locked(participant: Participant) -> Participant:
    """Re-read the participant under a row lock: writes for one participant never interleave.

    Only the participant's row: FOR UPDATE over the join would lock the study and site
    rows too, serialising every participant of the study and deadlocking with the
    foreign-key checks other transactions make on the study row at commit.
    """
    return Participant.objects.select_for_update(of=("self",)).select_related("site", "study").get(pk=participant.pk)


def _after_commit(hooks: list[Callable], obj) -> None:
    """Run other apps' hooks once this transaction commits (never on a rollback)."""
    for hook in hooks:
        transaction.on_commit(lambda hook=hook: hook(obj))


def _participant_changed(p: Participant):
    _after_commit(after_participant_change_hooks, p)


@transaction.atomic
def enroll_participant(
    *,
    study: Study,
    site_number: str,
    usubjid: str,
    phone: str,
    zone: str,
    language: str,
    runin_start: date,
    actor: Any,
    age_group: str = "18+",
    first_application_at: datetime | None = None,
    phase: str | None = None,
) -> Participant:
    """Enroll one participant; the phone is stored encrypted and must not belong to anyone else."""
    rules = study.rules
    site = Site.objects.filter(study=study, number=site_number).first()
    if site is None:
        raise ServiceError(f"unknown site {site_number!r}")
    if zone not in _zones():
        raise ServiceError(f"unknown time zone {zone!r}")
    if language not in rules.languages:
        raise ServiceError(f"language {language!r} is not one of {', '.join(rules.languages)}")
    try:
        e164 = phones.normalize(phone)
    except phones.InvalidPhone as exc:
        raise ServiceError(str(exc)) from exc
    if Participant.objects.filter(study=study, usubjid=usubjid).exists():
        raise ServiceError(f"subject {usubjid} is already enrolled")
    if Participant.objects.filter(phone_hash=phones.lookup_hash(e164)).exists():
        raise ServiceError("this phone number already belongs to another participant")
    if phase is not None and phase not in Phase.values:
        raise ServiceError(f"unknown phase {phase!r}")
    p = Participant.objects.create(
        study=study,
        site=site,
        usubjid=usubjid,
        phone_encrypted=phones.encrypt(e164),
        phone_hash=phones.lookup_hash(e164),
        zone=zone,
        language=language,
        runin_start=runin_start,
        age_group=age_group,
        phase=phase or Phase.RUNIN,
        enrolled_at=timezone.now(),
    )
    audit.log(actor=actor, action="participant.enroll", obj=p, after=_snapshot(p))
    if first_application_at is not None:
        p = record_first_application(participant=p, at=first_application_at, actor=actor, phase=phase)
    _participant_changed(p)
    return p


@transaction.atomic
def record_first_application(
    *, participant: Participant, at: datetime, actor: Any, reason: str = "", phase: str | None = None
) -> Participant:
    """Day 1: the first application of study cream, which also opens the 12-hour assessment."""
    if timezone.is_naive(at):
        raise ServiceError("the first application time needs its UTC offset")
    p = _locked(participant)
    if p.first_application_at is not None and not reason:
        raise ServiceError("Day 1 is already recorded; changing it needs a reason")
    before = _snapshot(p)
    p.first_application_at = at
    if p.phase == Phase.RUNIN:
        p.phase = phase or Phase.VEHICLE_CONTROLLED
    p.save(update_fields=["first_application_at", "phase"])
    audit.log(actor=actor, action="participant.first_application", obj=p, before=before, after=_snapshot(p),
              reason=reason)
    _participant_changed(p)
    return p


@transaction.atomic
def record_sms_consent(*, participant: Participant, opted_in: bool, actor: Any, source: str) -> Participant:
    """Opt-in or opt-out, honoured at once; earlier data is kept either way."""
    p = _locked(participant)
    new = Consent.OPTED_IN if opted_in else Consent.OPTED_OUT
    if p.sms_consent == new:
        return p
    before = {"sms_consent": p.sms_consent}
    p.sms_consent, p.sms_consent_changed_at = new, timezone.now()
    p.save(update_fields=["sms_consent", "sms_consent_changed_at"])
    audit.log(actor=actor, action=f"participant.sms_{new}", obj=p, before=before,
              after={"sms_consent": new, "source": source})
    _participant_changed(p)
    return p


@transaction.atomic
def change_phase(*, participant: Participant, phase: str, actor: Any, reason: str = "") -> Participant:
    if phase not in Phase.values:
        raise ServiceError(f"unknown phase {phase!r}")
    p = _locked(participant)
    if p.phase == phase:
        return p
    before = {"phase": p.phase}
    p.phase = phase
    p.save(update_fields=["phase"])
    audit.log(actor=actor, action="participant.phase", obj=p, before=before, after={"phase": phase}, reason=reason)
    _participant_changed(p)
    return p


@transaction.atomic
def discontinue_participant(*, participant: Participant, on: date, actor: Any, reason: str) -> Participant:
    """Withdraw: no more prompts; values after `on` are ignored by the analysis, earlier ones kept."""
    if not reason:
        raise ServiceError("a discontinuation needs a reason")
    p = _locked(participant)
    before = _snapshot(p)
    p.discontinued_on, p.phase = on, Phase.WITHDRAWN
    p.save(update_fields=["discontinued_on", "phase"])
    audit.log(actor=actor, action="participant.discontinue", obj=p, before=before, after=_snapshot(p), reason=reason)
    _participant_changed(p)
    return p


@transaction.atomic
def change_phone(*, participant: Participant, phone: str, actor: Any, reason: str) -> Participant:
    if not reason:
        raise ServiceError("changing a phone number needs a reason")
    try:
        e164 = phones.normalize(phone)
    except phones.InvalidPhone as exc:
        raise ServiceError(str(exc)) from exc
    p = _locked(participant)
    new_hash = phones.lookup_hash(e164)
    if Participant.objects.filter(phone_hash=new_hash).exclude(pk=p.pk).exists():
        raise ServiceError("this phone number already belongs to another participant")
    before = {"phone": p.phone_masked}
    p.phone_encrypted, p.phone_hash = phones.encrypt(e164), new_hash
    p.save(update_fields=["phone_encrypted", "phone_hash"])
    # The audit trail keeps masked numbers only: no PHI in logs or exports.
    audit.log(actor=actor, action="participant.phone", obj=p, before=before, after={"phone": phones.mask(e164)},
              reason=reason)
    return p


@transaction.atomic
def record_visit(*, participant: Participant, week: int, visit_date: date, actor: Any, reason: str = "") -> Visit:
    """The actual date of a visit; moving a recorded one needs a reason."""
    if week < 1:
        raise ServiceError("visit weeks start at 1")
    p = _locked(participant)
    visit = Visit.objects.filter(participant=p, week=week).first()
    if visit is None:
        visit = Visit.objects.create(participant=p, week=week, visit_date=visit_date)
        audit.log(actor=actor, action="visit.create", obj=visit, after={"week": week, "visit_date": visit_date})
    elif visit.visit_date != visit_date:
        if not reason:
            raise ServiceError(f"week {week} already has a visit date; changing it needs a reason")
        before = {"week": week, "visit_date": visit.visit_date}
        visit.visit_date = visit_date
        visit.save(update_fields=["visit_date"])
        audit.log(actor=actor, action="visit.update", obj=visit, before=before,
                  after={"week": week, "visit_date": visit_date}, reason=reason)
    _participant_changed(p)
    return visit


# --- diary answers ---------------------------------------------------------------------


def _scored(rules: StudyConfig, instrument: str, answers: dict[int, int], language: str) -> list[dict]:
    try:
        inst = rules.instrument(instrument)
    except KeyError as exc:
        raise InvalidAnswer(f"unknown instrument {instrument!r}") from exc
    if not answers:
        raise InvalidAnswer("no answer given")
    scored = []
    for number, option in sorted(answers.items()):
        try:
            item = inst.item(int(number))
        except (KeyError, ValueError) as exc:
            raise InvalidAnswer(f"{instrument} has no item {number!r}") from exc
        if isinstance(option, bool) or not isinstance(option, int):
            raise InvalidAnswer(f"item {number}: the answer must be a whole number")
        try:
            score = item.score_of(option)
        except ValueError as exc:
            lo, hi = item.choices.start, item.choices.stop - 1
            raise InvalidAnswer(f"item {number}: {option} is out of range {lo}..{hi}") from exc
        scored.append({"item": item.number, "option": option, "score": score, "label": item.label_of(option, "en")})
    return scored


def _derived(instrument: str, scored: list[dict]) -> dict:
    if instrument == Instrument.ITCH_NRS:
        return {"itch": scored[0]["score"]}
    from analysis.scoring import promis_raw, promis_tscore

    total = sum(a["score"] for a in scored)
    raw = float(promis_raw(total, len(scored)))
    if raw != raw:  # fewer than 4 items: no raw score (ENDPOINTS.md section 2)
        return {"answered": len(scored), "sum": total, "raw": None, "t_score": None}
    return {"answered": len(scored), "sum": total, "raw": int(raw), "t_score": float(promis_tscore(raw))}


def current_record(participant: Participant, instrument: str, timepoint: str, diary_date: date | None):
    qs = DiaryRecord.objects.current().filter(participant=participant, instrument=instrument, timepoint=timepoint)
    if diary_date is not None:
        qs = qs.filter(diary_date=diary_date)
    return qs.order_by("-submitted_at").first()


@dataclass
class LockedDiary:
    """A participant row-locked in the caller's transaction, with their current daily records of one date.

    The SMS path reads these once for the chatbot's context and hands them to
    `record_answers`, which then neither locks nor reads them again; the records are
    kept up to date as answers are written, so a second answer in the same text
    supersedes the first.
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


def diary_date_for(p: Participant, instrument: str, timepoint: str, at: datetime) -> date:
    """Where a patient's answer at this instant belongs, or the reason it is refused."""
    rules = p.study.rules
    if instrument not in rules.instruments:
        raise InvalidAnswer(f"unknown instrument {instrument!r}")
    if timepoint not in rules.instrument(instrument).timepoints:
        raise InvalidAnswer(f"{instrument} is not collected at timepoint {timepoint}")
    if p.phase in (Phase.COMPLETED, Phase.WITHDRAWN):
        raise DiaryNotOpen("the diary is closed for this participant")
    if timepoint == Timepoint.H12:
        if p.first_application_at is None:
            raise DiaryNotOpen("the 12-hour assessment opens after the first application")
        window = windows.h12_window(p.first_application_at, rules)
        if not window.is_open(at):
            raise OutsideWindow("the 12-hour assessment is not open now", next_opens_at=None)
        return p.day1
    if p.phase == Phase.LONG_TERM:
        raise DiaryNotOpen("the daily diary ends with the vehicle-controlled period")
    d = windows.diary_date(at, p.zone, windows.Window.of(rules))
    if d < p.runin_start:
        raise DiaryNotOpen(f"the diary starts on {p.runin_start.isoformat()}")
    if p.discontinued_on and d > p.discontinued_on:
        raise DiaryNotOpen("the diary is closed for this participant")
    return d


def record_answers(
    *,
    participant: Participant,
    instrument: str,
    answers: dict[int, int],
    channel: str,
    timepoint: str = Timepoint.DAILY,
    submitted_at: datetime | None = None,
    merge: bool = False,
    locked: LockedDiary | None = None,
) -> DiaryRecord:
    """A patient's answers, stamped with server time; the last submission in the window is current.

    `answers` maps item number to the option as the patient chose it (for PROMIS items 2,
    3, 7 and 8 the stored score is reversed). `merge` adds these answers to the current
    record of the same evening, so PROMIS answered one item at a time keeps every item.
    `locked` is the caller's `lock_diary` (the SMS path): the participant is already
    locked and the current records read in the caller's transaction.
    Raises OutsideWindow, DiaryNotOpen or InvalidAnswer and writes nothing then.
    """
    if channel not in Channel.values or channel == Channel.SITE:
        raise ServiceError(f"patients answer by sms, web or app, not {channel!r}")
    if locked is None:
        with transaction.atomic():
            return _record_answers(_locked(participant), instrument, answers, channel, timepoint, submitted_at,
                                   merge, None)
    if not transaction.get_connection().in_atomic_block:
        raise ServiceError("a LockedDiary is only valid inside the transaction that locked it")
    if locked.participant.pk != participant.pk:
        raise ServiceError("the LockedDiary belongs to another participant")
    # No savepoint of our own: everything that can refuse the answer raises before the first write.
    return _record_answers(locked.participant, instrument, answers, channel, timepoint, submitted_at, merge, locked)


def _record_answers(p: Participant, instrument: str, answers: dict[int, int], channel: str, timepoint: str,
                    submitted_at: datetime | None, merge: bool, locked: LockedDiary | None) -> DiaryRecord:
    at = submitted_at or timezone.now()
    rules = p.study.rules
    d = diary_date_for(p, instrument, timepoint, at)
    if locked is not None and timepoint == Timepoint.DAILY and d == locked.diary_date:
        previous = locked.records.get(instrument)
    else:
        previous = current_record(p, instrument, timepoint, d)
    given = {int(k): v for k, v in answers.items()}
    if merge and previous is not None:
        given = {a["item"]: a["option"] for a in previous.answers} | given
    scored = _scored(rules, instrument, given, p.language)
    # Nothing below raises a ServiceError: the answer is accepted.
    record = DiaryRecord.objects.create(
        participant=p,
        instrument=instrument,
        timepoint=timepoint,
        diary_date=d,
        answers=scored,
        derived=_derived(instrument, scored),
        channel=channel,
        submitted_at=at,
        supersedes=previous,
    )
    audit.log(
        actor=p, action="diary.answer" if previous is None else "diary.supersede", obj=record,
        before={"record": previous.pk, "answers": previous.answers} if previous else None,
        after={"instrument": instrument, "timepoint": timepoint, "diary_date": d, "answers": scored,
               "channel": channel},
        at=at,
    )
    if locked is not None and timepoint == Timepoint.DAILY and d == locked.diary_date:
        locked.records[instrument] = record
    _after_commit(after_answer_hooks, record)
    return record


@transaction.atomic
def correct_record(*, record: DiaryRecord, answers: dict[int, int], user: Any, reason: str) -> DiaryRecord:
    """A site correction: a new record superseding the current one, with who, when and why.

    Only a current record can be corrected (no backfilling of days the patient missed),
    and the original stays in the database and the audit trail.
    """
    if not (reason or "").strip():
        raise ServiceError("a correction needs a reason")
    p = _locked(record.participant)
    if DiaryRecord.objects.filter(supersedes=record).exists():
        raise ServiceError("this record was already superseded; correct the current one")
    merged = {a["item"]: a["option"] for a in record.answers} | {int(k): v for k, v in answers.items()}
    scored = _scored(p.study.rules, record.instrument, merged, p.language)
    new = DiaryRecord.objects.create(
        participant=p,
        instrument=record.instrument,
        timepoint=record.timepoint,
        diary_date=record.diary_date,
        answers=scored,
        derived=_derived(record.instrument, scored),
        channel=Channel.SITE,
        submitted_at=timezone.now(),
        supersedes=record,
        entered_by=user,
        reason=reason.strip(),
    )
    audit.log(actor=user, action="diary.correct", obj=new,
              before={"record": record.pk, "answers": record.answers},
              after={"record": new.pk, "answers": scored}, reason=reason.strip())
    _after_commit(after_answer_hooks, new)
    return new


# --- long-term phase -------------------------------------------------------------------


@transaction.atomic
def record_treatment_event(
    *,
    participant: Participant,
    kind: str,
    channel: str,
    at: datetime | None = None,
    new_areas: bool | None = None,
    extensive: bool | None = None,
) -> TreatmentEvent:
    """A clearance, recurrence or stop report, dated in the participant's local calendar."""
    if kind not in TreatmentEventKind.values:
        raise ServiceError(f"unknown treatment event {kind!r}")
    at = at or timezone.now()
    p = _locked(participant)
    if p.phase != Phase.LONG_TERM:
        raise DiaryNotOpen("clearance and recurrence are reported in the long-term phase")
    event = TreatmentEvent.objects.create(
        participant=p, kind=kind, event_date=windows.local(at, p.zone).date(), new_areas=new_areas,
        extensive=extensive, channel=channel, reported_at=at,
    )
    audit.log(actor=p, action=f"treatment.{kind}", obj=event,
              after={"event_date": event.event_date, "new_areas": new_areas, "extensive": extensive}, at=at)
    _treatment_reported(event)
    return event


def _treatment_reported(event: TreatmentEvent):
    _after_commit(after_treatment_hooks, event)


@transaction.atomic
def report_spread(
    *,
    participant: Participant,
    channel: str,
    new_or_extensive: bool,
    new_areas: bool | None = None,
    extensive: bool | None = None,
    at: datetime | None = None,
) -> TreatmentEvent:
    """The answer to "are any lesions in new areas or extensive?" after a recurrence.

    It supersedes the recurrence report it answers (append-only) and, when yes, raises a
    site alert once for that recurrence.
    """
    at = at or timezone.now()
    p = _locked(participant)
    recurrence = (
        TreatmentEvent.objects.filter(
            participant=p, kind=TreatmentEventKind.RECURRED, superseded_by__isnull=True, new_or_extensive__isnull=True
        )
        .order_by("-reported_at")
        .first()
    )
    if recurrence is None:
        raise ServiceError("no recurrence has been reported")
    event = TreatmentEvent.objects.create(
        participant=p, kind=TreatmentEventKind.RECURRED, event_date=recurrence.event_date,
        new_areas=new_areas, extensive=extensive, new_or_extensive=new_or_extensive,
        channel=channel, reported_at=at, supersedes=recurrence,
    )
    audit.log(actor=p, action="treatment.spread", obj=event, at=at,
              after={"new_or_extensive": new_or_extensive, "new_areas": new_areas, "extensive": extensive})
    if new_or_extensive:
        raise_alert(
            participant=p, kind=AlertKind.LESIONS_SPREAD, key=f"recurrence:{recurrence.pk}",
            detail=f"Recurrence reported on {event.event_date.isoformat()}: lesions in new areas or extensive.",
        )
    _treatment_reported(event)
    return event


@transaction.atomic
def raise_alert(
    *, kind: str, key: str, detail: str = "", participant: Participant | None = None, site: Site | None = None,
    study: Study | None = None,
) -> Alert | None:
    """Open an alert for the site once per occurrence (key); None when it already exists."""
    site = site or (participant.site if participant else None)
    study = study or (participant.study if participant else site.study)
    alert, created = Alert.objects.get_or_create(
        study=study, kind=kind, key=key,
        defaults={"site": site, "participant": participant, "detail": detail, "created_at": timezone.now()},
    )
    if not created:
        return None
    audit.log(actor="system", action="alert.open", obj=alert, after={"kind": kind, "key": key, "detail": detail})
    _after_commit(after_alert_hooks, alert)
    return alert


@transaction.atomic
def acknowledge_alert(*, alert: Alert, user: Any) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != AlertStatus.OPEN:
        raise ServiceError(f"the alert is already {alert.status}")
    alert.status, alert.acknowledged_at, alert.acknowledged_by = AlertStatus.ACKNOWLEDGED, timezone.now(), user
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    audit.log(actor=user, action="alert.acknowledge", obj=alert, before={"status": "open"},
              after={"status": alert.status})
    return alert


@transaction.atomic
def close_alert(*, alert: Alert, user: Any, note: str) -> Alert:
    if not (note or "").strip():
        raise ServiceError("closing an alert needs a note")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == AlertStatus.CLOSED:
        raise ServiceError("the alert is already closed")
    before = {"status": alert.status}
    alert.status, alert.closed_at, alert.closed_by, alert.note = AlertStatus.CLOSED, timezone.now(), user, note.strip()
    alert.save(update_fields=["status", "closed_at", "closed_by", "note"])
    audit.log(actor=user, action="alert.close", obj=alert, before=before, after={"status": "closed"},
              reason=alert.note)
    return alert


def _zones() -> set[str]:
    from zoneinfo import available_timezones

    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones()
    return _ZONES


_ZONES: set[str] | None = None
