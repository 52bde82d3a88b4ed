"""Celery tasks: thin, take ids, safe to run twice."""

from celery import shared_task

from . import dispatch, scheduling, services


@shared_task(bind=True, max_retries=services.MAX_ATTEMPTS, acks_late=True)
def send_message(self, message_id: str) -> str:
    status = services.send_message(message_id)
    if status == "retry":
        # Transient provider error: back off 30 s, 60 s, 120 s, ... (seconds, not days: no long ETAs on Redis).
        raise self.retry(countdown=30 * 2**self.request.retries)
    return status


@shared_task(acks_late=True)
def send_messages(message_ids: list[str]) -> dict:
    """A chunk of a dispatch batch; a message that needs another try gets its own retrying task."""
    results: dict[str, int] = {}
    for message_id, status in services.send_messages(message_ids).items():
        if status == "retry":
            send_message.apply_async((str(message_id),), countdown=30)
        results[status] = results.get(status, 0) + 1
    return results


@shared_task
def requeue_stuck_messages() -> int:
    return services.requeue_stuck_messages()


@shared_task
def fail_stranded_messages() -> int:
    return services.fail_stranded_messages()


@shared_task
def plan_prompts(participant_id: str | None = None) -> int:
    """Daily for everyone (the rolling horizon), or one participant; returns the rows planned."""
    ids = None if participant_id is None else [participant_id]
    return scheduling.plan_prompts(participant_ids=ids).created


@shared_task
def dispatch_due_prompts(helpers: int = 3) -> int:
    """The tick, every minute: everything due, in batches (notifications/dispatch.py).

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
    return scheduling.alert_missed_diaries()
