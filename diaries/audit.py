"""The audit trail: one AuditEvent for every create, change, status change and export."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.utils import timezone

from .models import AuditEvent, Participant, Site, Study


def actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    if isinstance(actor, Participant):
        return f"participant:{actor.usubjid}"
    if getattr(actor, "is_authenticated", False):
        return f"user:{actor.get_username()}"
    return f"system:{actor}"


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    return value


def log(
    *,
    actor: Any,
    action: str,
    obj: Any,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> AuditEvent:
    study, site = _scope(obj)
    return AuditEvent.objects.create(
        at=at or timezone.now(),
        actor=actor_label(actor)[:120],
        action=action,
        object_type=type(obj).__name__ if not isinstance(obj, str) else obj.split(":", 1)[0],
        object_id=str(getattr(obj, "pk", "")) if not isinstance(obj, str) else obj.split(":", 1)[-1],
        study=study,
        site=site,
        before=jsonable(before),
        after=jsonable(after),
        reason=reason,
    )


def _scope(obj: Any) -> tuple[Study | None, Site | None]:
    """The study and site an object belongs to, so site staff see only their own trail."""
    if isinstance(obj, Study):
        return obj, None
    if isinstance(obj, Site):
        return obj.study, obj
    if isinstance(obj, Participant):
        return obj.study, obj.site
    participant = getattr(obj, "participant", None)
    if isinstance(participant, Participant):
        return participant.study, participant.site
    study, site = getattr(obj, "study", None), getattr(obj, "site", None)
    return (study if isinstance(study, Study) else None), (site if isinstance(site, Site) else None)
