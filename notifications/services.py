"""Writes of the SMS side: the outbox, inbound texts through the chatbot, delivery status.

Inbound is the hot path: one transaction per text, the participant's conversation row
locked so two quick texts are handled one after the other, the reply returned as TwiML
in the same request. Outbound is an outbox: a row first, sent by a task after commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, CharField, F, Value, When
from django.urls import reverse
from django.utils import timezone

from diaries import phones, services, windows
from diaries.models import AlertKind, DiaryRecord, Participant, Phase, Study, Timepoint

from . import chatbot, texts
from .models import STATUS_RANK, Conversation, InboundMessage, OutboundMessage, OutboundStatus

log = logging.getLogger(__name__)

# A body longer than this is cut before storing and parsing: SMS concatenation tops out
# around 1,600 characters, so anything longer is not a patient typing.
MAX_BODY = 1600
MAX_ATTEMPTS = 5
# Twilio error codes: 21610 the recipient has opted out (replied STOP to the carrier);
# 21211 invalid number; 21614 not a mobile number.
OPTED_OUT_CODES = {"21610"}
UNDELIVERABLE_CODES = {"21211", "21614"}
# Our own code for a message whose worker died while handing it over (outcome unknown).
STRANDED = "stranded"


# --- outbound --------------------------------------------------------------------------


def can_text(participant: Participant) -> bool:
    return not participant.opted_out and participant.phase not in (Phase.WITHDRAWN, Phase.COMPLETED)


# Messages per send task when many are queued at once (a dispatch batch): one task per
# message costs more in broker round trips than the send itself.
SEND_CHUNK = 20


@transaction.atomic
def queue_message(*, participant: Participant, kind: str, body: str, enqueue: bool = True) -> OutboundMessage | None:
    """Queue a text (sent after commit); None when the participant must not be texted.

    `enqueue=False` leaves the sending to the caller (`enqueue_after_commit` with many ids).
    """
    participant.refresh_from_db(fields=["sms_consent", "phase"])  # callers may hold a stale copy
    if not can_text(participant):
        return None
    now = timezone.now()
    message = OutboundMessage.objects.create(
        participant=participant, kind=kind, body=body, created_at=now, updated_at=now
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
    from .tasks import send_message, send_messages

    try:
        if len(message_ids) == 1:
            send_message.delay(message_ids[0])
        for i in range(0, len(message_ids) if len(message_ids) > 1 else 0, SEND_CHUNK):
            send_messages.delay(message_ids[i : i + SEND_CHUNK])
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
    The chunk is handed over concurrently (`transports.send_all`); the outcomes are
    recorded here, the sent ones in one statement for the whole chunk.
    """
    from .transports import Outgoing, Sent, TransportError, send_all

    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            OutboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("participant__site")
            .filter(pk__in=list(message_ids), status=OutboundStatus.QUEUED)
            .order_by("created_at", "pk")  # oldest first, as queued
        )
        OutboundMessage.objects.filter(pk__in=[m.pk for m in claimed]).update(
            status=OutboundStatus.SENDING, attempts=F("attempts") + 1, updated_at=now
        )
    results: dict = {}
    ready, outgoing = [], []
    for message in claimed:
        message.attempts += 1
        if not can_text(message.participant):
            _set_status(message, OutboundStatus.CANCELLED, error_message="opted out or withdrawn before sending")
            results[message.pk] = OutboundStatus.CANCELLED
            continue
        try:
            outgoing.append(Outgoing(message.participant.phone, message.body, status_callback_url(message)))
        except Exception as exc:
            # E.g. a phone number that no longer decrypts: this one fails, never handed over; the chunk goes on.
            log.exception("message %s could not be prepared", message.pk)
            _set_status(message, OutboundStatus.FAILED, code="error", error_message=f"not sent: {exc!r}")
            results[message.pk] = OutboundStatus.FAILED
            continue
        ready.append(message)
    outcomes = send_all(outgoing, transport=transport)
    sids: dict = {}
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
    return results


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


def _set_status(message: OutboundMessage, status: str, *, code: str = "", error_message: str = "") -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=status, error_code=code[:20], error_message=error_message[:300], updated_at=timezone.now()
    )


def _send_failed(message: OutboundMessage, exc) -> str:
    participant = message.participant
    if exc.code in OPTED_OUT_CODES:
        _set_status(message, OutboundStatus.FAILED, code=exc.code, error_message="recipient opted out")
        services.record_sms_consent(participant=participant, opted_in=False, actor="system:twilio",
                                    source=f"twilio:{exc.code}")
        return OutboundStatus.FAILED
    if exc.code in UNDELIVERABLE_CODES:
        _set_status(message, OutboundStatus.FAILED, code=exc.code, error_message=str(exc))
        services.raise_alert(participant=participant, kind=AlertKind.UNDELIVERABLE, key=f"number:{exc.code}:"
                             f"{participant.phone_hash[:16]}", detail=f"Twilio error {exc.code}: check the number.")
        return OutboundStatus.FAILED
    if exc.retryable and message.attempts < MAX_ATTEMPTS:
        # Back to queued: the retry claims it again like any other queued message.
        _set_status(message, OutboundStatus.QUEUED, code=exc.code, error_message=str(exc))
        return "retry"
    _set_status(message, OutboundStatus.FAILED, code=exc.code, error_message=str(exc))
    return OutboundStatus.FAILED


def record_delivery_status(*, message_id, status: str, error_code: str = "") -> bool:
    """A status callback: moves the message forward only (callbacks arrive out of order).

    One exception: a message failed as stranded (its worker died mid-call) takes what
    Twilio reports from "sent" on, since Twilio knows whether it left.
    """
    message = OutboundMessage.objects.select_related("participant").filter(pk=message_id).first()
    if message is None or status not in STATUS_RANK:
        return False
    # Only Twilio's word that it took the message (sent or later): a "queued" or "sending"
    # callback must not put it back in our queue, or the sweeper would send it again.
    stranded = (message.status == OutboundStatus.FAILED and message.error_code == STRANDED
                and STATUS_RANK[status] >= STATUS_RANK[OutboundStatus.SENT])
    if STATUS_RANK[status] <= STATUS_RANK[message.status] and status != message.status and not stranded:
        return False
    updated = OutboundMessage.objects.filter(pk=message.pk, status=message.status).update(
        status=status, error_code=(error_code or message.error_code)[:20], updated_at=timezone.now()
    )
    if updated and error_code:
        if error_code in OPTED_OUT_CODES:
            services.record_sms_consent(participant=message.participant, opted_in=False, actor="system:twilio",
                                        source=f"twilio:{error_code}")
        elif error_code in UNDELIVERABLE_CODES:
            services.raise_alert(participant=message.participant, kind=AlertKind.UNDELIVERABLE,
                                 key=f"number:{error_code}:{message.participant.phone_hash[:16]}",
                                 detail=f"Twilio error {error_code}: check the number.")
    return bool(updated)


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
    cutoff = timezone.now() - older_than
    ids = list(
        OutboundMessage.objects.filter(status=OutboundStatus.QUEUED, updated_at__lt=cutoff).values_list("pk", flat=True)
    )
    _enqueue([str(i) for i in ids])
    return len(ids)


# --- inbound ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    message_sid: str
    sender: str
    body: str
    num_media: int

    @classmethod
    def from_params(cls, params) -> Inbound:
        try:
            num_media = int(params.get("NumMedia") or 0)
        except ValueError:
            num_media = 0
        body = _storable(params.get("Body") or "")[:MAX_BODY]
        return cls(_storable(params.get("MessageSid", "")).strip()[:64], _storable(params.get("From", "")).strip(),
                   body, num_media)


def _storable(text: str) -> str:
    # PostgreSQL text cannot hold NUL: keep that the byte was there, without failing the text.
    return text.replace("\x00", "\ufffd")


def receive_sms(*, inbound: Inbound, now: datetime | None = None) -> str:
    """Handle one inbound text and return the reply; a repeated MessageSid returns the first reply.

    There is no look-up before the work: the unique MessageSid of the inbound row,
    written last in the same transaction, refuses a repeat and rolls back everything it
    did (Twilio repeats a webhook only when our answer did not reach it, which is rare).
    """
    now = now or timezone.now()
    try:
        return _receive(inbound, now)
    except IntegrityError:
        earlier = InboundMessage.objects.filter(message_sid=inbound.message_sid).only("reply").first()
        if earlier is None:
            raise  # some other constraint: a bug, not a repeat
        return earlier.reply


@transaction.atomic
def _receive(inbound: Inbound, now: datetime) -> str:
    channel = "whatsapp" if inbound.sender.lower().startswith("whatsapp:") else "sms"
    try:
        e164 = phones.normalize(inbound.sender)
    except phones.InvalidPhone:
        e164 = inbound.sender
    sender_hash = phones.lookup_hash(e164)
    conversation = _locked_conversation(sender_hash)
    participant = conversation.participant if conversation else None
    record = InboundMessage(
        message_sid=inbound.message_sid, sender_hash=sender_hash, sender_masked=phones.mask(e164),
        channel=channel, body=inbound.body, num_media=inbound.num_media, received_at=now,
    )
    if participant is None:
        record.reply, record.outcome = _unknown_sender(sender_hash, now), "unknown_sender"
        record.study = Study.objects.order_by("pk").first()
        record.save(force_insert=True)
        return record.reply
    record.participant, record.study = participant, participant.study
    diary = services.lock_diary(participant, _diary_date(participant, now))
    ctx = build_context(participant, now, diary=diary)
    if inbound.num_media and not inbound.body.strip():
        record.reply, record.outcome = chatbot.media_reply(ctx), "media"
        record.save(force_insert=True)
        return record.reply
    result = chatbot.handle(conversation.state, _clean(inbound.body), ctx)
    reply, outcome, applied = apply_effects(participant, result, now, diary=diary)
    if applied:  # a refused write keeps the conversation where it was
        conversation.state = result.state
        conversation.save(update_fields=["state", "updated_at"])
    record.reply, record.outcome = reply, outcome
    record.save(force_insert=True)
    return reply


def _locked_conversation(sender_hash: str) -> Conversation | None:
    """The sender's conversation and participant, row-locked, with site and study, in one query.

    The conversation lock serialises this participant's texts: two quick replies are
    handled one after the other, never interleaved. The participant lock is the one the
    diary services take (`lock_diary` relies on it), so a web diary submission waits too.
    """
    query = Conversation.objects.select_for_update(of=("self", "participant")).select_related(
        "participant__site", "participant__study"
    )
    try:  # phone_hash is unique and a participant has one conversation: no ordering needed
        return query.get(participant__phone_hash=sender_hash)
    except Conversation.DoesNotExist:
        pass
    participant = Participant.objects.filter(phone_hash=sender_hash).first()
    if participant is None:
        return None
    Conversation.objects.get_or_create(participant=participant)
    return query.get(participant=participant)


def _clean(body: str) -> str:
    """Control characters out (but line breaks kept as spaces): they are never an answer."""
    return "".join(ch if ch.isprintable() else " " for ch in body)


def _unknown_sender(sender_hash: str, now: datetime) -> str:
    # Neutral: says nothing about any study, clinic or person.
    study = Study.objects.order_by("pk").first()
    if study is not None:
        services.raise_alert(study=study, kind=AlertKind.UNKNOWN_SENDER, key=f"{sender_hash[:16]}:{now.date()}",
                             detail="A text arrived from a number that is not enrolled.")
    return "Sorry, this number does not accept messages from you. If you expected a reply, contact your clinic."


def _diary_date(participant: Participant, now: datetime):
    """The daily diary date a text at this instant answers, or None when no daily diary is open."""
    try:
        return services.diary_date_for(participant, "ITCH_NRS", Timepoint.DAILY, now)
    except (services.ServiceError, windows.OutsideWindow):
        return None


def build_context(participant: Participant, now: datetime, *, diary: services.LockedDiary | None = None,
                  **extra) -> chatbot.Context:
    """What the chatbot needs to know about this participant at this instant.

    `diary` is the caller's `lock_diary` of this instant's diary date (the inbound path
    reads the current records once, for the context and the writes). `build_contexts`
    does the same for a dispatch batch in a few queries; both assemble it in `_context`.
    """
    if diary is None:
        diary_date = _diary_date(participant, now)
        records = (
            DiaryRecord.objects.current().filter(participant=participant, timepoint=Timepoint.DAILY,
                                                 diary_date=diary_date).order_by("submitted_at")
            if diary_date is not None else []
        )
        current_records = {rec.instrument: rec for rec in records}
    else:
        diary_date, current_records = diary.diary_date, diary.records
    h12_open = h12_done = False
    if participant.first_application_at:
        h12_open = windows.h12_window(participant.first_application_at, participant.study.rules).is_open(now)
        h12_done = h12_open and DiaryRecord.objects.filter(participant=participant, timepoint=Timepoint.H12).exists()
    cleared_on = None
    if participant.phase == Phase.LONG_TERM:
        cleared_on = _open_cycle_cleared_on(_treatment_events([participant.pk]).get(participant.pk, []),
                                            participant.study.rules)
    return _context(participant, now, diary_date=diary_date, current=_answers_of(current_records.values()),
                    h12_open=h12_open, h12_done=h12_done, cleared_on=cleared_on, **extra)


def build_contexts(participants: list[Participant], now: datetime) -> dict[object, chatbot.Context | Exception]:
    """`build_context` for a batch of participants (with site and study loaded) in a few queries.

    {participant id: context}, or the exception building it raised (that participant's
    prompts are skipped, everyone else's go on).
    """
    diary_dates: dict = {}
    h12_open: set = set()
    for p in participants:
        try:
            diary_dates[p.pk] = services.diary_date_for(p, "ITCH_NRS", Timepoint.DAILY, now)
        except (services.ServiceError, windows.OutsideWindow):
            diary_dates[p.pk] = None
        except Exception as exc:  # noqa: BLE001 - reported for this participant by the caller
            diary_dates[p.pk] = exc
        if p.first_application_at and windows.h12_window(p.first_application_at, p.study.rules).is_open(now):
            h12_open.add(p.pk)
    h12_done = set(
        DiaryRecord.objects.filter(participant_id__in=list(h12_open), timepoint=Timepoint.H12)
        .values_list("participant_id", flat=True).distinct()
    ) if h12_open else set()
    records: dict = {pk: [] for pk, d in diary_dates.items() if isinstance(d, date)}
    if records:
        for rec in DiaryRecord.objects.current().filter(
            participant_id__in=list(records), timepoint=Timepoint.DAILY,
            diary_date__in={diary_dates[pk] for pk in records},
        ).order_by("submitted_at"):
            if diary_dates[rec.participant_id] == rec.diary_date:
                records[rec.participant_id].append(rec)
    long_term = [p.pk for p in participants if p.phase == Phase.LONG_TERM]
    events = _treatment_events(long_term) if long_term else {}
    contexts: dict = {}
    for p in participants:
        diary_date = diary_dates[p.pk]
        if isinstance(diary_date, Exception):
            contexts[p.pk] = diary_date
            continue
        cleared_on = _open_cycle_cleared_on(events.get(p.pk, []), p.study.rules) if p.pk in events else None
        contexts[p.pk] = _context(p, now, diary_date=diary_date, current=_answers_of(records.get(p.pk, [])),
                                  h12_open=p.pk in h12_open, h12_done=p.pk in h12_done, cleared_on=cleared_on)
    return contexts


def _answers_of(records) -> dict[str, dict[int, int]]:
    """{instrument: {item: option as typed}} of the current records, the latest one per instrument."""
    return {rec.instrument: {a["item"]: a["option"] for a in rec.answers} for rec in records}


def _context(p: Participant, now: datetime, *, diary_date, current, h12_open: bool, h12_done: bool,
             cleared_on: date | None, **extra) -> chatbot.Context:
    rules = p.study.rules
    return chatbot.Context(
        rules=rules,
        language=p.language,
        phase=p.phase,
        opted_out=p.opted_out,
        now_local=windows.local(now, p.zone),
        diary_date=diary_date,
        next_window_opens=windows.local(windows.next_window_opens(now, p.zone, windows.Window.of(rules)), p.zone),
        h12_open=h12_open,
        h12_done=h12_done,
        current=current,
        site_name=p.site.name,
        site_phone=p.site.phone,
        site_hours=p.site.hours,
        cleared_on=cleared_on,
        **extra,
    )


def _treatment_events(participant_ids: list) -> dict[object, list]:
    """Each participant's treatment events as `diaries.cycles` reads them."""
    from diaries import cycles
    from diaries.models import TreatmentEvent

    events: dict = {}
    for pk, pid, kind, on, at, sup in TreatmentEvent.objects.filter(participant_id__in=participant_ids).values_list(
        "id", "participant_id", "kind", "event_date", "reported_at", "supersedes_id"
    ):
        events.setdefault(pid, []).append(cycles.Event(str(pk), kind, on, at, str(sup) if sup else None))
    return events


def _open_cycle_cleared_on(events: list, rules) -> date | None:
    """The clearance date of the open treatment cycle, if lesions are reported clear now."""
    from diaries import cycles

    if not events:
        return None
    open_cycle = cycles.derive_cycles(events, stop_after_days=rules.stop_treatment_after_days)[-1]
    return open_cycle.cleared_on if open_cycle.recurred_on is None else None


def apply_effects(participant: Participant, result: chatbot.Result, now: datetime, *,
                  diary: services.LockedDiary | None = None) -> tuple[str, str, bool]:
    """Carry out what the chatbot decided, through the diary services; (reply, outcome, all applied).

    `diary`: the caller's `lock_diary`, passed on to `record_answers`.
    """
    outcome = "replied"
    reply = result.reply
    for effect in result.effects:
        try:
            if isinstance(effect, chatbot.RecordAnswers):
                services.record_answers(
                    participant=participant, instrument=effect.instrument, answers=effect.answers, channel="sms",
                    timepoint=effect.timepoint, submitted_at=now, merge=effect.timepoint == Timepoint.DAILY,
                    locked=diary,
                )
                outcome = "recorded"
            elif isinstance(effect, chatbot.OptOut):
                services.record_sms_consent(participant=participant, opted_in=False, actor=participant,
                                            source="sms:keyword")
                services.raise_alert(participant=participant, kind=AlertKind.OPTED_OUT,
                                     key=f"optout:{participant.pk}:{now.isoformat()}",
                                     detail="The participant texted STOP: no more texts are sent.")
                outcome = "opted_out"
            elif isinstance(effect, chatbot.OptIn):
                services.record_sms_consent(participant=participant, opted_in=True, actor=participant,
                                            source="sms:keyword")
                outcome = "opted_in"
            elif isinstance(effect, chatbot.ReportClearance):
                services.record_treatment_event(participant=participant, kind="cleared", channel="sms", at=now)
                outcome = "cleared"
            elif isinstance(effect, chatbot.ReportRecurrence):
                services.record_treatment_event(participant=participant, kind="recurred", channel="sms", at=now)
                outcome = "recurred"
            elif isinstance(effect, chatbot.ReportSpread):
                services.report_spread(participant=participant, channel="sms",
                                       new_or_extensive=effect.new_or_extensive, at=now)
                outcome = "spread" if effect.new_or_extensive else "no_spread"
            elif isinstance(effect, chatbot.SendLink):
                send_diary_link(participant=participant)
                outcome = "link"
            elif isinstance(effect, chatbot.UnknownInput):
                outcome = effect.text_kind
        except windows.OutsideWindow as exc:
            # The window closed between reading the context and writing: tell the patient.
            when = texts.format_when(windows.local(exc.next_opens_at or now, participant.zone),
                                     windows.local(now, participant.zone).date(), participant.language)
            reply, outcome = texts.render(participant.language, "outside_window", when=when), "outside_window"
            return reply, outcome, False
        except services.ServiceError as exc:
            log.warning("sms effect %s refused for %s: %s", type(effect).__name__, participant.usubjid, exc)
            return texts.render(participant.language, "not_understood"), "refused", False
    return reply, outcome, True


@transaction.atomic
def send_prompt_now(*, participant: Participant, kind: str, now: datetime | None = None) -> OutboundMessage | None:
    """A prompt sent on a site's request (e.g. "resend today's reminder"), through the chatbot.

    The conversation moves as with a scheduled prompt, so the patient's answer is read as
    the diary; None when there is nothing to send (diary done, window closed, opted out).
    """
    now = now or timezone.now()
    conversation = _locked_conversation(participant.phone_hash)
    if conversation is None:
        return None
    ctx = build_context(conversation.participant, now)
    result = chatbot.start(kind, ctx, state=conversation.state)
    if not result.reply:
        return None
    message = queue_message(participant=conversation.participant, kind=kind, body=result.reply)
    if message is not None:
        conversation.state = result.state
        conversation.save(update_fields=["state", "updated_at"])
    return message


def send_diary_link(*, participant: Participant) -> OutboundMessage | None:
    from diaries import links

    link = links.make_link(participant)
    return queue_message(participant=participant, kind="link",
                         body=texts.render(participant.language, "link", link=link))
