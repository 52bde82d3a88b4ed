"""The diary from the app: answer sets sent (through `submit_diary`, channel "app", online or
captured offline) and the history of current records.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import PageNumberPagination

from diaries.diary import OfflineCapture, Reason, Recorded, Refused, submit_diary
from diaries.models import Channel, DiaryRecord, Participant, Timepoint
from diaries.patient.app.base import IDEMPOTENCY_PARAM, LANG_PARAM, TAG, PatientAPIView, _iso, _valid
from diaries.patient.app.errors import ERROR_EXAMPLE, REFUSAL_EXAMPLE, Conflict, PatientErrors, PatientRefusal, _common
from diaries.patient.app.idempotency import idempotency_key, replay_or_perform
from diaries.patient.app.serializers import PatientAnswerSetRecorded, PatientAnswerSetRequest, PatientRecordOut
from diaries.patient.texts import t
from diaries.protocol import windows
from diaries.protocol.dates import format_date


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
