"""The patient API for mobile apps under /api/v1/patient/: the same diary as SMS and the web.

Everything is "me": the participant comes only from the token (diaries/patient/app/auth.py),
never from a URL or a body, so a token cannot reach anyone else's data. Questionnaires
are served from the study configuration, so an app never hard-codes one. Every write
goes through the diaries use cases (`submit_diary`, the treatment reports) with channel
"app": the same windows, supersession, audit and server time stamps as the other paths;
a time the app sends is only echoed.
Writes carry an Idempotency-Key: a retry returns the first response and writes nothing.
Errors are always {"errors": [{"field", "code", "message"}]}.
"""

from __future__ import annotations

import time
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from diaries import participants, treatment
from diaries.diary import OfflineCapture, Reason, Recorded, Refused, current_record, next_opening, submit_diary
from diaries.errors import DiaryNotOpen
from diaries.models import (
    Channel,
    DiaryRecord,
    Participant,
    Phase,
    PushDevice,
    Timepoint,
    TreatmentEvent,
    TreatmentEventKind,
)
from diaries.patient.app import auth as patient_auth
from diaries.patient.app.base import IDEMPOTENCY_PARAM, LANG_PARAM, TAG, PatientAPIView, _day, _iso, _localized, _valid
from diaries.patient.app.errors import (
    ERROR_EXAMPLE,
    REFUSAL_EXAMPLE,
    Conflict,
    PatientErrors,
    PatientRefusal,
    TooManyRequests,
    _common,
)
from diaries.patient.app.idempotency import idempotency_key, replay_or_perform
from diaries.patient.app.serializers import (
    PatientAnswerSetRecorded,
    PatientAnswerSetRequest,
    PatientCodeAccepted,
    PatientCodeRequest,
    PatientDeviceOut,
    PatientDeviceRequest,
    PatientMe,
    PatientMeUpdate,
    PatientRecordOut,
    PatientReportOut,
    PatientReportRecorded,
    PatientReportRequest,
    PatientToday,
    PatientTokenIssued,
    PatientTokenRequest,
)
from diaries.patient.texts import cleared_message, t
from diaries.protocol import windows
from diaries.protocol.dates import format_date
from diaries.today import FLOWS, daily_status, h12_status
from notifications import outbox

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
        started = time.monotonic()
        data = _valid(PatientCodeRequest, request.data)
        try:
            queued = patient_auth.request_code(phone=data["phone"], ip=patient_auth.client_ip(request),
                                               started=started)
        except patient_auth.RateLimited as exc:
            self.rate_limited(exc)
        response = Response({"detail": CODE_SENT}, status=status.HTTP_202_ACCEPTED)
        # Handed to the send task once the answer has gone out (the server closes the response then):
        # nothing the broker does shows in how long an enrolled number takes.
        response._resource_closers.append(lambda: outbox.enqueue_after_commit(queued))
        return response


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


class MeView(PatientAPIView):
    @extend_schema(
        tags=[TAG], operation_id="patient_me", summary="Who I am: study day, phase, language, zone, site contact",
        responses=_common({200: PatientMe}),
        examples=[OpenApiExample("Me", value={
            "usubjid": "TRUE-AD-101-0001", "today": "2026-03-09", "study_day": 2, "day1": "2026-03-08",
            "phase": "vc", "language": "en", "zone": "America/Chicago", "sms_consent": "opted_in",
            "channel_preference": "push_then_sms", "channel_preference_is_default": False,
            "fallback_after_minutes": 30, "push_devices_active": 1,
            "site": {"name": "Lakeside Dermatology Research", "phone": "+13125550101", "hours": "Mon-Fri 8am-5pm"}})],
    )
    def get(self, request):
        return Response(me_for(self.participant))

    @extend_schema(
        tags=[TAG], operation_id="patient_me_update", request=PatientMeUpdate,
        summary="Choose how reminders reach me: sms, push, or push then SMS",
        description="The patient's own choice, audited; the site can change it too. An SMS opt-out (STOP) and the "
                    "app's push devices are independent: the prompt goes by the other channel when the chosen one "
                    "cannot reach the patient.",
        responses=_common({200: PatientMe, 400: PatientErrors}),
        examples=[OpenApiExample("Push, then SMS", request_only=True, value={"channel_preference": "push_then_sms"})],
    )
    def patch(self, request):
        data = _valid(PatientMeUpdate, request.data)
        p = self.participant
        if "channel_preference" in data:
            p = participants.set_channel_preference(participant=p, preference=data["channel_preference"], actor=p,
                                                    source="app")
        return Response(me_for(p))


def me_for(p: Participant) -> dict:
    today = windows.local(timezone.now(), p.zone).date()
    day1 = p.day1
    rules = p.study.rules
    return {
        "usubjid": p.usubjid, "today": today.isoformat(),
        "study_day": windows.study_day(today, day1) if day1 else None, "day1": _day(day1),
        "phase": p.phase, "language": p.language, "zone": p.zone, "sms_consent": p.sms_consent,
        "channel_preference": p.channel_preference or rules.channel_default,
        "channel_preference_is_default": not p.channel_preference,
        "fallback_after_minutes": rules.fallback_after_minutes,
        "push_devices_active": p.push_devices.filter(active=True).count(),
        "site": {"name": p.site.name, "phone": p.site.phone, "hours": p.site.hours},
    }


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
    """What is open now, by the rules the web diary shows and `submit_diary` enforces."""
    daily = daily_status(p, now)
    h12 = h12_status(p, now)
    open_sets = []
    if daily.state in ("open", "done"):
        open_sets += [_answer_set(p, code, Timepoint.DAILY, daily.diary_date, daily.closes_at, lang)
                      for code in FLOWS["today"].instruments]
    if h12 is not None and h12.state in ("open", "done"):
        open_sets += [_answer_set(p, code, Timepoint.H12, p.day1, h12.closes_at, lang)
                      for code in FLOWS["12h"].instruments]
    return {
        "server_time": _iso(now, p.zone), "language": lang, "zone": p.zone,
        "daily": {"state": daily.state,
                  "diary_date": _day(daily.diary_date) if daily.state in ("open", "done") else None,
                  "closes_at": _iso(daily.closes_at, p.zone)},
        "h12": None if h12 is None else {"state": h12.state, "opens_at": _iso(h12.opens_at, p.zone),
                                         "closes_at": _iso(h12.closes_at, p.zone)},
        "open": open_sets,
        "next_window_opens": _iso(next_opening(p, Timepoint.DAILY, now), p.zone),
        "pending": _pending(p, daily, h12),
        "reports": _reports_state(p, lang),
    }


def _pending(p: Participant, daily, h12) -> list[dict]:
    """What still waits for an answer now, and until when (what a push reminds of)."""
    pending = []
    if daily.state == "open":
        pending.append({"kind": "diary", "timepoint": Timepoint.DAILY, "diary_date": _day(daily.diary_date),
                        "until": _iso(daily.closes_at, p.zone)})
    if h12 is not None and h12.state == "open":
        pending.append({"kind": "h12", "timepoint": Timepoint.H12, "diary_date": _day(p.day1),
                        "until": _iso(h12.closes_at, p.zone)})
    return pending


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
            "next_window_opens": "2026-03-10T17:00:00-05:00",
            "pending": [{"kind": "diary", "timepoint": "DAILY", "diary_date": "2026-03-09",
                         "until": "2026-03-10T03:00:00-05:00"}],
            "reports": None})],
    )
    def get(self, request):
        return Response(today_for(self.participant, timezone.now(), self.lang))


def _refusal(refused: Refused, p: Participant) -> exceptions.APIException:
    """A refused diary as the API says it: 400 naming each field, or 409 with when to try again."""
    if refused.reason == Reason.INVALID_ANSWER:
        fields: dict[str, list] = {}
        for problem in refused.problems:
            fields.setdefault(problem.field, []).append(exceptions.ErrorDetail(problem.message, problem.code))
        return exceptions.ValidationError(fields)
    return Conflict(refused.reason, refused.message, _iso(refused.next_opens_at, p.zone))


def _record_out(r: DiaryRecord, p: Participant, lang: str) -> dict:
    inst = p.study.rules.instrument(r.instrument)
    return {
        "record_id": str(r.pk), "instrument": r.instrument, "timepoint": r.timepoint,
        "diary_date": r.diary_date.isoformat(),
        "study_day": windows.study_day(r.diary_date, p.day1) if p.day1 else None,
        "submitted_at": _iso(r.submitted_at, p.zone), "channel": r.channel,
        "received_at": _iso(r.received_at, p.zone), "clock_offset_s": r.clock_offset_s,
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
                    "409 with `next_window_opens`. Validation problems: 400, each naming its field.\n\n"
                    "A set the app captured offline carries `captured_at` and `device_time` (the device's clock at "
                    "capture and at sending): it is dated by the capture time corrected by the device clock's offset, "
                    "and accepted when that lies in a window and the upload arrives within the study's grace period "
                    "(24 h) after the window closed; `submitted_at` is then the corrected capture time and "
                    "`received_at` the server's. Refusals: 409 `outside_window`, `clock_off` (the device clock is "
                    "off by more than the study's limit, 60 min; the site is told), `newer_answer` (a later answer "
                    "for that date is already recorded). Sending the same capture again is harmless (same "
                    "Idempotency-Key: the first response; without one: nothing new is written).",
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
            OpenApiExample("Captured offline at 21:00, sent at 03:10", request_only=True,
                           value={"instrument": "ITCH_NRS", "timepoint": "DAILY", "answers": {"1": 6},
                                  "captured_at": "2026-03-09T21:03:00-05:00",
                                  "device_time": "2026-03-10T03:10:00-05:00"}),
            OpenApiExample("Sleep", request_only=True,
                           value={"instrument": "PROMIS_SD8B", "timepoint": "DAILY",
                                  "answers": {"1": 3, "2": 2, "3": 4, "4": 1, "5": 5, "6": 3, "7": 2, "8": 2}}),
            OpenApiExample("Recorded", response_only=True, status_codes=["201"], value={
                "record_id": "0b8f3a52-3c1e-4b8e-9a4f-7f8d2f1c2e10", "instrument": "ITCH_NRS", "timepoint": "DAILY",
                "diary_date": "2026-03-09", "study_day": 2, "submitted_at": "2026-03-09T19:04:52-05:00",
                "received_at": None, "clock_offset_s": None,
                "channel": "app", "answers": [{"item": 1, "option": 7, "label": "7"}], "corrected": False,
                "closes_at": "2026-03-10T03:00:00-05:00", "client_time": "2026-03-09T19:04:51-05:00",
                "messages": ["Your answers for Monday, March 9, 2026 are saved."]}),
            ERROR_EXAMPLE, REFUSAL_EXAMPLE,
        ],
    )
    def post(self, request):
        p, lang = self.participant, self.lang
        data = _valid(PatientAnswerSetRequest, request.data)
        idempotency_key(request)
        answers = {data["instrument"]: data["answers"]}
        client_time = data.get("client_time")

        offline = None
        if data.get("captured_at") is not None:
            offline = OfflineCapture(device_captured_at=data["captured_at"], device_time_at_upload=data["device_time"])

        def perform():
            result = submit_diary(participant=p, channel=Channel.APP, timepoint=data["timepoint"], answers=answers,
                                  at=timezone.now(), offline=offline)
            if isinstance(result, Refused):
                return result  # audited by submit_diary, not kept as this key's response
            return status.HTTP_201_CREATED, self.recorded(p, result, lang, client_time)

        fingerprint = {"instrument": data["instrument"], "timepoint": data["timepoint"], "answers": data["answers"]}
        if offline is not None:
            fingerprint["captured_at"] = offline.device_captured_at.isoformat()
        result = replay_or_perform(request, p, "answers", fingerprint, perform)
        if isinstance(result, Refused):
            raise _refusal(result, p)
        return result

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
        idempotency_key(request)
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
            return replay_or_perform(request, p, "reports", fingerprint, perform)
        except DiaryNotOpen as exc:
            raise Conflict("diary_not_open", str(exc)) from exc
        except treatment.NoRecurrence as exc:
            raise Conflict("no_recurrence", str(exc)) from exc

    @staticmethod
    def recorded(p: Participant, report: treatment.TreatmentReport, lang: str, client_time) -> dict:
        if report.event.kind == TreatmentEventKind.CLEARED:
            messages = [cleared_message(report, lang)]
        else:
            messages = [t(lang, "skin_back_saved")]
            if report.site_will_call:
                messages.append(t(lang, "site_will_call", site=p.site.name, phone=p.site.phone))
        return _report_out(report.event, p) | {
            "spread_answer_pending": report.spread_answer_pending,
            "keep_treating_until": _day(report.keep_treating_until), "site_will_call": report.site_will_call,
            "client_time": client_time.isoformat() if client_time else None, "messages": messages,
        }


# Push addresses a participant may register (a new phone now and then, not one per request).
MAX_PUSH_DEVICES = 5


class DevicesView(PatientAPIView):
    @extend_schema(
        tags=[TAG], operation_id="patient_devices", request=PatientDeviceRequest,
        summary="Register this device for push reminders",
        description="Prompts then reach this device by push when the participant's channel preference says so "
                    "(`me.channel_preference`). Shown to site staff (never the token). Registering the same token "
                    "again is harmless (200) and reactivates a device the provider had reported unreachable.",
        responses=_common({201: PatientDeviceOut, 200: PatientDeviceOut, 400: PatientErrors,
                           409: OpenApiResponse(PatientErrors, description="Already 5 devices (too_many_devices).")}),
        examples=[OpenApiExample("iOS", request_only=True,
                                 value={"platform": "ios", "token": "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387"
                                                                   "462c7eaf61bb78ad"})],
    )
    def post(self, request):
        p = self.participant
        data = _valid(PatientDeviceRequest, request.data)
        now = timezone.now()
        with transaction.atomic():
            # The participant's row lock: two registrations at once cannot both be the sixth.
            Participant.objects.select_for_update().filter(pk=p.pk).first()
            known = PushDevice.objects.filter(participant=p, platform=data["platform"], token=data["token"])
            if not known.exists() and PushDevice.objects.filter(participant=p, active=True).count() >= MAX_PUSH_DEVICES:
                raise Conflict("too_many_devices", f"At most {MAX_PUSH_DEVICES} devices per participant.")
            device, created = participants.register_push_device(participant=p, platform=data["platform"],
                                                                token=data["token"], at=now)
        return Response({"device_id": device.pk, "platform": device.platform, "registered_at": _iso(now, p.zone)},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
