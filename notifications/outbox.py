"""The outbox: every text is a row first, handed to the transport by a task after commit.

A message moves queued -> sending -> sent -> delivered | undelivered | failed. The claim
(queued -> sending) commits before anything is sent, so a message is handed over at most
once; status callbacks only move it forward; a sweeper re-enqueues rows stuck in queued
and fails the ones a dead worker left in sending. A text undelivered for a passing reason
is sent again as a new row (notifications/redelivery.py), not before its `not_before`.
"""

from __future__ import annotations

import logging
import random
import re
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, CharField, F, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from diaries import alerts, audit, participants, phones
from diaries.models import AlertKind, DiaryRecord, Participant, Phase, PushPlatform
from diaries.patient.web import links
from notifications.chatbot import texts
from notifications.providers import (
    BAD_NUMBER,
    OPTED_OUT,
    SENDER_PROBLEM,
    TRIED_AGAIN,
    Outgoing,
    Pause,
    Sent,
    TransportError,
    get_transport,
    push,
    push_backends,
    send_all,
)
from notifications.providers.push import Push

from . import dead_tokens
from .models import STATUS_RANK, DeliveryStatus, MessageChannel, OutboundMessage, OutboundStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# The longest Retry-After honoured: FCM and APNs send seconds to a few minutes; a longer one
# would hold a prompt past its use (it expires at its deadline anyway) or be a provider's bug.
MAX_RETRY_AFTER = timedelta(minutes=10)
# Nothing waits at the provider longer than this (Twilio's ValidityPeriod tops out at 10 h).
MAX_VALIDITY = timedelta(hours=10)
EXPIRED_UNSENT = "Not sent: its window closed before it could leave (the sender's queue was too long)."
# Our own code for a message whose worker died while handing it over (outcome unknown).
STRANDED = "stranded"


def can_text(participant: Participant) -> bool:
    return not participant.opted_out and participant.phase not in (Phase.WITHDRAWN, Phase.COMPLETED)


# Messages per send task when many are queued at once (a dispatch batch): one task per
# message costs more in broker round trips than the send itself. A task also has a fixed
# cost in the worker (Celery and the broker, building the claim's queries): about 10 ms of
# CPU, as much as ten messages' SDK calls. With 20 a task, dispatch took 1.8 ms of worker
# CPU a prompt, with 50 1.4 ms (bench/twilio/dispatch_cpu.py --workers). The price: a
# worker killed mid-task leaves up to this many claimed messages to fail as stranded.
SEND_CHUNK = 50


# How a secret texted to the patient reads in the stored body.
MASKED_SECRET = "********"


@transaction.atomic
def queue_message(*, participant: Participant, kind: str, body: str, enqueue: bool = True,
                  secret: str = "") -> OutboundMessage | None:
    """Queue a text (sent after commit); None when the participant must not be texted.

    `enqueue=False` leaves the sending to the caller (`enqueue_after_commit` with many ids).
    `secret`: what in `body` only the patient may read (a link's token, a sign-in code): the
    stored body has it masked, the text as sent is kept encrypted until it is handed over.
    """
    participant.refresh_from_db(fields=["sms_consent", "phase"])  # callers may hold a stale copy
    if not can_text(participant):
        return None
    now = timezone.now()
    message = OutboundMessage.objects.create(
        participant=participant, kind=kind, body=body.replace(secret, MASKED_SECRET) if secret else body,
        sealed_body=phones.encrypt(body) if secret else None, created_at=now, updated_at=now,
    )
    if enqueue:
        enqueue_after_commit([message.pk])
    return message


def enqueue_after_commit(message_ids: list) -> None:
    """Hand the messages to the send tasks once the transaction commits, a chunk per task."""
    ids = [str(i) for i in message_ids]
    if ids:
        transaction.on_commit(lambda: _enqueue(ids))


def _enqueue(message_ids: list[str]) -> None:
    try:
        if len(message_ids) == 1:
            send_message_task.delay(message_ids[0])
        for i in range(0, len(message_ids) if len(message_ids) > 1 else 0, SEND_CHUNK):
            send_messages_task.delay(message_ids[i : i + SEND_CHUNK])
    except Exception:  # the broker is down: the rows stay queued and the sweeper re-sends them
        log.exception("could not enqueue %d outbound message(s); the sweeper will retry", len(message_ids))


def status_callback_url(message: OutboundMessage) -> str:
    return settings.PUBLIC_BASE_URL + reverse("twilio-status", args=[message.pk])


def send_message(message_id, *, transport=None) -> str:
    """Claim a queued message and hand it to the transport; safe to run twice. Returns the new status."""
    results = send_messages([message_id], transport=transport)
    return next(iter(results.values()), "not-claimed")


def send_messages(message_ids, *, transport=None) -> dict:
    """Claim the queued ones of these messages, hand them to the transport, record the outcomes.

    {message id: status}. The claim (queued -> sending) commits before anything is sent,
    so a message is handed over at most once even if this runs twice at the same time.
    The chunk is handed over concurrently (`providers.send_all`); the outcomes are
    recorded here, the sent ones in one statement for the whole chunk.
    """
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("participant__site", "device")
            .filter(_due(now), pk__in=list(message_ids), status=OutboundStatus.QUEUED)
            # Earliest deadline first (the prompt whose window closes soonest), then oldest first.
            .order_by(F("expires_at").asc(nulls_last=True), "created_at", "pk")
        )
        OutboundMessage.objects.filter(pk__in=[m.pk for m in claimed]).update(
            status=OutboundStatus.SENDING, attempts=F("attempts") + 1, updated_at=now
        )
    results: dict = {}
    ready, outgoing, pushes = [], [], []
    for message in claimed:
        message.attempts += 1
        if message.channel == MessageChannel.PUSH:
            pushes.append(message)  # SMS consent does not matter for a push: sent below
            continue
        if not can_text(message.participant):
            _set_status(message, OutboundStatus.CANCELLED, error_message="opted out or withdrawn before sending")
            results[message.pk] = OutboundStatus.CANCELLED
            continue
        if message.resend_of_id is not None and in_touch_since(message.participant, message.created_at):
            _set_status(message, OutboundStatus.CANCELLED, error_message=RESEND_NOT_NEEDED)
            results[message.pk] = OutboundStatus.CANCELLED
            continue
        valid_for = seconds_left(message, now)
        if valid_for <= 0:
            _set_status(message, OutboundStatus.EXPIRED, error_message=EXPIRED_UNSENT)
            results[message.pk] = OutboundStatus.EXPIRED
            continue
        try:
            outgoing.append(Outgoing(message.participant.phone, as_sent(message), status_callback_url(message),
                                     valid_for=valid_for))
        except Exception as exc:
            # E.g. a phone number that no longer decrypts: this one fails, never handed over; the chunk goes on.
            log.exception("message %s could not be prepared", message.pk)
            _set_status(message, OutboundStatus.FAILED, code="error", error_message=f"not sent: {exc!r}")
            results[message.pk] = OutboundStatus.FAILED
            continue
        ready.append(message)
    outcomes = send_all(outgoing, transport=transport)
    sids: dict = _send_pushes(pushes, results)
    for message, outcome in zip(ready, outcomes, strict=True):
        if isinstance(outcome, Sent):
            sids[message.pk] = outcome.provider_sid
            results[message.pk] = OutboundStatus.SENT
        elif isinstance(outcome, TransportError):
            results[message.pk] = _send_failed(message, outcome)
        else:
            # Not a provider answer but a bug or a broken connection mid-call: it may have left, so
            # it is not sent again (at most once); failed, with the reason for the site to see.
            _set_status(message, OutboundStatus.FAILED, code="error",
                        error_message=f"outcome unknown: {type(outcome).__name__}: {outcome}")
            results[message.pk] = OutboundStatus.FAILED
    if sids:
        _record_sent(sids)
    # A secret's readable text is kept only until it is handed over (most messages have none: no statement).
    sealed = [m.pk for m in claimed if m.sealed_body is not None and results.get(m.pk) != "retry"]
    if sealed:
        OutboundMessage.objects.filter(pk__in=sealed).update(sealed_body=None)
    return results


RESEND_NOT_NEEDED = "Not re-sent: the patient has texted or entered a diary since, so the phone works again."


def in_touch_since(participant: Participant, at: datetime) -> bool:
    """The patient texted us or entered a diary after `at`: a text they missed is not worth re-sending."""
    return (participant.inbound_messages.filter(received_at__gt=at).exists()
            or DiaryRecord.objects.filter(participant=participant, submitted_at__gt=at).exists())


def seconds_left(message: OutboundMessage, now: datetime) -> int:
    """Seconds the provider may still deliver this message in: to its deadline, at most 10 h from now."""
    deadline = min(message.expires_at or now + MAX_VALIDITY, now + MAX_VALIDITY)
    return int((deadline - now).total_seconds())


def retry_delay(retries: int, *, wait: float = 0.0) -> float:
    """Backoff with jitter: 30 s, 60 s, 120 s, ... each 0.5 to 1.5 times, so retries of one burst spread out.

    `wait`: seconds the provider asked for (Retry-After, bounded); never retried earlier, and
    spread over a fifth more so a burst told the same wait does not come back at one instant.
    """
    backoff = 30 * 2**retries * random.uniform(0.5, 1.5)
    return max(backoff, wait * random.uniform(1.0, 1.2)) if wait > 0 else backoff


def retry_countdown(message_id, retries: int) -> float:
    """The delay of a message's next try: the backoff, or longer when the provider said Retry-After."""
    not_before = OutboundMessage.objects.filter(pk=message_id).values_list("not_before", flat=True).first()
    wait = (not_before - timezone.now()).total_seconds() if not_before is not None else 0.0
    return retry_delay(retries, wait=wait)


def _due(now: datetime) -> Q:
    """Queued messages that may be handed over now: no Retry-After, or its time has come."""
    return Q(not_before__isnull=True) | Q(not_before__lte=now)


def as_sent(message: OutboundMessage) -> str:
    """The text the patient gets: the sealed one when it holds a secret."""
    return phones.decrypt(bytes(message.sealed_body)) if message.sealed_body else message.body


def _send_pushes(messages: list[OutboundMessage], results: dict) -> dict:
    """Hand claimed pushes to the push backend; {message id: provider id} of the sent ones, the rest recorded.

    A push needs an active device and an ongoing participation, not SMS consent. There is no
    delivery callback: "sent" is final. A dead token fails the message and deactivates the device
    (audited, the site alerted), unless APNs's BadDeviceToken comes in a burst (dead_tokens.py); a
    transient error goes back to queued for a retry with backoff (or Retry-After); a permanent one fails.
    """
    sids = {}
    dead = []  # handled once the chunk is sent: APNs's BadDeviceToken is judged beside the pushes it accepted
    for message in messages:
        device = message.device
        if message.participant.phase in (Phase.WITHDRAWN, Phase.COMPLETED) or device is None or not device.active:
            _set_status(message, OutboundStatus.CANCELLED,
                        error_message="device deactivated before sending" if message.participant.phase not in (
                            Phase.WITHDRAWN, Phase.COMPLETED) else "withdrawn or completed before sending")
            results[message.pk] = OutboundStatus.CANCELLED
            continue
        expires_at = message.expires_at or timezone.now() + timedelta(hours=1)
        try:
            result = push_backends.send_push(device.platform, Push(
                token=device.token, title=message.payload.get("title", ""), body=message.body,
                link=message.payload.get("link", ""), collapse_id=message.payload.get("collapse_id", message.kind),
                expires_at=expires_at))
        except Exception as exc:  # a bug or a broken connection mid-call: at most once, failed for the site to see
            log.exception("push %s raised", message.pk)
            result = push.permanent("error", f"outcome unknown: {type(exc).__name__}: {exc}")
        provider = "fcm" if device.platform == PushPlatform.ANDROID else "apns"
        if result.outcome == push.Outcome.SENT:
            sids[message.pk] = result.provider_id
            results[message.pk] = OutboundStatus.SENT
        elif result.outcome == push.Outcome.DEAD_TOKEN:
            _set_status(message, OutboundStatus.FAILED, code=result.code, error_message=f"dead device token: "
                                                                                     f"{result.detail}")
            dead.append((message, device, provider, result.code))
            results[message.pk] = OutboundStatus.FAILED
        elif result.retryable and message.attempts < MAX_ATTEMPTS:
            wait = min(timedelta(seconds=result.retry_after), MAX_RETRY_AFTER) if result.retry_after else None
            _set_status(message, OutboundStatus.QUEUED, code=result.code, error_message=result.detail,
                        not_before=timezone.now() + wait if wait else None)
            results[message.pk] = "retry"
        else:
            _set_status(message, OutboundStatus.FAILED, code=result.code, error_message=result.detail)
            results[message.pk] = OutboundStatus.FAILED
    accepted_ios = sum(1 for m in messages if m.pk in sids and m.device.platform == PushPlatform.IOS)
    for message, device, provider, code in dead:
        dead_tokens.on_dead_token(message=message, device=device, provider=provider, code=code,
                                  accepted_now=accepted_ios)
    return sids


def _record_sent(sids: dict) -> None:
    """Sent, with the provider's SID, in one statement; a status callback may have overtaken us."""
    at = timezone.now()
    if connection.vendor == "postgresql":
        # Arrays instead of a CASE per message: Django takes about a millisecond to build a CASE of 20.
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {OutboundMessage._meta.db_table} AS m SET provider_sid = t.sid,"
                " status = CASE WHEN m.status = %s THEN %s ELSE m.status END,"
                " sent_at = CASE WHEN m.status = %s THEN %s ELSE m.sent_at END,"
                " updated_at = CASE WHEN m.status = %s THEN %s ELSE m.updated_at END"
                " FROM unnest(%s::uuid[], %s::varchar[]) AS t(id, sid)"
                " WHERE m.id = t.id AND (m.status = %s OR m.provider_sid = '')",
                [OutboundStatus.SENDING, OutboundStatus.SENT, OutboundStatus.SENDING, at, OutboundStatus.SENDING, at,
                 list(sids), list(sids.values()), OutboundStatus.SENDING],
            )
        return
    sid_of = Case(*(When(pk=pk, then=Value(sid)) for pk, sid in sids.items()), output_field=CharField())
    # Only move from "sending", but keep the SID either way.
    OutboundMessage.objects.filter(pk__in=list(sids), status=OutboundStatus.SENDING).update(
        status=OutboundStatus.SENT, provider_sid=sid_of, sent_at=at, updated_at=at
    )
    OutboundMessage.objects.filter(pk__in=list(sids), provider_sid="").update(provider_sid=sid_of)


# A phone number in a provider's error text ("The 'To' number +15005550001 is not a valid phone number").
_NUMBER = re.compile(r"\+?\d[\d ().-]{5,}\d")


def without_numbers(text: str) -> str:
    """A provider's error text as kept and shown to staff: every phone number in it masked."""
    return _NUMBER.sub(lambda m: phones.mask(re.sub(r"[^\d+]", "", m.group(0))), text)


def _set_status(message: OutboundMessage, status: str, *, code: str = "", error_message: str = "",
                not_before: datetime | None = None) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=status, error_code=code[:20], error_message=without_numbers(error_message)[:300],
        updated_at=timezone.now(), not_before=not_before,
    )


def _send_failed(message: OutboundMessage, exc) -> str:
    # The plain reason (the provider's policy) is what the participant page shows.
    reason = getattr(exc, "reason", "") or str(exc)
    if exc.problem is not None:
        _set_status(message, OutboundStatus.FAILED, code=exc.code, error_message=reason)
        _act_on(exc.problem, message.participant, exc.code, reason=reason)
        return OutboundStatus.FAILED
    if exc.retryable and message.attempts < MAX_ATTEMPTS:
        # Back to queued: the retry claims it again like any other queued message.
        _set_status(message, OutboundStatus.QUEUED, code=exc.code, error_message=reason)
        return "retry"
    if exc.retryable and reason.endswith(TRIED_AGAIN):  # it will not be tried again after all
        reason = f"{reason.removesuffix(TRIED_AGAIN)}; not sent after {message.attempts} tries."
    _set_status(message, OutboundStatus.FAILED, code=exc.code, error_message=reason)
    return OutboundStatus.FAILED


def _act_on(problem: str, participant: Participant, code: str, *, reason: str = "") -> None:
    """What a failed message tells: opted out with the carrier, a bad number, or a refused sender.

    A bad number alerts the site once per participant and number; a refused sender (the
    carrier filters our texts, the number is unregistered) is the operator's, once per
    cause for the whole study, not once per patient.
    """
    provider = settings.SMS_BACKEND
    if problem == OPTED_OUT:
        participants.record_sms_consent(participant=participant, opted_in=False, actor=f"system:{provider}",
                                        source=f"{provider}:{code}")
    elif problem == BAD_NUMBER:
        alerts.raise_alert(participant=participant, kind=AlertKind.UNDELIVERABLE,
                           key=f"number:{participant.phone_hash[:16]}",
                           detail=reason or f"SMS provider error {code}: check the number.")
    elif problem == SENDER_PROBLEM:
        alerts.raise_alert(study=participant.study, kind=AlertKind.SMS_SENDER, key=f"sender:{provider}:{code}",
                           detail=f"For the study's operator: {reason or f'SMS provider error {code}.'}")
        transport = get_transport()
        transport.record_sender_refused()
        if (pause := transport.sending_paused()) is not None:
            alert_sender_paused(participant.study, pause)


def alert_sender_paused(study, pause: Pause) -> None:
    """One operator alert per pause (a pause after a resume is a new one), audited when it opens."""
    key = f"paused:{pause.sender}:{pause.since:%Y%m%dT%H%M%S}"
    alert = alerts.raise_alert(
        study=study, kind=AlertKind.SMS_SENDER, key=key,
        detail=(f"For the study's operator: sending is paused since {pause.since:%Y-%m-%d %H:%M} UTC after "
                f"{pause.refused} texts in a row were refused by carriers. No text goes out until it is resumed: "
                "fix the sender, then run `manage.py sms_sender resume --by <your user name> --reason ...`."),
    )
    if alert is not None:
        audit.log(actor=f"system:{settings.SMS_BACKEND}", action="sms_sender.pause", obj=alert,
                  after={"sender": pause.sender, "since": pause.since, "refused": pause.refused})


def record_delivery_status(*, message_id, status: str, error_code: str = "", problem: str | None = None,
                           reason: str = "", provider_sid: str = "", reconciled: bool = False,
                           now: datetime | None = None) -> bool:
    """A status callback: moves the message forward only (callbacks arrive out of order).

    Each (provider SID, status) is recorded once: a repeated callback changes nothing.
    One exception to forward only: a message failed as stranded (its worker died
    mid-call) takes what the provider reports from "sent" on, since the provider knows
    whether it left. A failure after the message's deadline is shown as expired.
    `problem`: what the provider's error code means (providers.OPTED_OUT, BAD_NUMBER,
    SENDER_PROBLEM); `reason`: the same in plain words, for the participant page.
    """
    now = now or timezone.now()
    message = OutboundMessage.objects.select_related("participant").filter(pk=message_id).first()
    if message is None or status not in STATUS_RANK:
        return False
    if not _first_report(message, provider_sid or message.provider_sid, status, error_code, now, reconciled):
        return False
    failed = status in (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)
    if failed and message.expires_at is not None and now >= message.expires_at and problem is None:
        status, reason = OutboundStatus.EXPIRED, reason_expired(message)
    if problem == OPTED_OUT and _older_than_opt_in(message):
        problem = None  # it failed before the patient opted in again: that STOP is over
    # Only Twilio's word that it took the message (sent or later): a "queued" or "sending"
    # callback must not put it back in our queue, or the sweeper would send it again.
    stranded = (message.status == OutboundStatus.FAILED and message.error_code == STRANDED
                and STATUS_RANK[status] >= STATUS_RANK[OutboundStatus.SENT])
    if STATUS_RANK[status] <= STATUS_RANK[message.status] and status != message.status and not stranded:
        return False
    updated = OutboundMessage.objects.filter(pk=message.pk, status=message.status).update(
        status=status, error_code=(error_code or message.error_code)[:20], updated_at=now,
        error_message=(reason or message.error_message)[:300] if failed else message.error_message,
    )
    if updated and problem is not None:
        _act_on(problem, message.participant, error_code, reason=reason)
    return bool(updated)


def _first_report(message: OutboundMessage, provider_sid: str, status: str, error_code: str, now: datetime,
                  reconciled: bool) -> bool:
    """Record (SID, status) once; False when it was already reported."""
    try:
        with transaction.atomic():
            DeliveryStatus.objects.create(message=message, provider_sid=provider_sid or str(message.pk),
                                          status=status, error_code=error_code[:20], received_at=now,
                                          reconciled=reconciled)
    except IntegrityError:
        return False
    return True


def _older_than_opt_in(message: OutboundMessage) -> bool:
    """A message handed over before the participant's last opt-in: its "opted out" is from before."""
    p = message.participant
    opted_in_at = p.sms_consent_changed_at if not p.opted_out else None
    return opted_in_at is not None and (message.sent_at or message.created_at) < opted_in_at


def reason_expired(message: OutboundMessage) -> str:
    return ("Not delivered in time: it waited at the provider until its window closed "
            f"({message.expires_at:%Y-%m-%d %H:%M} UTC) and expired; the phone was off, "
            "out of signal, or the sender's queue was too long.")


def fail_stranded_messages(*, older_than: timedelta = timedelta(minutes=15)) -> int:
    """Messages left in "sending" by a worker that died mid-call: failed, never sent again.

    The call may have reached Twilio, so a resend could text the patient twice (the outbox
    sends at most once); failing them makes the gap visible in the message history, and
    a later status callback from Twilio still records what really happened.
    """
    now = timezone.now()
    count = OutboundMessage.objects.filter(status=OutboundStatus.SENDING, updated_at__lt=now - older_than).update(
        status=OutboundStatus.FAILED, error_code=STRANDED, updated_at=now,
        error_message="outcome unknown: the sending worker stopped during the call",
    )
    if count:
        log.warning("%d outbound message(s) stranded in sending were failed", count)
    return count


def requeue_stuck_messages(*, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Re-enqueue messages left in queued (the broker was down, or a retry was lost)."""
    now = timezone.now()
    ids = list(OutboundMessage.objects.filter(_due(now), status=OutboundStatus.QUEUED, updated_at__lt=now - older_than)
               .values_list("pk", flat=True))
    _enqueue([str(i) for i in ids])
    return len(ids)


def send_diary_link(*, participant: Participant) -> OutboundMessage | None:

    link = links.make_link(participant)
    return queue_message(participant=participant, kind="link", secret=links.token_of(link),
                         body=texts.render(participant.language, "link", link=link))


# The tasks: thin, take ids, safe to run twice. Their names stay those of the module they
# were first declared in, so messages already queued in the broker still find them.


@shared_task(name="notifications.tasks.send_message", bind=True, max_retries=MAX_ATTEMPTS, acks_late=True)
def send_message_task(self, message_id: str) -> str:
    status = send_message(message_id)
    if status == "retry":
        # Transient provider error: back off 30 s, 60 s, 120 s, ... (seconds, not days: no long ETAs on Redis).
        raise self.retry(countdown=retry_countdown(message_id, self.request.retries))
    return status


@shared_task(name="notifications.tasks.send_messages", acks_late=True)
def send_messages_task(message_ids: list[str]) -> dict:
    """A chunk of a dispatch batch; a message that needs another try gets its own retrying task."""
    results: dict[str, int] = {}
    for message_id, status in send_messages(message_ids).items():
        if status == "retry":
            send_message_task.apply_async((str(message_id),), countdown=retry_countdown(message_id, 0))
        results[status] = results.get(status, 0) + 1
    return results
