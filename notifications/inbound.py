"""A text in: the chatbot reads it and `diaries` records what it decided, then the reply goes back.

The hot path: one transaction per text, the participant's conversation row locked so
two quick texts are handled one after the other, the reply returned as TwiML in the same
request. There is no look-up before the work: the unique MessageSid of the inbound row,
written last, refuses a repeat and rolls everything back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from diaries import alerts, participants, phones, treatment
from diaries.diary import LockedDiary, Reason, Refused, lock_diary, refuse_diary, submit_diary
from diaries.errors import ServiceError
from diaries.models import AlertKind, Channel, Participant, Study, Timepoint
from diaries.protocol import dates, windows
from notifications import chatbot
from notifications.chatbot import parsing, texts

from .context import build_context, diary_date_now, locked_conversation
from .models import Conversation, InboundMessage, OutboundMessage
from .outbox import queue_message, send_diary_link

log = logging.getLogger(__name__)

# A body longer than this is cut before storing and parsing: SMS concatenation tops out
# around 1,600 characters, so anything longer is not a patient typing.
MAX_BODY = 1600


@dataclass(frozen=True)
class Inbound:
    """One received text as the provider delivered it (notifications/providers/twilio/webhooks.py reads it)."""

    message_sid: str
    sender: str
    body: str
    num_media: int

    @classmethod
    def received(cls, *, message_sid: str, sender: str, body: str, num_media: int) -> Inbound:
        """Cut to what is stored: the id to 64 characters, the body to MAX_BODY, no NUL anywhere."""
        return cls(_storable(message_sid).strip()[:64], _storable(sender).strip(), _storable(body)[:MAX_BODY],
                   num_media)


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


def sender_record(inbound: Inbound, now: datetime, *, channel: str) -> tuple[InboundMessage, Conversation | None]:
    """The inbound row, not saved yet, and its sender's conversation, row locked (None: not enrolled).

    The one reading of a sender for every inbound path (a text, a keyword Twilio handled):
    the number normalized where it can be, kept only as its hash and its masked form.
    """
    try:
        e164 = phones.normalize(inbound.sender)
    except phones.InvalidPhone:
        e164 = inbound.sender
    sender_hash = phones.lookup_hash(e164)
    conversation = locked_conversation(sender_hash)
    participant = conversation.participant if conversation else None
    record = InboundMessage(
        message_sid=inbound.message_sid, sender_hash=sender_hash, sender_masked=phones.mask(e164),
        channel=channel, body=inbound.body, num_media=inbound.num_media, received_at=now,
        participant=participant, study=participant.study if participant else None,
    )
    return record, conversation


@transaction.atomic
def _receive(inbound: Inbound, now: datetime) -> str:
    channel = "whatsapp" if inbound.sender.lower().startswith("whatsapp:") else "sms"
    record, conversation = sender_record(inbound, now, channel=channel)
    if conversation is None:
        record.reply, record.outcome = _unknown_sender(record.sender_hash, now, inbound.body), "unknown_sender"
        record.study = Study.objects.order_by("pk").first()
        record.save(force_insert=True)
        return record.reply
    participant = conversation.participant
    locked = lock_diary(participant, diary_date_now(participant, now))
    ctx = build_context(participant, now, locked=locked)
    if inbound.num_media and not inbound.body.strip():
        record.reply, record.outcome = chatbot.media_reply(ctx), "media"
        record.save(force_insert=True)
        return record.reply
    result = chatbot.handle(conversation.state, _clean(inbound.body), ctx)
    reply, outcome, applied = apply_effects(participant, result, now, locked=locked)
    if applied:  # a refused write keeps the conversation where it was
        conversation.state = result.state
        conversation.save(update_fields=["state", "updated_at"])
    record.reply, record.outcome = reply, outcome
    record.save(force_insert=True)
    return reply


def _clean(body: str) -> str:
    """Control characters out (but line breaks kept as spaces): they are never an answer."""
    return "".join(ch if ch.isprintable() else " " for ch in body)


def _unknown_sender(sender_hash: str, now: datetime, body: str = "") -> str:
    # Neutral: says nothing about any study, clinic or person; HELP and STOP in English and Spanish.
    study = Study.objects.order_by("pk").first()
    if study is not None:
        alerts.raise_alert(study=study, kind=AlertKind.UNKNOWN_SENDER, key=f"{sender_hash[:16]}:{now.date()}",
                             detail="A text arrived from a number that is not enrolled.")
    norm = parsing.normalize(_clean(body))
    kw = "STOP" if parsing.is_revocation(norm) else parsing.keyword(norm)
    return texts.UNKNOWN_SENDER[kw if kw in ("HELP", "STOP") else None]


def apply_effects(participant: Participant, result: chatbot.Result, now: datetime, *,
                  locked: LockedDiary | None = None) -> tuple[str, str, bool]:
    """Carry out what the chatbot decided, through `diaries`; (reply, outcome, all applied).

    `locked`: the caller's `lock_diary`, passed on to `submit_diary`.
    """
    outcome = "replied"
    reply = result.reply
    for effect in result.effects:
        try:
            if isinstance(effect, chatbot.RecordAnswers):
                recorded = submit_diary(
                    participant=participant, channel=Channel.SMS, timepoint=effect.timepoint,
                    answers={effect.instrument: effect.answers}, at=now,
                    partial=effect.timepoint == Timepoint.DAILY, locked=locked,
                )
                if isinstance(recorded, Refused):
                    return _refused_reply(participant, recorded, now), recorded.reason, False
                outcome = "recorded"
            elif isinstance(effect, chatbot.AnswerRefused):
                # The chatbot refused it itself (a number outside the window, out of range):
                # audited as every channel's refused diary is.
                refuse_diary(participant=participant, channel=Channel.SMS, timepoint=effect.timepoint,
                             answers=effect.answers, at=now, reason=effect.reason, message=effect.reason)
            elif isinstance(effect, chatbot.OptOut):
                participants.record_sms_consent(participant=participant, opted_in=False, actor=participant,
                                                source="sms:keyword")
                alerts.raise_alert(participant=participant, kind=AlertKind.OPTED_OUT,
                                   key=f"optout:{participant.pk}:{now.isoformat()}",
                                   detail="The participant texted STOP: no more texts are sent.")
                outcome = "opted_out"
            elif isinstance(effect, chatbot.OptIn):
                participants.record_sms_consent(participant=participant, opted_in=True, actor=participant,
                                                source="sms:keyword")
                outcome = "opted_in"
            elif isinstance(effect, chatbot.ReportClearance):
                treatment.report_clearance(participant=participant, channel=Channel.SMS, at=now)
                outcome = "cleared"
            elif isinstance(effect, chatbot.ReportRecurrence):
                treatment.report_recurrence(participant=participant, channel=Channel.SMS, at=now)
                outcome = "recurred"
            elif isinstance(effect, chatbot.ReportSpread):
                treatment.answer_spread(participant=participant, channel=Channel.SMS, at=now,
                                        new_or_extensive=effect.new_or_extensive)
                outcome = "spread" if effect.new_or_extensive else "no_spread"
            elif isinstance(effect, chatbot.SendLink):
                send_diary_link(participant=participant)
                outcome = "link"
            elif isinstance(effect, chatbot.UnknownInput):
                outcome = effect.text_kind
            elif isinstance(effect, chatbot.Outcome):
                outcome = effect.kind
        except ServiceError as exc:
            log.warning("sms effect %s refused for %s: %s", type(effect).__name__, participant.usubjid, exc)
            return texts.render(participant.language, "not_understood"), "refused", False
    return reply, _said(outcome, reply), True


def _said(outcome: str, reply: str) -> str:
    """An inbound row never says "replied" when nothing was sent: "no_reply" then, with the why when known."""
    if reply or outcome.startswith("no_reply"):
        return outcome
    return "no_reply" if outcome == "replied" else f"no_reply:{outcome}"[:40]


def _refused_reply(participant: Participant, refused: Refused, now: datetime) -> str:
    """The diary was refused between reading the context and writing (the window closed): say why."""
    if refused.next_opens_at is not None:
        when = dates.sms_when(windows.local(refused.next_opens_at, participant.zone),
                                 windows.local(now, participant.zone).date(), participant.language)
        return texts.render(participant.language, "outside_window", when=when)
    if refused.reason == Reason.DIARY_NOT_OPEN:
        return texts.render(participant.language, "no_diary")
    return texts.render(participant.language, "not_understood")


@transaction.atomic
def send_prompt_now(*, participant: Participant, kind: str, now: datetime | None = None) -> OutboundMessage | None:
    """A prompt sent on a site's request (e.g. "resend today's reminder"), through the chatbot.

    The conversation moves as with a scheduled prompt, so the patient's answer is read as
    the diary; None when there is nothing to send (diary done, window closed, opted out).
    """
    now = now or timezone.now()
    conversation = locked_conversation(participant.phone_hash)
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
