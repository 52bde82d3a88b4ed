"""The long-term phase's reports: lesions clear, lesions back (with the spread answer), treatment stopped.

One use case per report, for every channel (SMS keywords CLEAR and FLARE, the web diary,
the app): each is one transaction, dated in the participant's local calendar, audited,
and re-plans the stop-treatment prompt after commit (a registered hook).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction

from diaries import audit
from diaries.protocol import cycles, windows

from .alerts import raise_alert
from .errors import DiaryNotOpen, ServiceError
from .models import AlertKind, Participant, Phase, TreatmentEvent, TreatmentEventKind
from .participants import locked_participant

# Run after a report commits (notifications re-plans the stop prompt through a task):
# the core calls what was registered and imports no channel.
after_treatment_hooks: list[Callable[[TreatmentEvent], None]] = []


class NoRecurrence(ServiceError):
    """A spread answer with no recurrence waiting for it."""


@dataclass(frozen=True)
class TreatmentReport:
    event: TreatmentEvent
    keep_treating_until: date | None  # after a clearance: the open cycle's stop day; None once it has passed
    site_will_call: bool  # lesions in new areas or extensive: the site was alerted
    spread_answer_pending: bool  # a recurrence still waits for "new areas or extensive?"


@transaction.atomic
def report_clearance(*, participant: Participant, channel: str, at: datetime) -> TreatmentReport:
    """Lesions clear: keep treating until the stop day (the first clearance of the cycle dates it)."""
    p = _long_term(participant)
    event = _record(p, TreatmentEventKind.CLEARED, channel, at)
    return _report(p, event)


@transaction.atomic
def report_recurrence(*, participant: Participant, channel: str, at: datetime, new_areas: bool | None = None,
                      extensive: bool | None = None) -> TreatmentReport:
    """Lesions back: treatment resumes. With both follow-up answers, the spread answer is recorded too."""
    if (new_areas is None) != (extensive is None):
        raise ServiceError("answer both follow-up questions, or neither")
    p = _long_term(participant)
    event = _record(p, TreatmentEventKind.RECURRED, channel, at)
    if new_areas is not None:
        event = _spread(p, event, channel, at, new_areas or extensive, new_areas, extensive)
    return _report(p, event)


@transaction.atomic
def answer_spread(*, participant: Participant, channel: str, at: datetime, new_or_extensive: bool,
                  new_areas: bool | None = None, extensive: bool | None = None) -> TreatmentReport:
    """The answer to "are any lesions in new areas or extensive?" for the recurrence waiting for it."""
    p = locked_participant(participant)
    recurrence = _waiting_recurrence(p).first()
    if recurrence is None:
        raise NoRecurrence("no recurrence has been reported")
    return _report(p, _spread(p, recurrence, channel, at, new_or_extensive, new_areas, extensive))


@transaction.atomic
def report_stop(*, participant: Participant, channel: str, at: datetime) -> TreatmentReport:
    """Treatment stopped (the patient says so; the protocol's stop day counts without it)."""
    p = _long_term(participant)
    return _report(p, _record(p, TreatmentEventKind.STOPPED, channel, at))


def spread_answer_pending(participant: Participant) -> bool:
    return _waiting_recurrence(participant).exists()


def cycle_events(participant_ids: Iterable) -> dict[object, list[cycles.Event]]:
    """Each participant's treatment events as `cycles` reads them, in one query."""
    events: dict = {}
    for pk, pid, kind, on, at, sup in TreatmentEvent.objects.filter(participant_id__in=list(participant_ids)) \
            .values_list("id", "participant_id", "kind", "event_date", "reported_at", "supersedes_id"):
        events.setdefault(pid, []).append(cycles.Event(str(pk), kind, on, at, str(sup) if sup else None))
    return events


def _long_term(participant: Participant) -> Participant:
    p = locked_participant(participant)
    if p.phase != Phase.LONG_TERM:
        raise DiaryNotOpen("clearance and recurrence are reported in the long-term phase")
    return p


def _waiting_recurrence(p: Participant):
    return TreatmentEvent.objects.filter(participant=p, kind=TreatmentEventKind.RECURRED, superseded_by__isnull=True,
                                         new_or_extensive__isnull=True).order_by("-reported_at")


def _record(p: Participant, kind: str, channel: str, at: datetime) -> TreatmentEvent:
    event = TreatmentEvent.objects.create(participant=p, kind=kind, event_date=windows.local(at, p.zone).date(),
                                          channel=channel, reported_at=at)
    audit.log(actor=p, action=f"treatment.{kind}", obj=event,
              after={"event_date": event.event_date, "new_areas": None, "extensive": None}, at=at)
    _reported(event)
    return event


def _spread(p: Participant, recurrence: TreatmentEvent, channel: str, at: datetime, new_or_extensive: bool,
            new_areas: bool | None, extensive: bool | None) -> TreatmentEvent:
    """A new version of the recurrence with the answer (append-only); yes alerts the site once."""
    event = TreatmentEvent.objects.create(
        participant=p, kind=TreatmentEventKind.RECURRED, event_date=recurrence.event_date, new_areas=new_areas,
        extensive=extensive, new_or_extensive=new_or_extensive, channel=channel, reported_at=at,
        supersedes=recurrence,
    )
    audit.log(actor=p, action="treatment.spread", obj=event, at=at,
              after={"new_or_extensive": new_or_extensive, "new_areas": new_areas, "extensive": extensive})
    if new_or_extensive:
        raise_alert(
            participant=p, kind=AlertKind.LESIONS_SPREAD, key=f"recurrence:{recurrence.pk}",
            detail=f"Recurrence reported on {event.event_date.isoformat()}: lesions in new areas or extensive.",
        )
    _reported(event)
    return event


def _report(p: Participant, event: TreatmentEvent) -> TreatmentReport:
    until = None
    if event.kind == TreatmentEventKind.CLEARED:
        until = cycles.keep_treating_until(cycle_events([p.pk]).get(p.pk, []), p.study.rules)
        if until is not None and until <= event.event_date:
            until = None  # cleared again after the stop day: nothing left to apply (as the SMS says)
    return TreatmentReport(event=event, keep_treating_until=until, site_will_call=bool(event.new_or_extensive),
                           spread_answer_pending=spread_answer_pending(p))


def _reported(event: TreatmentEvent) -> None:
    for hook in after_treatment_hooks:
        transaction.on_commit(lambda hook=hook: hook(event))
