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
from .models import AlertKind, Consent, Participant, Phase, PushDevice, Site, Study, Visit
from .protocol.study_config import CHANNEL_PREFERENCES

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


@transaction.atomic
def set_channel_preference(*, participant: Participant, preference: str, actor: Any, source: str) -> Participant:
    """How prompts reach this participant (sms, push, push_then_sms; blank: the study's default), audited."""
    if preference and preference not in CHANNEL_PREFERENCES:
        raise ServiceError(f"channel preference must be one of {', '.join(CHANNEL_PREFERENCES)}")
    p = locked_participant(participant)
    if p.channel_preference == preference:
        return p
    before = {"channel_preference": p.channel_preference}
    p.channel_preference = preference
    p.save(update_fields=["channel_preference"])
    audit.log(actor=actor, action="participant.channel_preference", obj=p, before=before,
              after={"channel_preference": preference, "source": source})
    return p


@transaction.atomic
def register_push_device(*, participant: Participant, platform: str, token: str,
                         at: datetime) -> tuple[PushDevice, bool]:
    """(device, created): the app's push address; the same token again refreshes it and reactivates a dead one."""
    device, created = PushDevice.objects.get_or_create(
        participant=participant, platform=platform, token=token, defaults={"created_at": at, "last_registered_at": at})
    if created:
        audit.log(actor=participant, action="app.device_register", obj=device, after={"platform": platform})
        return device, True
    if not device.active:
        audit.log(actor=participant, action="app.device_reactivated", obj=device,
                  before={"active": False, "reason": device.deactivated_reason}, after={"active": True})
    PushDevice.objects.filter(pk=device.pk).update(last_registered_at=at, active=True, deactivated_at=None,
                                                   deactivated_reason="")
    device.refresh_from_db()
    return device, False


@transaction.atomic
def deactivate_push_device(*, device_id: int, reason: str, actor: str) -> bool:
    """A device whose token the provider called dead: no more pushes to it, audited, and the site is told.

    `reason` is provider:code (fcm:UNREGISTERED, apns:BadDeviceToken). False when it was already inactive.
    """
    device = PushDevice.objects.select_related("participant__study").select_for_update(of=("self",)).filter(
        pk=device_id, active=True).first()
    if device is None:
        return False
    now = timezone.now()
    PushDevice.objects.filter(pk=device.pk).update(active=False, deactivated_at=now, deactivated_reason=reason[:100])
    audit.log(actor=actor, action="app.device_deactivated", obj=device, before={"active": True},
              after={"active": False, "reason": reason, "platform": device.platform})
    alerts.raise_alert(participant=device.participant, kind=AlertKind.DEVICE_DEACTIVATED,
                       key=f"device:{device.pk}:{now:%Y%m%dT%H%M%S}",
                       detail=f"The app on a {device.get_platform_display()} device no longer receives push "
                              f"reminders ({reason}); ask the patient to open the app and sign in again.")
    return True


@transaction.atomic
def reactivate_push_device(*, device_id: int, actor: str, reason: str) -> bool:
    """Undo a deactivation that was not the device's fault, audited; its open site alerts close saying why."""
    device = PushDevice.objects.select_related("participant").select_for_update(of=("self",)).filter(
        pk=device_id, active=False).first()
    if device is None:
        return False
    PushDevice.objects.filter(pk=device.pk).update(active=True, deactivated_at=None, deactivated_reason="")
    audit.log(actor=actor, action="app.device_reactivated", obj=device,
              before={"active": False, "reason": device.deactivated_reason}, after={"active": True}, reason=reason)
    alerts.close_device_alerts(participant=device.participant, device_id=device.pk, actor=actor,
                               note=f"Closed automatically: the device was reactivated ({reason}).")
    return True
