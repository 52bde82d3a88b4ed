"""The patient API for mobile apps under /api/v1/patient/: the same diary as SMS and the web.

Everything is "me": the participant comes only from the token (diaries/patient_auth.py),
never from a URL or a body, so a token cannot reach anyone else's data. Questionnaires
are served from the study configuration, so an app never hard-codes one. Every write
goes through diaries.services with channel "app": the same windows, supersession,
audit and server time stamps as the other paths; a time the app sends is only echoed.
Writes carry an Idempotency-Key: a retry returns the first response and writes nothing.
Errors are always {"errors": [{"field", "code", "message"}]}.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation.trans_real import parse_accept_lang_header
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import audit, patient_auth, treatment, windows
from .diary import Reason, Recorded, Refused, current_record, submit_diary
from .errors import DiaryNotOpen
from .models import (
    AppSubmission,
    Channel,
    DiaryRecord,
    Instrument,
    Participant,
    Phase,
    PushDevice,
    PushPlatform,
    Timepoint,
    TreatmentEvent,
    TreatmentEventKind,
)
from .today import FLOWS, daily_status, h12_status
from .web_texts import LANGUAGES, format_date, t

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,255}$")
TAG = "patient"


# --- errors --------------------------------------------------------------------------------------


class Conflict(exceptions.APIException):
    """A request the diary rules refuse (HTTP 409), with when to try again if that is known."""

    status_code = status.HTTP_409_CONFLICT

    def __init__(self, code: str, message: str, next_window_opens: str | None = None):
        super().__init__(message, code)
        self.error_code, self.next_window_opens = code, next_window_opens


class TooManyRequests(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "rate_limited"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many requests. Try again in {retry_after} seconds.")
        self.retry_after = retry_after


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used for a different request. Use a new key for a new request."


def _flatten(detail, field: str | None = None) -> list[dict]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "detail") else (f"{field}.{key}" if field else str(key))
            out += _flatten(value, name if name is not None else field)
        return out
    if isinstance(detail, list):
        return [e for value in detail for e in _flatten(value, field)]
    return [{"field": field, "code": getattr(detail, "code", None) or "invalid", "message": str(detail)}]


def patient_exception_handler(exc, context):
    """DRF's handling (status, WWW-Authenticate), then one error shape for every patient route."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, Conflict):
        response.data = {"errors": [{"field": None, "code": exc.error_code, "message": str(exc.detail)}],
                         "next_window_opens": exc.next_window_opens}
        return response
    response.data = {"errors": _flatten(exc.detail)}
    if isinstance(exc, TooManyRequests):
        response["Retry-After"] = str(exc.retry_after)
    return response


class PatientError(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Where the problem is: `answers.3`, `phone`, or null.")
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `out_of_range`, `outside_window`.")
    message = serializers.CharField(help_text="For developers and logs, in English.")


class PatientErrors(serializers.Serializer):
    errors = PatientError(many=True)


class PatientRefusal(PatientErrors):
    next_window_opens = serializers.DateTimeField(
        allow_null=True, help_text="When to try again (ISO 8601 with the participant's UTC offset), if known."
    )


ERROR_EXAMPLE = OpenApiExample(
    "Out of range", status_codes=["400"],
    value={"errors": [{"field": "answers.1", "code": "out_of_range", "message": "Must be a whole number 0..10."}]},
)
REFUSAL_EXAMPLE = OpenApiExample(
    "Outside the window", status_codes=["409"],
    value={"errors": [{"field": None, "code": "outside_window",
                       "message": "The diary is open from 17:00 to 03:00."}],
           "next_window_opens": "2026-03-09T17:00:00-05:00"},
)


def _common(responses: dict) -> dict:
    base = {
        400: OpenApiResponse(PatientErrors, description="A parameter or the body is not valid; each error names it."),
        401: OpenApiResponse(PatientErrors, description="No token, or an invalid, expired or revoked one."),
        403: OpenApiResponse(PatientErrors, description="Not a participant token."),
    }
    return base | responses


# --- the base view -------------------------------------------------------------------------------


def _iso(instant: datetime | None, zone: str) -> str | None:
    return windows.local(instant, zone).isoformat(timespec="seconds") if instant else None


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


class PatientAPIView(APIView):
    authentication_classes = [patient_auth.PatientTokenAuthentication]
    permission_classes = [patient_auth.IsPatient]
    parser_classes = [JSONParser]

    def get_exception_handler(self):
        return patient_exception_handler

    # The query parameters each method documents; anything else is refused, so a typo such as
    # ?language=es is an error the app developer sees, not a silent English page.
    query_parameters: dict[str, set[str]] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        unknown = sorted(set(request.query_params) - self.query_parameters.get(request.method, set()))
        if unknown:
            raise exceptions.ValidationError({name: [exceptions.ErrorDetail(
                "Not a parameter of this route.", "unknown_parameter")] for name in unknown[:10]})
        lang = request.query_params.get("lang")
        if lang is not None and lang not in LANGUAGES:
            raise exceptions.ValidationError({"lang": [exceptions.ErrorDetail(
                f"One of {', '.join(LANGUAGES)}.", "invalid_choice")]})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Health data: never kept by a shared proxy or the device's HTTP cache.
        response["Cache-Control"] = "no-store, private"
        patch_vary_headers(response, ["Authorization", "Accept-Language"])
        return response

    @property
    def participant(self) -> Participant:
        return self.request.user.participant

    @property
    def lang(self) -> str:
        """?lang=, else Accept-Language, else the participant's language (en, es)."""
        offered = set(LANGUAGES) & set(self.participant.study.rules.languages)
        chosen = self.request.query_params.get("lang")
        if chosen in offered:
            return chosen
        for code, _q in parse_accept_lang_header(self.request.META.get("HTTP_ACCEPT_LANGUAGE", "")[:200]):
            base = code.split("-")[0].lower()
            if base in offered:
                return base
        return self.participant.language if self.participant.language in offered else "en"

    def iso(self, instant):
        return _iso(instant, self.participant.zone)


LANG_PARAM = OpenApiParameter(
    "lang", str, enum=list(LANGUAGES), required=False,
    description="Language of the texts; overrides Accept-Language and the participant's own language.",
)
IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key", str, location=OpenApiParameter.HEADER, required=True, pattern=IDEMPOTENCY_KEY.pattern,
    description="A new random value (a UUID) per answer set or report. Sending the same request again with the "
                "same key returns the first response (header `Idempotent-Replayed: true`) and records nothing.",
)


def _localized(texts: dict[str, str], lang: str) -> str:
    return texts.get(lang) or texts.get("en", "")


# --- strict JSON types: no "7" for 7, no 1 for true ---------------------------------------------


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


# --- sign-in -------------------------------------------------------------------------------------


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


CODE_SENT = "If this number is enrolled and may receive texts, a sign-in code is on its way. It works for 10 minutes."
SIGNIN_FAILED = "The code is wrong, used or expired. Ask for a new code."


class AuthView(PatientAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def rate_limited(self, exc: patient_auth.RateLimited):
        raise TooManyRequests(exc.retry_after) from exc


class CodeView(AuthView):
    @extend_schema(
        tags=[TAG], auth=[], operation_id="patient_auth_code", request=PatientCodeRequest,
        summary="Text a sign-in code to a phone number",
        description="Always 202 with the same body, enrolled or not: the reply never says whether a number takes "
                    "part. Only enrolled participants who may be texted get a code (6 digits, 10 minutes, 5 tries; "
                    "a new code replaces the previous one). Limited per number and per client address (429).",
        responses={202: PatientCodeAccepted, 400: PatientErrors,
                   429: OpenApiResponse(PatientErrors, description="Too many requests; see Retry-After.")},
        examples=[OpenApiExample("Request", value={"phone": "+13125550111"}, request_only=True),
                  OpenApiExample("Accepted", value={"detail": CODE_SENT}, response_only=True, status_codes=["202"])],
    )
    def post(self, request):
        data = _valid(PatientCodeRequest, request.data)
        try:
            patient_auth.request_code(phone=data["phone"], ip=patient_auth.client_ip(request))
        except patient_auth.RateLimited as exc:
            self.rate_limited(exc)
        return Response({"detail": CODE_SENT}, status=status.HTTP_202_ACCEPTED)


class TokenView(AuthView):
    @extend_schema(
        tags=[TAG], auth=[], operation_id="patient_auth_token", request=PatientTokenRequest,
        summary="Exchange the texted code for a participant token",
        description="One generic 400 for every failure (wrong, used, expired or dead code, unknown number). "
                    "After 5 wrong tries the code is dead: ask for a new one.",
        responses={201: PatientTokenIssued, 400: PatientErrors,
                   429: OpenApiResponse(PatientErrors, description="Too many tries from this address.")},
        examples=[
            OpenApiExample("Request", request_only=True,
                           value={"phone": "+13125550111", "code": "042917", "device": "Pixel 8, Android 15"}),
            OpenApiExample("Token", response_only=True, status_codes=["201"],
                           value={"token": "ept_3q2-7wGmQ0e1h8n6c4JtX1bY5pZ0sV9uK2rL7aD4fE8", "token_type": "Bearer",
                                  "expires_at": "2026-04-08T18:02:11-05:00"}),
            OpenApiExample("Wrong code", response_only=True, status_codes=["400"],
                           value={"errors": [{"field": None, "code": "invalid_code", "message": SIGNIN_FAILED}]}),
        ],
    )
    def post(self, request):
        data = _valid(PatientTokenRequest, request.data)
        try:
            token, raw = patient_auth.exchange_code(phone=data["phone"], code=data["code"],
                                                    ip=patient_auth.client_ip(request), device=data.get("device", ""))
        except patient_auth.RateLimited as exc:
            self.rate_limited(exc)
        except patient_auth.SignInFailed as exc:
            raise exceptions.ValidationError(exceptions.ErrorDetail(SIGNIN_FAILED, "invalid_code")) from exc
        return Response({"token": raw, "token_type": "Bearer",
                         "expires_at": _iso(token.expires_at, token.participant.zone)},
                        status=status.HTTP_201_CREATED)


class LogoutView(PatientAPIView):
    @extend_schema(tags=[TAG], operation_id="patient_auth_logout", request=None, summary="Revoke this token",
                   responses=_common({204: None}))
    def post(self, request):
        patient_auth.log_out(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- me ------------------------------------------------------------------------------------------


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
    site = PatientSiteContact()


class MeView(PatientAPIView):
    @extend_schema(
        tags=[TAG], operation_id="patient_me", summary="Who I am: study day, phase, language, zone, site contact",
        responses=_common({200: PatientMe}),
        examples=[OpenApiExample("Me", value={
            "usubjid": "TRUE-AD-101-0001", "today": "2026-03-09", "study_day": 2, "day1": "2026-03-08",
            "phase": "vc", "language": "en", "zone": "America/Chicago", "sms_consent": "opted_in",
            "site": {"name": "Lakeside Dermatology Research", "phone": "+13125550101", "hours": "Mon-Fri 8am-5pm"}})],
    )
    def get(self, request):
        p = self.participant
        today = windows.local(timezone.now(), p.zone).date()
        day1 = p.day1
        return Response({
            "usubjid": p.usubjid, "today": today.isoformat(),
            "study_day": windows.study_day(today, day1) if day1 else None, "day1": _day(day1),
            "phase": p.phase, "language": p.language, "zone": p.zone, "sms_consent": p.sms_consent,
            "site": {"name": p.site.name, "phone": p.site.phone, "hours": p.site.hours},
        })


# --- today ---------------------------------------------------------------------------------------


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


class PatientToday(serializers.Serializer):
    server_time = serializers.DateTimeField()
    language = serializers.ChoiceField(choices=list(LANGUAGES), help_text="Language of the texts below.")
    zone = serializers.CharField()
    daily = PatientDailyState()
    h12 = PatientH12State(allow_null=True, help_text="The 12-hour assessment, from the first application to its close.")
    open = PatientAnswerSet(many=True, help_text="What can be answered now, in order.")
    next_window_opens = serializers.DateTimeField(allow_null=True)
    reports = PatientReportsState(allow_null=True, help_text="Long-term phase only: skin clear / patches back.")


def _answer_set(p: Participant, code: str, timepoint: str, diary_date: date, closes_at, lang: str) -> dict:
    inst = p.study.rules.instrument(code)
    current = current_record(p, code, timepoint, diary_date)
    items = []
    for item in inst.items:
        options = ([{"number": k, "label": str(k)} for k in item.choices] if item.kind == "nrs" else
                   [{"number": o.number, "label": _localized(o.labels, lang)} for o in item.options])
        items.append({
            "number": item.number, "id": item.id, "kind": item.kind, "text": item.question(lang, timepoint),
            "min": item.choices.start, "max": item.choices.stop - 1,
            "anchor_low": _localized(item.anchor_low, lang), "anchor_high": _localized(item.anchor_high, lang),
            "options": options,
        })
    return {
        "instrument": code, "name": inst.name, "timepoint": timepoint, "diary_date": diary_date.isoformat(),
        "study_day": windows.study_day(diary_date, p.day1) if p.day1 else None, "closes_at": _iso(closes_at, p.zone),
        "language_validated": lang not in inst.not_validated, "items": items,
        "current": None if current is None else {
            "record_id": str(current.pk), "submitted_at": _iso(current.submitted_at, p.zone),
            "channel": current.channel, "answers": {str(a["item"]): a["option"] for a in current.answers},
        },
    }


def _reports_state(p: Participant, lang: str) -> dict | None:
    if p.phase != Phase.LONG_TERM:
        return None
    questions = [{"field": "new_areas", "text": t(lang, "q_new_areas")},
                 {"field": "extensive", "text": t(lang, "q_extensive")}]
    return {
        "kinds": [{"kind": "cleared", "label": t(lang, "skin_clear"), "questions": []},
                  {"kind": "recurred", "label": t(lang, "skin_back"), "questions": questions},
                  {"kind": "spread", "label": t(lang, "skin_back"), "questions": questions}],
        "spread_answer_pending": treatment.spread_answer_pending(p),
    }


def today_for(p: Participant, now: datetime, lang: str) -> dict:
    """What is open now, by the rules the web diary shows and the services enforce."""
    rules = p.study.rules
    window = windows.Window.of(rules)
    daily = daily_status(p, now)
    h12 = h12_status(p, now)
    open_sets = []
    if daily.state in ("open", "done"):
        open_sets += [_answer_set(p, code, Timepoint.DAILY, daily.diary_date, daily.closes_at, lang)
                      for code in FLOWS["today"].instruments]
    if h12 is not None and h12.state in ("open", "done"):
        open_sets += [_answer_set(p, code, Timepoint.H12, p.day1, h12.closes_at, lang)
                      for code in FLOWS["12h"].instruments]
    next_opens = None
    if daily.state == "closed":
        next_opens = daily.next_opens_at
    elif daily.state in ("open", "done"):
        next_opens = windows.window_bounds(daily.diary_date + timedelta(days=1), p.zone, window)[0]
    elif daily.state == "not_started":
        next_opens = windows.wall_clock(p.runin_start, window.opens, p.zone)
    return {
        "server_time": _iso(now, p.zone), "language": lang, "zone": p.zone,
        "daily": {"state": daily.state,
                  "diary_date": _day(daily.diary_date) if daily.state in ("open", "done") else None,
                  "closes_at": _iso(daily.closes_at, p.zone)},
        "h12": None if h12 is None else {"state": h12.state, "opens_at": _iso(h12.opens_at, p.zone),
                                         "closes_at": _iso(h12.closes_at, p.zone)},
        "open": open_sets,
        "next_window_opens": _iso(next_opens, p.zone),
        "reports": _reports_state(p, lang),
    }


class TodayView(PatientAPIView):
    query_parameters = {"GET": {"lang"}}

    @extend_schema(
        tags=[TAG], operation_id="patient_today", parameters=[LANG_PARAM], responses=_common({200: PatientToday}),
        summary="What is open now, with the questionnaires to show",
        description="Each open answer set comes with its items, texts, options (the numbers to send back) and "
                    "anchors in the chosen language, straight from the study configuration, and with the answers "
                    "already recorded for this diary date by any channel. Times carry the participant's offset.",
        examples=[OpenApiExample("Evening, diary open", value={
            "server_time": "2026-03-09T19:02:00-05:00", "language": "en", "zone": "America/Chicago",
            "daily": {"state": "open", "diary_date": "2026-03-09", "closes_at": "2026-03-10T03:00:00-05:00"},
            "h12": None,
            "open": [{"instrument": "ITCH_NRS", "name": "Worst itch NRS", "timepoint": "DAILY",
                      "diary_date": "2026-03-09", "study_day": 2, "closes_at": "2026-03-10T03:00:00-05:00",
                      "language_validated": True,
                      "items": [{"number": 1, "id": "ITCH01", "kind": "nrs", "min": 0, "max": 10,
                                 "text": "On a scale of 0 to 10, how bad was your itch at its worst in the past "
                                         "24 hours? 0 = no itch, 10 = worst itch imaginable.",
                                 "anchor_low": "No itch", "anchor_high": "Worst itch imaginable",
                                 "options": [{"number": 0, "label": "0"}, {"number": 10, "label": "10"}]}],
                      "current": None}],
            "next_window_opens": "2026-03-10T17:00:00-05:00", "reports": None})],
    )
    def get(self, request):
        return Response(today_for(self.participant, timezone.now(), self.lang))


# --- idempotent writes ---------------------------------------------------------------------------


def _idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not IDEMPOTENCY_KEY.match(key):
        raise exceptions.ValidationError({"Idempotency-Key": [exceptions.ErrorDetail(
            "Required: 8 to 255 visible ASCII characters, new for every request (a UUID).",
            "required" if not key else "invalid")]})
    return key


def _replay_or_perform(request, p: Participant, endpoint: str, fingerprint: dict, perform) -> Response:
    """Run `perform` once per Idempotency-Key and participant; a retry gets the stored response.

    The participant's row lock serialises two copies of one request arriving together; the
    unique key is the backstop. Only successes are stored: a refused request recorded
    nothing (its refusal is audited), so trying it again is harmless.
    """
    key = _idempotency_key(request)
    request_hash = hashlib.sha256(json.dumps([endpoint, fingerprint], sort_keys=True, default=str).encode()).hexdigest()
    try:
        with transaction.atomic():
            Participant.objects.select_for_update().filter(pk=p.pk).first()
            prior = AppSubmission.objects.filter(participant=p, idempotency_key=key).first()
            if prior is None:
                outcome = perform()
                if isinstance(outcome, Refused):
                    refused = outcome  # committed with its audit event; raised below, outside the transaction
                else:
                    code, body = outcome
                    AppSubmission.objects.create(participant=p, idempotency_key=key, endpoint=endpoint,
                                                 request_hash=request_hash, status_code=code, response=body,
                                                 created_at=timezone.now())
                    return Response(body, status=code)
    except IntegrityError:
        # The same key committed by a parallel copy of this request between our check and insert.
        prior = AppSubmission.objects.filter(participant=p, idempotency_key=key).first()
        if prior is None:
            raise
    if prior is None:
        raise _refusal(refused, p)
    if prior.endpoint != endpoint or prior.request_hash != request_hash:
        raise KeyReused()
    return Response(prior.response, status=prior.status_code, headers={"Idempotent-Replayed": "true"})


def _refusal(refused: Refused, p: Participant) -> exceptions.APIException:
    """A refused diary as the API says it: 400 naming each field, or 409 with when to try again."""
    if refused.reason == Reason.INVALID_ANSWER:
        fields: dict[str, list] = {}
        for problem in refused.problems:
            fields.setdefault(problem.field, []).append(exceptions.ErrorDetail(problem.message, problem.code))
        return exceptions.ValidationError(fields)
    return Conflict(refused.reason, refused.message, _iso(refused.next_opens_at, p.zone))


# --- answers -------------------------------------------------------------------------------------


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
    submitted_at = serializers.DateTimeField(help_text="Server time of the submission.")
    channel = serializers.ChoiceField(choices=Channel.choices)
    answers = PatientAnswerOut(many=True)


class PatientAnswerSetRecorded(PatientRecordOut):
    corrected = serializers.BooleanField(help_text="True when this replaced earlier answers for the same date.")
    closes_at = serializers.DateTimeField(allow_null=True, help_text="Corrections are possible until then.")
    client_time = serializers.DateTimeField(allow_null=True)
    messages = serializers.ListField(child=serializers.CharField(), help_text="Confirmation to show, localized.")


def _record_out(r: DiaryRecord, p: Participant, lang: str) -> dict:
    inst = p.study.rules.instrument(r.instrument)
    return {
        "record_id": str(r.pk), "instrument": r.instrument, "timepoint": r.timepoint,
        "diary_date": r.diary_date.isoformat(),
        "study_day": windows.study_day(r.diary_date, p.day1) if p.day1 else None,
        "submitted_at": _iso(r.submitted_at, p.zone), "channel": r.channel,
        "answers": [{"item": a["item"], "option": a["option"],
                     "label": inst.item(a["item"]).label_of(a["option"], lang)} for a in r.answers],
    }


class AnswersView(PatientAPIView):
    query_parameters = {"POST": {"lang"}}

    @extend_schema(
        tags=[TAG], operation_id="patient_answers", request=PatientAnswerSetRequest,
        parameters=[IDEMPOTENCY_PARAM, LANG_PARAM],
        summary="Send an answer set (one instrument, every item)",
        description="Recorded exactly as by SMS or the web diary: the server decides the diary date from its own "
                    "clock and the participant's zone (evening window 17:00-03:00 local; H12 from 10 to 14 hours "
                    "after the first application). Sending a set again for the same date while the window is open "
                    "is a correction: the new record supersedes the earlier one, which is kept. Outside the window: "
                    "409 with `next_window_opens`. Validation problems: 400, each naming its field.",
        responses=_common({
            201: PatientAnswerSetRecorded,
            200: OpenApiResponse(PatientAnswerSetRecorded, description="A retry: the first response again."),
            400: PatientErrors,
            409: OpenApiResponse(PatientRefusal, description="Outside the window or diary not open."),
            422: OpenApiResponse(PatientErrors, description="The Idempotency-Key was used for another request."),
        }),
        examples=[
            OpenApiExample("Itch", request_only=True,
                           value={"instrument": "ITCH_NRS", "timepoint": "DAILY", "answers": {"1": 7},
                                  "client_time": "2026-03-09T19:04:51-05:00"}),
            OpenApiExample("Sleep", request_only=True,
                           value={"instrument": "PROMIS_SD8B", "timepoint": "DAILY",
                                  "answers": {"1": 3, "2": 2, "3": 4, "4": 1, "5": 5, "6": 3, "7": 2, "8": 2}}),
            OpenApiExample("Recorded", response_only=True, status_codes=["201"], value={
                "record_id": "0b8f3a52-3c1e-4b8e-9a4f-7f8d2f1c2e10", "instrument": "ITCH_NRS", "timepoint": "DAILY",
                "diary_date": "2026-03-09", "study_day": 2, "submitted_at": "2026-03-09T19:04:52-05:00",
                "channel": "app", "answers": [{"item": 1, "option": 7, "label": "7"}], "corrected": False,
                "closes_at": "2026-03-10T03:00:00-05:00", "client_time": "2026-03-09T19:04:51-05:00",
                "messages": ["Your answers for Monday, March 9, 2026 are saved."]}),
            ERROR_EXAMPLE, REFUSAL_EXAMPLE,
        ],
    )
    def post(self, request):
        p, lang = self.participant, self.lang
        data = _valid(PatientAnswerSetRequest, request.data)
        _idempotency_key(request)
        answers = {data["instrument"]: data["answers"]}
        client_time = data.get("client_time")

        def perform():
            result = submit_diary(participant=p, channel=Channel.APP, timepoint=data["timepoint"], answers=answers,
                                  at=timezone.now())
            if isinstance(result, Refused):
                return result  # audited by submit_diary, not kept as this key's response
            return status.HTTP_201_CREATED, self.recorded(p, result, lang, client_time)

        fingerprint = {"instrument": data["instrument"], "timepoint": data["timepoint"], "answers": data["answers"]}
        return _replay_or_perform(request, p, "answers", fingerprint, perform)

    @staticmethod
    def recorded(p: Participant, result: Recorded, lang: str, client_time) -> dict:
        record = result.records[0]
        if record.timepoint == Timepoint.H12:
            closes, messages = windows.h12_window(p.first_application_at, p.study.rules).closes, [t(lang, "h12_saved")]
        else:
            closes = windows.window_bounds(record.diary_date, p.zone, windows.Window.of(p.study.rules))[1]
            key = "done_corrected" if result.corrected else "done_saved"
            messages = [t(lang, key, date=format_date(record.diary_date, lang))]
        return _record_out(record, p, lang) | {
            "corrected": result.corrected, "closes_at": _iso(closes, p.zone),
            "client_time": client_time.isoformat() if client_time else None, "messages": messages,
        }


# --- history -------------------------------------------------------------------------------------


class HistoryPages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    class Query(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, required=False)
        page_size = serializers.IntegerField(min_value=1, max_value=200, required=False)

    def paginate_queryset(self, queryset, request, view=None):
        # Strict, as documented: DRF would quietly ignore a page_size of "false".
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        limits = {"page": {"minimum": 1}, "page_size": {"minimum": 1, "maximum": self.max_page_size}}
        for parameter in parameters:
            parameter["schema"].update(limits.get(parameter["name"], {}))
        return parameters


class HistoryView(PatientAPIView):
    query_parameters = {"GET": {"lang", "page", "page_size"}}

    pagination_class = HistoryPages  # read by the schema generator

    @extend_schema(
        tags=[TAG], operation_id="patient_history", parameters=[LANG_PARAM],
        summary="My current diary records, newest diary date first",
        description="Only current records: an answer that was corrected shows as its correction.",
        responses=_common({200: PatientRecordOut(many=True), 404: OpenApiResponse(PatientErrors,
                                                                             description="No such page.")}),
    )
    def get(self, request):
        p, lang = self.participant, self.lang
        records = (DiaryRecord.objects.current().filter(participant=p)
                   .order_by("-diary_date", "timepoint", "instrument", "-submitted_at"))
        pages = HistoryPages()
        page = pages.paginate_queryset(records, request, view=self)
        return pages.get_paginated_response([_record_out(r, p, lang) for r in page])


# --- long-term reports ---------------------------------------------------------------------------


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


def _report_out(e: TreatmentEvent, p: Participant) -> dict:
    return {"report_id": str(e.pk), "kind": e.kind, "event_date": e.event_date.isoformat(),
            "reported_at": _iso(e.reported_at, p.zone), "channel": e.channel, "new_areas": e.new_areas,
            "extensive": e.extensive}


class ReportsView(PatientAPIView):
    query_parameters = {"POST": {"lang"}}

    @extend_schema(
        tags=[TAG], operation_id="patient_reports_list", summary="My skin reports (long-term phase)",
        responses=_common({200: PatientReportOut(many=True)}),
    )
    def get(self, request):
        p = self.participant
        events = TreatmentEvent.objects.filter(participant=p, superseded_by__isnull=True).order_by("-reported_at")
        return Response([_report_out(e, p) for e in events])

    @extend_schema(
        tags=[TAG], operation_id="patient_reports_create", request=PatientReportRequest,
        parameters=[IDEMPOTENCY_PARAM, LANG_PARAM], summary="Report skin clear / patches back (long-term phase)",
        description="As the SMS keywords CLEAR and FLARE and the web diary: a clearance starts the stop-treatment "
                    "countdown; a recurrence answered 'yes' to new areas or extensive alerts the site, which will "
                    "call. Outside the long-term phase: 409 `diary_not_open`; 'spread' without a recurrence "
                    "waiting for its answers: 409 `no_recurrence`.",
        responses=_common({
            201: PatientReportRecorded,
            200: OpenApiResponse(PatientReportRecorded, description="A retry: the first response."),
            400: PatientErrors, 409: PatientRefusal,
            422: OpenApiResponse(PatientErrors, description="The Idempotency-Key was used for another request."),
        }),
        examples=[
            OpenApiExample("Clear", request_only=True, value={"kind": "cleared"}),
            OpenApiExample("Back, with follow-up", request_only=True,
                           value={"kind": "recurred", "new_areas": True, "extensive": False}),
        ],
    )
    def post(self, request):
        p, lang = self.participant, self.lang
        data = _valid(PatientReportRequest, request.data)
        _idempotency_key(request)
        kind, new_areas, extensive = data["kind"], data.get("new_areas"), data.get("extensive")
        client_time = data.get("client_time")

        def perform():
            now = timezone.now()
            if kind == "cleared":
                report = treatment.report_clearance(participant=p, channel=Channel.APP, at=now)
            elif kind == "recurred":
                report = treatment.report_recurrence(participant=p, channel=Channel.APP, at=now, new_areas=new_areas,
                                                     extensive=extensive)
            else:
                report = treatment.answer_spread(participant=p, channel=Channel.APP, at=now,
                                                 new_or_extensive=new_areas or extensive, new_areas=new_areas,
                                                 extensive=extensive)
            return status.HTTP_201_CREATED, self.recorded(p, report, lang, client_time)

        fingerprint = {"kind": kind, "new_areas": new_areas, "extensive": extensive}
        try:
            return _replay_or_perform(request, p, "reports", fingerprint, perform)
        except DiaryNotOpen as exc:
            raise Conflict("diary_not_open", str(exc)) from exc
        except treatment.NoRecurrence as exc:
            raise Conflict("no_recurrence", str(exc)) from exc

    @staticmethod
    def recorded(p: Participant, report: treatment.TreatmentReport, lang: str, client_time) -> dict:
        if report.event.kind == TreatmentEventKind.CLEARED:
            messages = [t(lang, "skin_clear_saved", date=format_date(report.keep_treating_until, lang))]
        else:
            messages = [t(lang, "skin_back_saved")]
            if report.site_will_call:
                messages.append(t(lang, "site_will_call", site=p.site.name, phone=p.site.phone))
        return _report_out(report.event, p) | {
            "spread_answer_pending": report.spread_answer_pending,
            "keep_treating_until": _day(report.keep_treating_until), "site_will_call": report.site_will_call,
            "client_time": client_time.isoformat() if client_time else None, "messages": messages,
        }


# --- push devices --------------------------------------------------------------------------------


class PatientDeviceRequest(serializers.Serializer):
    platform = serializers.ChoiceField(choices=PushPlatform.choices)
    token = PushTokenField(help_text="The APNs device token or FCM registration token.")


class PatientDeviceOut(serializers.Serializer):
    device_id = serializers.IntegerField()
    platform = serializers.ChoiceField(choices=PushPlatform.choices)
    registered_at = serializers.DateTimeField()


class DevicesView(PatientAPIView):
    @extend_schema(
        tags=[TAG], operation_id="patient_devices", request=PatientDeviceRequest,
        summary="Register this device for push reminders",
        description="Stored and shown to site staff; no push is sent yet. Registering the same token again is "
                    "harmless (200).",
        responses=_common({201: PatientDeviceOut, 200: PatientDeviceOut, 400: PatientErrors}),
        examples=[OpenApiExample("iOS", request_only=True,
                                 value={"platform": "ios", "token": "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387"
                                                                   "462c7eaf61bb78ad"})],
    )
    def post(self, request):
        p = self.participant
        data = _valid(PatientDeviceRequest, request.data)
        now = timezone.now()
        with transaction.atomic():
            device, created = PushDevice.objects.get_or_create(
                participant=p, platform=data["platform"], token=data["token"],
                defaults={"created_at": now, "last_registered_at": now})
            if created:
                audit.log(actor=p, action="app.device_register", obj=device, after={"platform": device.platform})
            else:
                PushDevice.objects.filter(pk=device.pk).update(last_registered_at=now)
        return Response({"device_id": device.pk, "platform": device.platform, "registered_at": _iso(now, p.zone)},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

