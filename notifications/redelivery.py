"""Re-sending a text the carrier could not deliver for a passing reason.

Twilio accepts a message, then reports it `undelivered` or `failed` in a status callback
with a code that is often temporary (30003: the phone is off or out of signal; 30008:
unknown). Such a text is sent again as a new outbox row linked to the first one
(`resend_of`, one-to-one: a repeated, late or concurrent callback cannot make a second),
after a backoff with jitter, while it can still arrive in its window (its ValidityPeriod),
at most MAX_RESENDS times. The first row keeps its status and its reason ("...; re-sent"),
each row its own delivery statuses: the participant page reads the chain.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import MessageChannel, OutboundMessage, OutboundStatus
from .outbox import MASKED_SECRET, can_text, in_touch_since, send_message_task

log = logging.getLogger(__name__)

MAX_RESENDS = 2
# The first re-send after about 5 minutes, the next after about 15: a phone switched off for
# a moment is back, and one carrier outage does not send a whole evening's texts again at once.
FIRST_DELAY = timedelta(minutes=5)
# A re-send must still have this long to arrive before its deadline when it leaves.
USEFUL_FOR = timedelta(minutes=10)
# A text without a window (a reply, a help text) is not re-sent later than this after the first try.
NO_WINDOW = timedelta(hours=2)


def resend_delay(resend: int) -> timedelta:
    """Backoff with jitter before re-send number `resend` (1, 2, ...): 5 min, 15 min, ... each 0.5 to 1.5 times."""
    return FIRST_DELAY * 3 ** (resend - 1) * random.uniform(0.5, 1.5)


def resend_undelivered(*, message_id, cause: str, now: datetime | None = None) -> OutboundMessage | None:
    """Queue the re-send of an undelivered text while still useful; None, with why on the text, if not.

    `cause`: what the provider said happened, in plain words ("The phone could not be reached").
    Safe to call twice for the same text: the second call finds the first re-send and does nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        message = (OutboundMessage.objects.select_for_update(of=("self",)).select_related("participant")
                   .filter(pk=message_id).first())
        if (message is None or message.channel != MessageChannel.SMS
                or message.status not in (OutboundStatus.UNDELIVERED, OutboundStatus.FAILED)
                or OutboundMessage.objects.filter(resend_of=message).exists()):
            return None
        first, resends = _first_of(message)
        send_at = now + resend_delay(resends + 1)
        deadline = message.expires_at or first.created_at + NO_WINDOW
        why_not = _why_not(message, first=first, resends=resends, send_at=send_at, deadline=deadline)
        if why_not:
            _explain(message, f"{cause}; not re-sent: {why_not}")
            return None
        try:
            with transaction.atomic():
                resend = OutboundMessage.objects.create(
                    participant=message.participant, kind=message.kind, body=message.body, channel=MessageChannel.SMS,
                    created_at=now, updated_at=now, expires_at=deadline, resend_of=message, not_before=send_at,
                )
        except IntegrityError:  # another callback of the same text won the race
            return None
        _explain(message, f"{cause}; re-sent")  # the page adds when and how it went
        delay = (send_at - now).total_seconds()
        transaction.on_commit(lambda: _enqueue(resend.pk, delay))
    return resend


def _first_of(message: OutboundMessage) -> tuple[OutboundMessage, int]:
    """The first text of a chain of re-sends, and how many re-sends this one is of it."""
    first, resends = message, 0
    while first.resend_of_id is not None and resends <= MAX_RESENDS:
        first, resends = OutboundMessage.objects.get(pk=first.resend_of_id), resends + 1
    return first, resends


def _why_not(message: OutboundMessage, *, first: OutboundMessage, resends: int, send_at: datetime,
             deadline: datetime) -> str:
    if resends >= MAX_RESENDS:
        return f"tried {resends + 1} times."
    if not can_text(message.participant):
        return "the patient opted out or left the study."
    if MASKED_SECRET in message.body:
        return "it held a one-time link or code; send a new one from this page if it is still needed."
    if send_at + USEFUL_FOR > deadline:
        return "its window closes before another try could arrive."
    if in_touch_since(message.participant, first.created_at):
        return "the patient has texted or entered a diary since."
    return ""


def _explain(message: OutboundMessage, reason: str) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(error_message=reason[:300])


def _enqueue(message_id, delay: float) -> None:
    try:
        send_message_task.apply_async((str(message_id),), countdown=delay)
    except Exception:  # the broker is down: the row stays queued and the sweeper sends it after not_before
        log.exception("could not enqueue the re-send %s; the sweeper will send it", message_id)
