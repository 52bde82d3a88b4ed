"""Celery tasks: thin, take ids, safe to run twice. The outbox's send tasks live beside their service."""

from celery import shared_task

from notifications import outbox
from notifications.scheduling import dispatch, missed, planner

from .outbox import send_message_task, send_messages_task  # noqa: F401 - registered for autodiscovery


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
def dispatch_due_prompts(helpers: int = 3) -> int:
    """The tick, every minute: everything due, in batches (notifications/scheduling/dispatch.py).

    When the first batch comes back full, a backlog is waiting (19:00 in a big zone): one
    more tick is started beside this one, which may start one more, up to `helpers`. SKIP
    LOCKED keeps their batches apart, so the workers share the backlog.
    """
    first = dispatch.dispatch_due_prompts(time_budget=0.0)
    if first.claimed >= dispatch.BATCH_SIZE and helpers > 0:
        dispatch_due_prompts.delay(helpers - 1)
    if first.claimed < dispatch.BATCH_SIZE:
        return first.sent
    return first.sent + dispatch.dispatch_due_prompts().sent


@shared_task
def alert_missed_diaries() -> int:
    return missed.alert_missed_diaries()
