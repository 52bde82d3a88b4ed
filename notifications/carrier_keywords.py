"""STOP, START and HELP that Twilio already handled (Advanced Opt-Out): recorded, never answered again.

With Advanced Opt-Out on, Twilio answers these keywords itself and adds
`OptOutType=STOP|START|HELP` to the inbound webhook (only when the whole body is the
keyword). We record the consent change and the text, but do not feed it to the chatbot:
its keyword handling would send a second confirmation. Without OptOutType, our own
keywords work as before (notifications/inbound.py).
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from diaries import alerts, participants
from diaries.models import AlertKind

from .inbound import Inbound, sender_record
from .models import InboundMessage

KEYWORDS = ("STOP", "START", "HELP")


def receive_carrier_keyword(*, inbound: Inbound, keyword: str, now: datetime | None = None) -> str:
    """Record a keyword Twilio handled; the reply is always empty (Twilio sent its own)."""
    now = now or timezone.now()
    try:
        _record(inbound, keyword, now)
    except IntegrityError:
        if not InboundMessage.objects.filter(message_sid=inbound.message_sid).exists():
            raise  # not a repeat: a bug
    return ""


@transaction.atomic
def _record(inbound: Inbound, keyword: str, now: datetime) -> None:
    record, conversation = sender_record(inbound, now, channel="sms")
    participant = conversation.participant if conversation else None
    record.reply, record.outcome = "", f"carrier_{keyword.lower()}"
    record.save(force_insert=True)  # first: a repeated MessageSid stops here, before any change
    if participant is None or keyword == "HELP":
        return
    opted_in = keyword == "START"
    participants.record_sms_consent(participant=participant, opted_in=opted_in, actor=participant,
                                    source="twilio:advanced-opt-out")
    if not opted_in:
        alerts.raise_alert(participant=participant, kind=AlertKind.OPTED_OUT,
                           key=f"optout:{participant.pk}:{now.isoformat()}",
                           detail="The participant texted STOP: no more texts are sent.")
