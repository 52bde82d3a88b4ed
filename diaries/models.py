"""Studies, sites, participants and their diary data.

Diary records, treatment events and audit events are append-only: a correction is a
new row that supersedes the old one. On PostgreSQL the database itself refuses UPDATE
and DELETE on those tables (migration 0002); here the models refuse it in Python too.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q

from diaries.protocol import windows
from diaries.protocol.study_config import StudyConfig, parse_study_config

from . import phones


class AppendOnly(models.Model):
    """Rows that are written once and never changed or deleted (21 CFR 11.10(e))."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError(f"{type(self).__name__} is append-only: record a new one instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(f"{type(self).__name__} is append-only and cannot be deleted")


_RULES_CACHE: dict[str, StudyConfig] = {}


class Study(models.Model):
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    config_toml = models.TextField(help_text="The study configuration file as loaded.")
    config_hash = models.CharField(max_length=64, help_text="SHA-256 of the configuration file: its version.")
    loaded_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self):
        return self.code

    @property
    def rules(self) -> StudyConfig:
        # Parsed once per process and configuration version: every inbound text needs it.
        rules = _RULES_CACHE.get(self.config_hash)
        if rules is None:
            # As stored: a study loaded before the SMS budget was checked keeps running
            # (its long questions then take more segments) until load_study loads it again.
            rules = _RULES_CACHE[self.config_hash] = parse_study_config(self.config_toml, sms_budget=False)
        return rules


class Site(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="sites")
    number = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    zone = models.CharField(max_length=64, help_text="IANA time zone")
    phone = models.CharField(max_length=20, help_text="Contact number given in HELP replies")
    hours = models.CharField(max_length=100, blank=True)
    staff = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="sites")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="site_number_unique_in_study")]
        ordering = ["study", "number"]

    def __str__(self):
        return f"{self.number} {self.name}"


class Phase(models.TextChoices):
    RUNIN = "runin", "Run-in"
    VEHICLE_CONTROLLED = "vc", "Vehicle-controlled"
    LONG_TERM = "long_term", "Long-term"
    COMPLETED = "completed", "Completed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Consent(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"


class AgeGroup(models.TextChoices):
    ADOLESCENT = "12-17", "12-17 years"
    ADULT = "18+", "18 years and older"


class Participant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="participants")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="participants")
    usubjid = models.CharField("USUBJID", max_length=40)
    # Encrypted at rest (Fernet); looked up by a keyed hash so the clear number is never stored.
    phone_encrypted = models.BinaryField(editable=False)
    phone_hash = models.CharField(max_length=64, unique=True, editable=False)
    zone = models.CharField(max_length=64, help_text="IANA time zone")
    language = models.CharField(max_length=5, default="en")
    phase = models.CharField(max_length=12, choices=Phase.choices, default=Phase.RUNIN)
    sms_consent = models.CharField(max_length=10, choices=Consent.choices, default=Consent.OPTED_IN)
    sms_consent_changed_at = models.DateTimeField(null=True, blank=True)
    runin_start = models.DateField(help_text="Local date of Day -7")
    first_application_at = models.DateTimeField(null=True, blank=True, help_text="Day 1: first application")
    discontinued_on = models.DateField(null=True, blank=True)
    age_group = models.CharField(max_length=5, choices=AgeGroup.choices, default=AgeGroup.ADULT)
    enrolled_at = models.DateTimeField()
    # sms | push | push_then_sms (study_config.CHANNEL_PREFERENCES); blank: the study's [channels] default.
    channel_preference = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "usubjid"], name="usubjid_unique_in_study")]
        ordering = ["usubjid"]

    def __str__(self):
        return self.usubjid

    @property
    def phone(self) -> str:
        return phones.decrypt(bytes(self.phone_encrypted))

    @property
    def phone_masked(self) -> str:
        return phones.mask(self.phone)

    @property
    def day1(self):
        return windows.day1(self.first_application_at, self.zone) if self.first_application_at else None

    @property
    def opted_out(self) -> bool:
        return self.sms_consent == Consent.OPTED_OUT


class Randomization(models.Model):
    """Arm and stratum: kept apart from Participant so blinded users never load them."""

    participant = models.OneToOneField(Participant, on_delete=models.PROTECT, related_name="randomization")
    arm = models.CharField(max_length=20)
    stratum = models.CharField(max_length=40, blank=True)
    imported_at = models.DateTimeField()

    def __str__(self):
        return f"{self.participant} randomization"


class Visit(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="visits")
    week = models.PositiveSmallIntegerField()
    visit_date = models.DateField(help_text="Actual local date of the visit")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["participant", "week"], name="visit_week_unique")]
        ordering = ["participant", "week"]

    def __str__(self):
        return f"{self.participant} week {self.week}"


class Instrument(models.TextChoices):
    ITCH_NRS = "ITCH_NRS", "Worst itch NRS"
    PROMIS_SD8B = "PROMIS_SD8B", "PROMIS Sleep Disturbance 8b"


class Timepoint(models.TextChoices):
    DAILY = "DAILY", "Daily (evening)"
    H12 = "H12", "12 hours after first application"


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    WEB = "web", "Web diary"
    APP = "app", "Mobile app"
    SITE = "site", "Site correction"


class DiaryRecordQuerySet(models.QuerySet):
    def current(self):
        """Records no other record supersedes: the one current value per key."""
        return self.exclude(Exists(DiaryRecord.objects.filter(supersedes=OuterRef("pk"))))


class DiaryRecord(AppendOnly):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="diary_records")
    instrument = models.CharField(max_length=20, choices=Instrument.choices)
    timepoint = models.CharField(max_length=5, choices=Timepoint.choices, default=Timepoint.DAILY)
    diary_date = models.DateField(help_text="Local diary date (ENDPOINTS.md section 1)")
    # [{"item": 1, "option": 7, "score": 7, "label": "7"}, ...]: the answer as given and its score.
    answers = models.JSONField()
    # {"itch": 7} or {"answered": 8, "raw": 21, "t_score": 51.2}
    derived = models.JSONField(default=dict)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    submitted_at = models.DateTimeField(
        help_text="Server time of the submission (UTC); for a diary the app captured offline, the capture time "
                  "corrected by the device's clock offset"
    )
    # Set only for an offline capture: when the server received it, and the device's clock offset (device minus
    # server, seconds) it was corrected by.
    received_at = models.DateTimeField(null=True, blank=True)
    clock_offset_s = models.FloatField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    reason = models.TextField(blank=True, help_text="Why a site correction was made")

    objects = DiaryRecordQuerySet.as_manager()

    class Meta:
        ordering = ["participant", "diary_date", "instrument", "submitted_at"]
        indexes = [models.Index(fields=["participant", "instrument", "timepoint", "diary_date"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(channel="site") | ~Q(reason=""), name="site_correction_needs_reason"
            ),
        ]

    def __str__(self):
        return f"{self.participant} {self.instrument} {self.timepoint} {self.diary_date}"


class TreatmentEventKind(models.TextChoices):
    CLEARED = "cleared", "Lesions cleared"
    RECURRED = "recurred", "Lesions recurred"
    STOPPED = "stopped", "Stopped treatment"


class TreatmentEvent(AppendOnly):
    """A long-term phase report: clearance, recurrence (with spread), or the stop of treatment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="treatment_events")
    kind = models.CharField(max_length=10, choices=TreatmentEventKind.choices)
    event_date = models.DateField(help_text="Local date of the event")
    new_areas = models.BooleanField(null=True, blank=True)
    extensive = models.BooleanField(null=True, blank=True)
    # The SMS flow asks one question ("any in new areas or extensive?"); the web asks both.
    new_or_extensive = models.BooleanField(null=True, blank=True)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    reported_at = models.DateTimeField()
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )

    class Meta:
        ordering = ["participant", "reported_at"]

    def __str__(self):
        return f"{self.participant} {self.kind} {self.event_date}"


class AlertKind(models.TextChoices):
    LESIONS_SPREAD = "lesions_spread", "Recurrence in new areas or extensive"
    MISSED_DIARIES = "missed_diaries", "Missed diaries"
    OPTED_OUT = "opted_out", "Opted out of SMS"
    UNDELIVERABLE = "undeliverable", "Undeliverable phone number"
    UNKNOWN_SENDER = "unknown_sender", "Text from an unknown number"
    DEVICE_DEACTIVATED = "device_deactivated", "App device no longer reachable by push"
    CLOCK_OFF = "clock_off", "App device clock far off"
    # The study's operator, not a site: carriers refuse the study's sender (30007, 30034) or sending is paused.
    SMS_SENDER = "sms_sender", "Carriers refuse the study's SMS sender (operator)"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    CLOSED = "closed", "Closed"


class Alert(models.Model):
    """Something a site must act on: open -> acknowledged -> closed with a note."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="alerts")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts")
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    # Identifies one occurrence (a recurrence event, a missed-days streak) so it alerts once.
    key = models.CharField(max_length=100)
    detail = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    created_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["study", "kind", "key"], name="alert_once_per_occurrence")]

    def __str__(self):
        return f"{self.get_kind_display()} {self.participant or self.site or ''}".strip()


class AuditEvent(AppendOnly):
    """Who did what to which object, when, with the state before and after and the reason."""

    at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=120, help_text="user:<name>, participant:<USUBJID>, system:<process>")
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.PROTECT)
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.PROTECT)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type}:{self.object_id}"


class DiaryLink(models.Model):
    """One signed web diary link sent to a participant (diaries/patient/web/links.py).

    The token carries only this random nonce (signed, with its time): the participant is
    found here, so no participant id ever appears in a URL. Logging out revokes the link,
    so the same text message cannot open the diary again on a shared phone.
    """

    nonce = models.CharField(max_length=32, unique=True)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="diary_links")
    created_at = models.DateTimeField()
    first_opened_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.participant} link {self.created_at:%Y-%m-%d %H:%M}"


# --- the patient API for mobile apps (diaries/patient/app/) --------


class SignInCode(models.Model):
    """A one-time code texted to a participant to sign in to the app; only its keyed hash is kept.

    Dead once used, expired, superseded by a newer code, or after too many wrong tries.
    """

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="signin_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["participant", "-created_at"])]

    def __str__(self):
        return f"{self.participant} code {self.created_at:%Y-%m-%d %H:%M}"


class PatientToken(models.Model):
    """An app's credential for one participant: random, shown once, stored as a SHA-256 hash.

    Kept apart from rest_framework.authtoken (staff and sponsors), so no staff credential
    opens a patient route and no patient credential opens anything else.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="app_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(max_length=12, help_text="The token's first characters, to recognise it")
    device = models.CharField(max_length=200, blank=True, help_text="What the app said it runs on")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=120, blank=True, help_text="user:<name> or participant:<USUBJID>")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.participant} app token {self.key_prefix}…"


class PushPlatform(models.TextChoices):
    IOS = "ios", "iOS (APNs)"
    ANDROID = "android", "Android (FCM)"


class PushDevice(models.Model):
    """A push notification address an app registered; deactivated when the provider says the token is dead."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="push_devices")
    platform = models.CharField(max_length=10, choices=PushPlatform.choices)
    token = models.CharField(max_length=4096)
    created_at = models.DateTimeField()
    last_registered_at = models.DateTimeField()
    active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivated_reason = models.CharField(max_length=100, blank=True, help_text="e.g. fcm:UNREGISTERED")

    class Meta:
        ordering = ["-last_registered_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "platform", "token"], name="push_device_once"),
        ]

    def __str__(self):
        return f"{self.participant} {self.platform} device"


class AppSubmission(models.Model):
    """The first response to an app request with an Idempotency-Key: a retry gets it back, nothing new."""

    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="app_submissions")
    idempotency_key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=40)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the request: a reused key must match")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "idempotency_key"], name="app_submission_key_once"),
        ]

    def __str__(self):
        return f"{self.participant} {self.endpoint} {self.idempotency_key}"
