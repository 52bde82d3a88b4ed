"""Participants: enrollment, Day 1, consent, phase, phone, visits, discontinuation.

Each function is one transaction and leaves one audit event per change; the participant's
row is locked first, so writes for one participant never interleave.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import available_timezones

from django.db import transaction
from django.utils import timezone

from . import alerts, audit, phones
from .errors import ServiceError
from .models import Consent, Participant, Phase, Site, Study, Visit

# Run after a participant change commits (notifications re-plans the prompts through a
# task): the core calls what the channels registered and imports none of them.
after_participant_change_hooks: list[Callable[[Participant], None]] = []


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


def locked_participant(participant: Participant) -> Participant:
    """Re-read the participant under a row lock: writes for one participant never interleave.

    Only the participant's row: FOR UPDATE over the join would lock the study and site
    rows too, serialising every participant of the study and deadlocking with the
    foreign-key checks other transactions make on the study row at commit.
    """
    return Participant.objects.select_for_update(of=("self",)).select_related("site", "study").get(pk=participant.pk)


def _participant_changed(p: Participant):
    """Run the registered hooks once this transaction commits (never on a rollback)."""
    for hook in after_participant_change_hooks:
        transaction.on_commit(lambda hook=hook: hook(p))


# The study's subject identifiers: letters, digits, "-" and "_" (safe in file names, CSV cells
# and URLs), at most the column's 40 characters.
USUBJID = re.compile(r"[A-Za-z0-9_-]{1,40}")
# A number someone else holds, at this site or any other: nothing about who or where.
PHONE_UNUSABLE = "this phone number cannot be used; check it with the participant"


def usubjid_problem(usubjid: str) -> str | None:
    """Why this is not a valid USUBJID, or None."""
    if USUBJID.fullmatch(usubjid):
        return None
    return f"USUBJID {usubjid[:40]!r} must be 1 to 40 letters, digits, '-' or '_'"


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
    if zone not in known_zones():
        raise ServiceError(f"unknown time zone {zone!r}")
    if language not in rules.languages:
        raise ServiceError(f"language {language!r} is not one of {', '.join(rules.languages)}")
    try:
        e164 = phones.normalize(phone)
    except phones.InvalidPhone as exc:
        raise ServiceError(str(exc)) from exc
    if problem := usubjid_problem(usubjid):
        raise ServiceError(problem)
    if Participant.objects.filter(study=study, usubjid=usubjid).exists():
        raise ServiceError(f"subject {usubjid} is already enrolled")
    if Participant.objects.filter(phone_hash=phones.lookup_hash(e164)).exists():
        raise ServiceError(PHONE_UNUSABLE)
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
    p = locked_participant(participant)
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
    """Opt-in or opt-out, honoured at once; earlier data is kept either way. Opting back in closes the
    participant's opt-out alerts: the site has nothing left to act on."""
    p = locked_participant(participant)
    new = Consent.OPTED_IN if opted_in else Consent.OPTED_OUT
    if p.sms_consent == new:
        return p
    before = {"sms_consent": p.sms_consent}
    p.sms_consent, p.sms_consent_changed_at = new, timezone.now()
    p.save(update_fields=["sms_consent", "sms_consent_changed_at"])
    audit.log(actor=actor, action=f"participant.sms_{new}", obj=p, before=before,
              after={"sms_consent": new, "source": source})
    if opted_in:
        alerts.close_opt_out_alerts(participant=p, actor=actor, source=source)
    _participant_changed(p)
    return p


@transaction.atomic
def change_phase(*, participant: Participant, phase: str, actor: Any, reason: str = "") -> Participant:
    if phase not in Phase.values:
        raise ServiceError(f"unknown phase {phase!r}")
    p = locked_participant(participant)
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
    p = locked_participant(participant)
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
    p = locked_participant(participant)
    new_hash = phones.lookup_hash(e164)
    if Participant.objects.filter(phone_hash=new_hash).exclude(pk=p.pk).exists():
        raise ServiceError(PHONE_UNUSABLE)
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
    p = locked_participant(participant)
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


_ZONES: set[str] = set()


def known_zones() -> set[str]:
    """The IANA zones, read once (the look-up lists the zone files on disk)."""
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES
