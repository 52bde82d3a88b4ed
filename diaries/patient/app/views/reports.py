"""Skin reports of the long-term phase from the app: clearance, recurrence and its spread answer,
through the treatment use cases as SMS and the web diary.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from diaries import treatment
from diaries.errors import DiaryNotOpen
from diaries.models import Channel, Participant, TreatmentEvent, TreatmentEventKind
from diaries.patient.app.base import IDEMPOTENCY_PARAM, LANG_PARAM, TAG, PatientAPIView, _day, _iso, _valid
from diaries.patient.app.errors import Conflict, PatientErrors, PatientRefusal, _common
from diaries.patient.app.idempotency import idempotency_key, replay_or_perform
from diaries.patient.app.serializers import PatientReportOut, PatientReportRecorded, PatientReportRequest
from diaries.patient.texts import cleared_message, t


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
