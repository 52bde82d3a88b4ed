"""The audit trail: one AuditEvent for every create, change, status change and export."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.utils import timezone

from .models import AuditEvent, Participant, Phase, Site, Study


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


# Readable audit lines for the study team: who did what, in words; the JSON stays on the
# event's own page. A phone number is never shown, not even masked: "phone changed".

INSTRUMENT_WORDS = {"ITCH_NRS": "itch", "PROMIS_SD8B": "sleep"}
CONSENT_WORDS = {
    ("participant.sms_opted_out", "sms"): "opted out by STOP",
    ("participant.sms_opted_in", "sms"): "opted back in by START",
    ("participant.sms_opted_out", "site"): "SMS paused by the site",
    ("participant.sms_opted_in", "site"): "SMS resumed by the site",
}


def who(actor: str) -> str:
    """"user:alice" -> "alice", "participant:X" -> "participant", "system:demo" -> "system (demo)"."""
    kind, _, name = actor.partition(":")
    if kind == "user":
        return name
    if kind == "participant":
        return "participant"
    if kind == "system" and name:
        return f"system ({name})"
    return actor


def _value(answers: list | None) -> str | None:
    """The score of a one-item answer, or the sum of several ("sum 14")."""
    if not answers:
        return None
    scores = [a.get("score") for a in answers if isinstance(a, dict)]
    if len(scores) == 1:
        return str(scores[0])
    return f"sum {sum(s for s in scores if isinstance(s, int | float))}"


def _changes(before: dict, after: dict) -> str:
    changed = [k for k in after if k in before and before[k] != after[k]]
    return ", ".join(f"{k.replace('_', ' ')} {before[k]} → {after[k]}" for k in changed)


def describe(event: AuditEvent, *, instrument: str | None = None) -> str:
    """One readable line for an audit event ("itch 4 → 6", "phone changed", "opted out by STOP").

    `instrument`: the diary record's instrument, for events that do not carry it (corrections).
    """
    action, before, after = event.action, event.before or {}, event.after or {}
    if action.startswith("participant.sms_"):
        source = str(after.get("source", ""))
        words = CONSENT_WORDS.get((action, "site" if source == "site" else "sms" if source.startswith("sms") else ""))
        return words or f"{'opted back in' if action.endswith('in') else 'opted out'} ({source or 'unknown source'})"
    if action == "participant.phone":
        return "phone changed"
    if action == "participant.enroll":
        return f"enrolled at site {after.get('site')}, {after.get('zone')}, language {after.get('language')}"
    if action == "participant.first_application":
        first = (after.get("first_application_at") or "")[:16].replace("T", " ")
        return f"Day 1 {'changed' if before.get('first_application_at') else 'recorded'}: first application {first}"
    if action == "participant.phase":
        labels = dict(Phase.choices)
        return f"phase {labels.get(before.get('phase'), before.get('phase'))} → {labels.get(after.get('phase'))}"
    if action == "participant.discontinue":
        return f"withdrawn on {after.get('discontinued_on')}"
    if action in ("diary.answer", "diary.supersede", "diary.correct"):
        word = INSTRUMENT_WORDS.get(after.get("instrument") or instrument or "", "diary")
        new, old = _value(after.get("answers")), _value(before.get("answers"))
        text = f"{word} {old} → {new}" if old is not None else f"{word} {new}"
        day = after.get("diary_date")
        return f"{text} ({day})" if day else text
    if action == "diary.refused":
        return f"diary refused: {after.get('reason')}"
    if action == "alert.open":
        return f"alert opened: {after.get('detail') or after.get('kind')}"
    if action == "alert.acknowledge":
        return "alert acknowledged"
    if action == "alert.close":
        return "alert closed"
    if action in ("visit.create", "visit.update"):
        moved = f"{before['visit_date']} → " if before.get("visit_date") else ""
        return f"week {after.get('week')} visit {moved}{after.get('visit_date')}"
    if action.startswith("treatment."):
        return f"treatment: {action.split('.', 1)[1].replace('_', ' ')}"
    changes = _changes(before, after) if isinstance(before, dict) and isinstance(after, dict) else ""
    return f"{action.replace('.', ' ').replace('_', ' ')}{': ' + changes if changes else ''}"
