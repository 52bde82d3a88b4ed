"""Reconciliation with Twilio's message log: the texts and statuses our webhooks missed.

An inbound webhook that fails (our 5xx, a timeout past 15 s, a deploy, DNS) is only
logged on Twilio's side and retried at most once; the text stays in the account's
Messages list. Hourly (and `manage.py reconcile_sms --since ...`) we read that list for
a window and:

- feed every inbound text we never received through the same path as the webhook
  (`inbound.receive_sms`), oldest first as Twilio received them, with the diary window
  evaluated at Twilio's DateSent: a diary texted at 21:50 during an outage counts for that
  evening when it is reconciled at 22:30;
- record the outbound statuses whose callback never came.

Idempotent on MessageSid (the inbound row's unique key, each status's (SID, status)):
running it twice, or while webhooks are arriving, changes nothing more. A reconciled
text's reply is texted only while it still answers the patient's last message; otherwise
the patient would get an answer to a question the conversation has left behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from notifications.inbound import Inbound, receive_sms
from notifications.models import InboundMessage, OutboundMessage, ReconciledText
from notifications.outbox import queue_message
from notifications.providers.twilio.transport import TwilioTransport
from notifications.providers.twilio.webhooks import record_status

log = logging.getLogger(__name__)

# A reconciled text is answered by text only if it was sent this recently and nothing came
# or went since in its conversation; later, "thanks, Tuesday's diary is saved" is noise.
LIVE_REPLY_WITHIN = timedelta(minutes=10)
PAGE_SIZE = 1000  # Twilio's maximum
FINAL = ("delivered", "undelivered", "failed", "sent")


@dataclass
class Reconciliation:
    listed: int = 0  # messages in Twilio's log for the window
    texts_reconciled: int = 0  # inbound texts we had missed, now handled
    texts_known: int = 0  # inbound texts we already had
    statuses_recorded: int = 0  # outbound statuses whose callback we had missed
    replies_sent: int = 0


def reconcile_sms(*, since: datetime, until: datetime | None = None, now: datetime | None = None,
                  client=None) -> Reconciliation:
    """Read Twilio's log for [since, until) and catch up on what our webhooks missed."""
    now = now or timezone.now()
    until = until or now
    client = client or TwilioTransport().client
    result = Reconciliation()
    # DateSent> is given as the day (Twilio documents day precision): the window is cut here.
    listed = client.messages.stream(date_sent_after=since.date(), page_size=PAGE_SIZE)
    inbound, outbound = [], []
    for message in listed:
        sent = message.date_sent or message.date_created
        if sent is None or not since <= sent < until:
            continue
        result.listed += 1
        (inbound if message.direction == "inbound" else outbound).append(message)
    # Twilio lists newest first: reversed, then a stable sort, is the order Twilio received them.
    inbound.reverse()
    inbound.sort(key=lambda m: m.date_sent or m.date_created)
    known = set(InboundMessage.objects.filter(message_sid__in=[m.sid for m in inbound])
                .values_list("message_sid", flat=True))
    for message in inbound:
        if message.sid in known:
            result.texts_known += 1
            continue
        found, replied = reconcile_text(message, now=now)
        result.texts_reconciled += found
        result.texts_known += not found
        result.replies_sent += replied
    for message in outbound:
        result.statuses_recorded += reconcile_status(message)
    if result.texts_reconciled or result.statuses_recorded:
        log.warning("reconciliation %s..%s: %d text(s) and %d status(es) recovered from Twilio's log",
                    since.isoformat(), until.isoformat(), result.texts_reconciled, result.statuses_recorded)
    return result


def reconcile_text(message, *, now: datetime) -> tuple[bool, bool]:
    """Handle one missed text at its DateSent; (it was ours to handle, its reply was texted)."""
    sent = message.date_sent or message.date_created
    try:
        num_media = int(message.num_media or 0)
    except ValueError:
        num_media = 0
    inbound = Inbound.received(message_sid=message.sid, sender=message.from_ or "", body=message.body or "",
                               num_media=num_media)
    with transaction.atomic():
        reply = receive_sms(inbound=inbound, now=sent)
        record = InboundMessage.objects.select_related("participant").get(message_sid=inbound.message_sid)
        # A live webhook that won the race wrote its own receive time, never Twilio's whole-second DateSent;
        # another reconciliation that won it (the hourly task beside the command) marked it reconciled.
        if record.received_at != sent or ReconciledText.objects.filter(inbound=record).exists():
            return False, False
        live = bool(reply) and record.participant is not None and _still_live(record, now)
        ReconciledText.objects.create(inbound=record, found_at=now, replied=live)
        if live:
            queue_message(participant=record.participant, kind="reply", body=reply)
    return True, live


def _still_live(record: InboundMessage, now: datetime) -> bool:
    """Recent, and the last thing in its conversation: nothing came in or went out since."""
    if now - record.received_at > LIVE_REPLY_WITHIN:
        return False
    p = record.participant
    later_in = InboundMessage.objects.filter(participant=p, received_at__gt=record.received_at).exists()
    later_out = OutboundMessage.objects.filter(participant=p, created_at__gt=record.received_at).exists()
    return not later_in and not later_out


def reconcile_status(message) -> bool:
    """One outbound message's status from the log, if its callback never came; True when it changed anything."""
    if message.status not in FINAL:
        return False
    ours = OutboundMessage.objects.filter(provider_sid=message.sid).values_list("pk", flat=True).first()
    if ours is None:
        return False
    params = {"MessageSid": message.sid, "MessageStatus": message.status,
              "ErrorCode": str(message.error_code) if message.error_code else ""}
    return record_status(message_id=ours, params=params, reconciled=True)


def reconcile_recent(*, hours: int, now: datetime | None = None) -> Reconciliation:
    """The hourly run: the last `hours` hours (overlapping runs cost nothing: idempotent)."""
    now = now or timezone.now()
    return reconcile_sms(since=now - timedelta(hours=hours), until=now, now=now)
