"""Messages in and out, the conversation state of each participant, and scheduled prompts."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from diaries.models import Participant, PushDevice, Study


class Conversation(models.Model):
    """The chatbot's state for one participant; its row lock serialises that participant's texts."""

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="conversation")
    state = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"conversation {self.participant}"


class InboundMessage(models.Model):
    """A text as Twilio delivered it; MessageSid is unique so a retry never creates a second one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message_sid = models.CharField(max_length=64, unique=True)
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.PROTECT)
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.PROTECT, related_name="inbound_messages"
    )
    # Unknown senders are kept as a keyed hash and a masked number only.
    sender_hash = models.CharField(max_length=64, db_index=True)
    sender_masked = models.CharField(max_length=24)
    channel = models.CharField(max_length=10, default="sms")  # sms | whatsapp
    body = models.TextField(blank=True)
    num_media = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField()
    reply = models.TextField(blank=True, help_text="The TwiML reply sent in the same request")
    outcome = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"in {self.message_sid}"

    @property
    def outcome_text(self) -> str:
        """The outcome in words for the participant page ("no reply: daily limit")."""
        kind, _, why = self.outcome.partition(":")
        words = OUTCOME_WORDS.get(kind, kind.replace("_", " "))
        return f"{words}: {why.replace('_', ' ')}" if why else words


# What an inbound text came to (InboundMessage.outcome), in the words the participant page shows.
OUTCOME_WORDS = {
    "recorded": "recorded",
    "corrected": "corrected (after YES)",
    "repeat": "repeat: nothing changed",
    "confirm_asked": "confirmation asked",
    "kept": "kept (NO)",
    "outside_window": "refused outside the window",
    "unclear": "unclear",
    "out_of_range": "unclear (out of range)",
    "unexpected": "unclear (no question pending)",
    "keyword": "keyword",
    "no_reply": "no reply",
    "replied": "replied",
}


class ReconciledText(models.Model):
    """A text whose webhook never reached us, found later in Twilio's message log and handled then.

    Its InboundMessage (append-only) was written with received_at = Twilio's DateSent, so
    the diary window was that of the moment the patient sent it.
    """

    inbound = models.OneToOneField(InboundMessage, on_delete=models.PROTECT, related_name="reconciled")
    found_at = models.DateTimeField()
    replied = models.BooleanField(default=False, help_text="The reply was texted (only while still relevant)")

    def __str__(self):
        return f"reconciled {self.inbound_id}"


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled (opted out or withdrawn before sending)"
    EXPIRED = "expired", "Expired (its window closed before it could be delivered)"


# Status callbacks only move a message forward; Twilio may deliver them out of order.
STATUS_RANK = {
    OutboundStatus.QUEUED: 0,
    OutboundStatus.SENDING: 1,
    OutboundStatus.SENT: 2,
    OutboundStatus.DELIVERED: 3,
    OutboundStatus.UNDELIVERED: 3,
    OutboundStatus.FAILED: 3,
    OutboundStatus.CANCELLED: 3,
    OutboundStatus.EXPIRED: 3,
}


class MessageChannel(models.TextChoices):
    SMS = "sms", "SMS"
    PUSH = "push", "Push"


class OutboundMessage(models.Model):
    """The outbox: a row first, then a Celery task claims it and hands it to the transport."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="outbound_messages")
    kind = models.CharField(max_length=30, help_text="diary, reminder, h12, visit_reminder, link, help, ...")
    # What staff read: a secret texted to the patient (a diary link, a sign-in code) masked.
    body = models.TextField()
    # The text as sent, secret included, encrypted; emptied once the message is handed over.
    sealed_body = models.BinaryField(null=True, blank=True, editable=False)
    status = models.CharField(max_length=12, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED)
    # sms, or push to one app device (a push is "sent" at best: the providers send no delivery receipt).
    channel = models.CharField(max_length=5, choices=MessageChannel.choices, default=MessageChannel.SMS)
    device = models.ForeignKey(PushDevice, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="outbound_messages")
    # A push's {"title", "link", "collapse_id"}; its body is `body`.
    payload = models.JSONField(default=dict, blank=True)
    # FCM message names ("projects/<id>/messages/<id>") are longer than Twilio's SIDs.
    provider_sid = models.CharField(max_length=200, blank=True, db_index=True)
    error_code = models.CharField(max_length=20, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Never delivered after this (a prompt's window closing; at most 10 h): sent with Twilio's
    # ValidityPeriod or as a push's expiry, and the earliest deadline goes first.
    expires_at = models.DateTimeField(null=True, blank=True)
    # A queued message is not handed over before this: the provider's Retry-After (429, 503), bounded,
    # or a re-send's backoff.
    not_before = models.DateTimeField(null=True, blank=True)
    # A text the carrier could not deliver for a passing reason (30003, 30008) is sent again as a
    # new row linked to it (notifications/redelivery.py): one-to-one, so a repeated callback
    # cannot send it twice. It waits out its backoff in not_before.
    resend_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="resent_as")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self):
        return f"out {self.kind} {self.status}"


class DeliveryStatus(models.Model):
    """Each status Twilio reported for a message, once: callbacks repeat and arrive in any order."""

    message = models.ForeignKey(OutboundMessage, on_delete=models.PROTECT, related_name="delivery_statuses")
    provider_sid = models.CharField(max_length=64)
    status = models.CharField(max_length=12)
    error_code = models.CharField(max_length=20, blank=True)
    received_at = models.DateTimeField()
    reconciled = models.BooleanField(default=False, help_text="Found in Twilio's message log, not by callback")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider_sid", "status"], name="one_delivery_status_per_sid"),
        ]

    def __str__(self):
        return f"{self.provider_sid} {self.status}"


class PromptKind(models.TextChoices):
    DIARY = "diary", "Evening diary prompt"
    REMINDER = "reminder", "Evening diary reminder"
    H12 = "h12", "12-hour assessment prompt"
    VISIT_REMINDER = "visit_reminder", "Visit reminder"
    LESION_CHECKIN = "lesion_checkin", "Weekly lesion check-in"
    STOP_TREATMENT = "stop_treatment", "Stop-treatment prompt"


class PromptStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


class ScheduledPrompt(models.Model):
    """A proactive message planned ahead; one per (participant, kind, slot), claimed by the beat tick."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="prompts")
    kind = models.CharField(max_length=20, choices=PromptKind.choices)
    # The diary date (YYYY-MM-DD) or the event it belongs to (e.g. "week-4", "clear:<event id>").
    slot = models.CharField(max_length=64)
    diary_date = models.DateField(null=True, blank=True)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=PromptStatus.choices, default=PromptStatus.PENDING)
    outbound = models.OneToOneField(
        OutboundMessage, null=True, blank=True, on_delete=models.PROTECT, related_name="prompt"
    )
    reason = models.CharField(max_length=100, blank=True, help_text="Why it was cancelled or skipped")
    # The SMS that follows a push when the diary is not started in time (push_then_sms): its own row, due
    # N minutes after the push, one per prompt.
    fallback_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="fallback")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "kind", "slot"], condition=Q(fallback_of__isnull=True),
                                    name="one_prompt_per_slot"),
        ]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self):
        return f"{self.kind} {self.slot} {self.status}"
