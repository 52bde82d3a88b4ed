"""Celery tasks: thin, take ids, safe to run twice. The outbox's send tasks live beside their service."""

import logging

from celery import shared_task
from django.conf import settings

from diaries.models import Participant, TreatmentEvent
from notifications import outbox
from notifications.outbox import send_message_task, send_messages_task  # noqa: F401 - registered for autodiscovery
from notifications.providers.twilio import reconcile
from notifications.scheduling import dispatch, missed, planner

log = logging.getLogger(__name__)


@shared_task
def requeue_stuck_messages() -> int:
    return outbox.requeue_stuck_messages()


@shared_task
def fail_stranded_messages() -> int:
    return outbox.fail_stranded_messages()


@shared_task
def plan_prompts(participant_id: str | None = None) -> int:
    """Daily for everyone (the rolling horizon), or one participant; returns the rows planned."""
    ids = None if participant_id is None else [participant_id]
    return planner.plan_prompts(participant_ids=ids).created


@shared_task
def replan_participant(participant_id: str) -> int:
    """One participant's prompts after a change (enrollment, Day 1, phase, consent, visit, treatment report)."""
    participant = Participant.objects.filter(pk=participant_id).first()
    return 0 if participant is None else planner.plan_participant(participant=participant).created


def replan_after_change(participant: Participant) -> None:
    """Registered with diaries (apps.py), run after the change commits: the plan follows in a task,
    not in the patient's or the coordinator's request."""
    _enqueue(replan_participant, str(participant.pk))


def replan_after_treatment(event: TreatmentEvent) -> None:
    _enqueue(replan_participant, str(event.participant_id))


def _enqueue(task, *args) -> None:
    try:
        task.delay(*args)
    except Exception:  # the broker is down: the change is committed and the daily plan catches up
        log.exception("could not enqueue %s%r; the daily plan will catch up", task.name, args)


@shared_task
def dispatch_due_prompts(helpers: int = 3) -> int:
    """The tick, every minute: everything due, in batches (notifications/scheduling/dispatch.py).

    When the first batch comes back full, a backlog is waiting (19:00 in a big zone): one
    more tick is started beside this one, which may start one more, up to `helpers`. SKIP
    LOCKED keeps their batches apart, so the workers share the backlog. Not when texts are
    paced (SMS_MAX_PER_SECOND): the sender's budget is then the limit, one tick turns
    prompts into messages faster than it (about 800 a second), and a helper tick would only
    hold a worker process the send tasks need.
    """
    first = dispatch.dispatch_due_prompts(time_budget=0.0)
    if first.claimed >= dispatch.BATCH_SIZE and helpers > 0 and settings.SMS_MAX_PER_SECOND <= 0:
        dispatch_due_prompts.delay(helpers - 1)
    if first.claimed < dispatch.BATCH_SIZE:
        return first.sent
    return first.sent + dispatch.dispatch_due_prompts().sent


@shared_task
def alert_missed_diaries() -> int:
    return missed.alert_missed_diaries()


@shared_task
def reconcile_sms() -> int:
    """Hourly: texts and statuses our webhooks missed, from Twilio's log (only Twilio keeps one)."""
    if settings.SMS_BACKEND != "twilio":
        return 0
    return reconcile.reconcile_recent(hours=settings.SMS_RECONCILE_HOURS).texts_reconciled
