"""Alerts for a site: opened once per occurrence, acknowledged, closed with a note."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import audit
from .errors import ServiceError
from .models import Alert, AlertStatus, Participant, Site, Study

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
    before = {"status": alert.status}
    alert.status, alert.closed_at, alert.closed_by, alert.note = AlertStatus.CLOSED, timezone.now(), user, note.strip()
    alert.save(update_fields=["status", "closed_at", "closed_by", "note"])
    audit.log(actor=user, action="alert.close", obj=alert, before=before, after={"status": "closed"},
              reason=alert.note)
    return alert
