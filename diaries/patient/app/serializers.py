"""The patient API's request and response shapes (they are its OpenAPI schema); strict JSON types."""

from __future__ import annotations

import re

from drf_spectacular.utils import (
    extend_schema_field,
)
from rest_framework import exceptions, serializers

from diaries.models import (
    Channel,
    Instrument,
    Phase,
    PushPlatform,
    Timepoint,
)
from diaries.patient.texts import LANGUAGES
from diaries.protocol.study_config import CHANNEL_PREFERENCES


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({
    # OpenAPI 3.0 has no propertyNames: that keys are item numbers ("1", "2", ...) is said in words.
    "type": "object", "minProperties": 1, "maxProperties": 50, "additionalProperties": {"type": "integer"},
    "description": "Item number (\"1\", \"2\", ...) -> option number. Which items and options exist comes from "
                   "the study configuration: GET today lists them.",
    "example": {"1": 7},
})
class AnswersField(serializers.DictField):
    child = StrictIntegerField()
    MAX_ITEMS = 50  # the schema's maxProperties

    def to_internal_value(self, data):
        # Item numbers as written once: "01" would be item 1 a second time ({"1": 5, "01": 9}).
        if isinstance(data, dict):
            if len(data) > self.MAX_ITEMS:
                self.fail("too_many")
            if any(not re.fullmatch(r"[1-9][0-9]{0,2}", str(key)) for key in data):
                self.fail("item_key")
        return super().to_internal_value(data)

    default_error_messages = {
        **serializers.DictField.default_error_messages,
        "too_many": f"At most {MAX_ITEMS} items.",
        "item_key": 'Item numbers are written "1", "2", ... (no sign, no leading zero).',
    }


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def pattern_field(pattern: str, message: str, **schema):
    """A string field that must match `pattern` whole, documented with the same pattern."""

    @extend_schema_field({"type": "string", "pattern": pattern, **schema})
    class PatternField(serializers.CharField):
        def __init__(self, **kwargs):
            super().__init__(trim_whitespace=False, **kwargs)

        def to_internal_value(self, data):
            value = super().to_internal_value(data)
            # fullmatch: `$` alone would let a trailing newline through.
            if not re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value):
                raise serializers.ValidationError(exceptions.ErrorDetail(message, "invalid"))
            return value

    return PatternField


PhoneField = pattern_field(r"^\+[1-9][0-9]{6,14}$", "Not a phone number in E.164 form (+ and country code).",
                           example="+13125550111")


CodeField = pattern_field(r"^[0-9]{6}$", "The code has 6 digits.", example="042917")


PushTokenField = pattern_field(r"^[A-Za-z0-9_:.\-]{16,4096}$", "Not an APNs or FCM token.")


class PatientCodeRequest(serializers.Serializer):
    phone = PhoneField(help_text="E.164, e.g. +13125550111.")


class PatientCodeAccepted(serializers.Serializer):
    detail = serializers.CharField()


class PatientTokenRequest(serializers.Serializer):
    phone = PhoneField()
    code = CodeField(help_text="The 6-digit code from the text message.")
    device = serializers.CharField(max_length=200, required=False, allow_blank=True,
                                   help_text="Optional, shown to site staff: e.g. 'iPhone 15, iOS 18.2, app 1.4'.")


class PatientTokenIssued(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`. Shown only this once.")
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_at = serializers.DateTimeField()


class PatientSiteContact(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField()
    hours = serializers.CharField(allow_blank=True)


class PatientMe(serializers.Serializer):
    usubjid = serializers.CharField()
    today = serializers.DateField(help_text="The participant's local date now.")
    study_day = serializers.IntegerField(allow_null=True, help_text="Study day of today (Day 1 = first application; "
                                                                    "no Day 0); null before Day 1 is recorded.")
    day1 = serializers.DateField(allow_null=True)
    phase = serializers.ChoiceField(choices=Phase.choices)
    language = serializers.ChoiceField(choices=list(LANGUAGES), help_text="The participant's own language.")
    zone = serializers.CharField(help_text="IANA time zone: every time in this API is given in it.")
    sms_consent = serializers.ChoiceField(choices=["opted_in", "opted_out"])
    channel_preference = serializers.ChoiceField(
        choices=list(CHANNEL_PREFERENCES),
        help_text="How reminders reach this participant now: sms, push (to this app), or push_then_sms (a push, "
                  "then an SMS if the diary is not started within `fallback_after_minutes`).")
    channel_preference_is_default = serializers.BooleanField(
        help_text="True while neither the participant nor the site chose: the study's default applies.")
    fallback_after_minutes = serializers.IntegerField()
    push_devices_active = serializers.IntegerField(help_text="Devices of this participant that can get pushes.")
    site = PatientSiteContact()


class PatientMeUpdate(serializers.Serializer):
    channel_preference = serializers.ChoiceField(
        choices=[*CHANNEL_PREFERENCES, ""], required=False,
        help_text="sms, push or push_then_sms; an empty string returns to the study's default; left out: unchanged. "
                  "Audited.")


class PatientOption(serializers.Serializer):
    number = serializers.IntegerField(help_text="What the app sends as the answer.")
    label = serializers.CharField()


class PatientItem(serializers.Serializer):
    number = serializers.IntegerField()
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["nrs", "options"], help_text="nrs: a 0..10 scale; options: 1..5.")
    text = serializers.CharField()
    min = serializers.IntegerField(allow_null=True)
    max = serializers.IntegerField(allow_null=True)
    anchor_low = serializers.CharField(allow_blank=True)
    anchor_high = serializers.CharField(allow_blank=True)
    options = PatientOption(many=True)


class PatientCurrentAnswers(serializers.Serializer):
    record_id = serializers.UUIDField()
    submitted_at = serializers.DateTimeField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    answers = serializers.DictField(child=serializers.IntegerField(), help_text="Item number -> option number.")


class PatientAnswerSet(serializers.Serializer):
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    name = serializers.CharField()
    timepoint = serializers.ChoiceField(choices=Timepoint.choices)
    diary_date = serializers.DateField()
    study_day = serializers.IntegerField(allow_null=True)
    closes_at = serializers.DateTimeField()
    language_validated = serializers.BooleanField(help_text="False when this language's texts are a working "
                                                            "translation, not the validated form.")
    items = PatientItem(many=True)
    current = PatientCurrentAnswers(
        allow_null=True,
        help_text="What is recorded for this diary date now, by any channel; sending the set again corrects it.")


class PatientDailyState(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["open", "done", "closed", "not_started", "ended", "over"],
        help_text="open: answer now; done: answered, may still be corrected; closed: outside the window; "
                  "not_started: run-in not begun; ended: long-term phase (reports only); over: diary closed.")
    diary_date = serializers.DateField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)


class PatientH12State(serializers.Serializer):
    state = serializers.ChoiceField(choices=["not_yet", "open", "done", "closed"])
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()


class PatientReportQuestion(serializers.Serializer):
    field = serializers.ChoiceField(choices=["new_areas", "extensive"])
    text = serializers.CharField()


class PatientReportKind(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["cleared", "recurred", "spread"])
    label = serializers.CharField()
    questions = PatientReportQuestion(many=True)


class PatientReportsState(serializers.Serializer):
    kinds = PatientReportKind(many=True)
    spread_answer_pending = serializers.BooleanField(
        help_text="A recurrence (e.g. by SMS) still waits for the follow-up questions: send kind 'spread'.")


class PatientPendingPrompt(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["diary", "h12"], help_text="diary: the evening diary; h12: the 12-hour "
                                                                      "assessment.")
    timepoint = serializers.ChoiceField(choices=Timepoint.choices)
    diary_date = serializers.DateField()
    until = serializers.DateTimeField(help_text="It can be answered until then (the window's close).")


class PatientToday(serializers.Serializer):
    server_time = serializers.DateTimeField()
    language = serializers.ChoiceField(choices=list(LANGUAGES), help_text="Language of the texts below.")
    zone = serializers.CharField()
    daily = PatientDailyState()
    h12 = PatientH12State(allow_null=True, help_text="The 12-hour assessment, from the first application to its close.")
    open = PatientAnswerSet(many=True, help_text="What can be answered now, in order.")
    next_window_opens = serializers.DateTimeField(allow_null=True)
    pending = PatientPendingPrompt(many=True, help_text="What still waits for an answer now and until when: what a "
                                                         "push reminded of (a diary only started is still pending).")
    reports = PatientReportsState(allow_null=True, help_text="Long-term phase only: skin clear / patches back.")


class PatientAnswerSetRequest(serializers.Serializer):
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    timepoint = serializers.ChoiceField(choices=Timepoint.choices, default=Timepoint.DAILY,
                                        help_text="DAILY (the evening diary) or H12 (ITCH_NRS only).")
    answers = AnswersField(
        allow_empty=False,
        help_text="Every item of the instrument: item number (as a string key) -> the option number shown.")
    client_time = serializers.DateTimeField(required=False, allow_null=True,
                                            help_text="Informational only: echoed back, never used. The server "
                                                      "time stamps every record.")
    captured_at = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="Offline capture: when the patient filled this in, by the device's clock, with its offset. Send it "
                  "with `device_time` (both or neither). The server corrects it by the device's clock offset "
                  "(`device_time` minus the server's receipt time) and dates the diary by it; accepted when it lies "
                  "in a window and the upload arrives within the study's grace period (24 h) after that window "
                  "closed. A clock off by more than the study's limit (60 min) is refused (409 clock_off) and the "
                  "site is told.")
    device_time = serializers.DateTimeField(
        required=False, allow_null=True,
        help_text="Offline capture: the device's clock when this request was sent, with its offset.")

    def validate(self, data):
        if (data.get("captured_at") is None) != (data.get("device_time") is None):
            raise serializers.ValidationError({"device_time": ["Send captured_at and device_time together."]})
        return data


class PatientAnswerOut(serializers.Serializer):
    item = serializers.IntegerField()
    option = serializers.IntegerField()
    label = serializers.CharField()


class PatientRecordOut(serializers.Serializer):
    record_id = serializers.UUIDField()
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    timepoint = serializers.ChoiceField(choices=Timepoint.choices)
    diary_date = serializers.DateField()
    study_day = serializers.IntegerField(allow_null=True)
    submitted_at = serializers.DateTimeField(help_text="Server time of the submission; for an offline capture, the "
                                                       "corrected capture time.")
    received_at = serializers.DateTimeField(allow_null=True, help_text="Offline capture only: when the server got it.")
    clock_offset_s = serializers.FloatField(allow_null=True, help_text="Offline capture only: the device clock's "
                                                                       "offset (device minus server), seconds.")
    channel = serializers.ChoiceField(choices=Channel.choices)
    answers = PatientAnswerOut(many=True)


class PatientAnswerSetRecorded(PatientRecordOut):
    corrected = serializers.BooleanField(help_text="True when this replaced earlier answers for the same date.")
    closes_at = serializers.DateTimeField(allow_null=True, help_text="Corrections are possible until then.")
    client_time = serializers.DateTimeField(allow_null=True)
    messages = serializers.ListField(child=serializers.CharField(), help_text="Confirmation to show, localized.")


class PatientReportRequest(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["cleared", "recurred", "spread"],
        help_text="cleared: my skin is clear. recurred: my patches are back (with both follow-up answers, or "
                  "none to answer later). spread: the follow-up answers to an earlier recurrence.")
    new_areas = StrictBooleanField(required=False, allow_null=True, help_text="Are any patches in new areas?")
    extensive = StrictBooleanField(required=False, allow_null=True, help_text="Are any patches extensive?")
    client_time = serializers.DateTimeField(required=False, allow_null=True, help_text="Informational only.")

    def validate(self, attrs):
        given = [f for f in ("new_areas", "extensive") if attrs.get(f) is not None]
        errors = {}
        if attrs["kind"] == "cleared":
            errors = {f: [exceptions.ErrorDetail("Not asked when the skin is clear.", "not_allowed")] for f in given}
        elif attrs["kind"] == "spread" or given:
            errors = {f: [exceptions.ErrorDetail("Answer both follow-up questions.", "required")]
                      for f in ("new_areas", "extensive") if f not in given}
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class PatientReportOut(serializers.Serializer):
    report_id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["cleared", "recurred", "stopped"])
    event_date = serializers.DateField()
    reported_at = serializers.DateTimeField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    new_areas = serializers.BooleanField(allow_null=True)
    extensive = serializers.BooleanField(allow_null=True)


class PatientReportRecorded(PatientReportOut):
    spread_answer_pending = serializers.BooleanField()
    keep_treating_until = serializers.DateField(allow_null=True, help_text="After 'cleared': stop after this date.")
    site_will_call = serializers.BooleanField()
    client_time = serializers.DateTimeField(allow_null=True)
    messages = serializers.ListField(child=serializers.CharField())


class PatientDeviceRequest(serializers.Serializer):
    platform = serializers.ChoiceField(choices=PushPlatform.choices)
    token = PushTokenField(help_text="The APNs device token or FCM registration token.")


class PatientDeviceOut(serializers.Serializer):
    device_id = serializers.IntegerField()
    platform = serializers.ChoiceField(choices=PushPlatform.choices)
    registered_at = serializers.DateTimeField()
