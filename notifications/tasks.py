"""Celery tasks: thin, take ids, safe to run twice."""

from celery import shared_task

from . import services


@shared_task(bind=True, max_retries=services.MAX_ATTEMPTS, acks_late=True)
def send_message(self, message_id: str) -> str:
    status = services.send_message(message_id)
    if status == "retry":
        # Transient provider error: back off 30 s, 60 s, 120 s, ... (seconds, not days: no long ETAs on Redis).
        raise self.retry(countdown=30 * 2**self.request.retries)
    return status


@shared_task
def requeue_stuck_messages() -> int:
    return services.requeue_stuck_messages()
