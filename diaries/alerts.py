"""Alerts for a site: opened once per occurrence, acknowledged, closed with a note."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import audit
from .errors import ServiceError
from .models import Alert, AlertKind, AlertStatus, Participant, Site, Study

# What the site does about each kind of alert, shown beside why it fired.
WHAT_TO_DO = {
    AlertKind.LESIONS_SPREAD: "Call the participant: a visit may be needed to assess new or extensive lesions.",
    AlertKind.MISSED_DIARIES: "Call the participant: ask whether the texts arrive; remind them of the evening diary.",
    AlertKind.OPTED_OUT: "No texts are sent. Call the participant to ask why; if they wish, they text START "
                         "(or you press Resume SMS once they agree).",
    AlertKind.UNDELIVERABLE: "Texts do not reach this number: check it with the participant and correct it.",
    AlertKind.SMS_SENDER: "For the study's operator, not a site: fix the sender with Twilio (register the 10DLC "
                          "campaign, change the filtered content). If sending is paused, resume it afterwards with "
                          "`manage.py sms_sender resume`; `manage.py sms_sender status` shows the pause.",
    AlertKind.UNKNOWN_SENDER: "Someone texted the study number from a number no participant has: check whether a "
                              "participant changed phones.",
}


def what_to_do(alert: Alert) -> str:
    return WHAT_TO_DO.get(alert.kind, "")


# Run after an alert commits (the site's staff get an e-mail through a task): the core
# calls what was registered and imports no channel.
after_alert_hooks: list[Callable[[Alert], None]] = []


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
    for hook in after_alert_hooks:
        transaction.on_commit(lambda hook=hook: hook(alert))
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
    return _close(alert, note=note.strip(), closed_by=user, actor=user)


def _close(alert: Alert, *, note: str, closed_by: Any, actor: Any) -> Alert:
    before = {"status": alert.status}
    alert.status, alert.closed_at, alert.closed_by, alert.note = AlertStatus.CLOSED, timezone.now(), closed_by, note
    alert.save(update_fields=["status", "closed_at", "closed_by", "note"])
    audit.log(actor=actor, action="alert.close", obj=alert, before=before, after={"status": "closed"},
              reason=alert.note)
    return alert


def _opted_in_how(source: str) -> str:
    if source == "site":
        return "on the site's word (Resume SMS)"
    if source.startswith("sms"):
        return "by texting START"
    return f"({source})"


@transaction.atomic
def close_opt_out_alerts(*, participant: Participant, actor: Any, source: str) -> list[Alert]:
    """The participant opted back in: each opt-out alert not yet closed closes itself with a note saying so.

    No one of the site closed it (closed_by stays empty); the audit event names who opted in.
    """
    note = f"Closed automatically: the participant opted back in {_opted_in_how(source)}."
    pending = Alert.objects.select_for_update().filter(
        participant=participant, kind=AlertKind.OPTED_OUT, status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]
    ).order_by("created_at")
    return [_close(alert, note=note, closed_by=None, actor=actor) for alert in pending]


@transaction.atomic
def close_device_alerts(*, participant: Participant, device_id: int, actor: Any, note: str) -> list[Alert]:
    """A device deactivated by mistake is active again: its "no longer reachable" alerts close with the note."""
    pending = Alert.objects.select_for_update().filter(
        participant=participant, kind=AlertKind.DEVICE_DEACTIVATED, key__startswith=f"device:{device_id}:",
        status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]).order_by("created_at")
    return [_close(alert, note=note, closed_by=None, actor=actor) for alert in pending]
