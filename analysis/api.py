"""The sponsor REST API: exports (list, request, status, download) and pseudonymised diary records.

Token authentication; sponsors and unblinded statisticians only (analysis.access.can_use_sponsor_api).
Read-only except requesting an export. Arms only for users with diaries.view_randomization:
an export's blinding is fixed when it is requested, and blinded users never see an
unblinded export (it is not in their queryset: 404, not 403, so its existence stays hidden).
"""

from __future__ import annotations

import mimetypes

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from diaries.models import Study

from . import fhir, selectors
from .access import can_use_sponsor_api
from .export import UnrandomizedParticipants
from .export_jobs import ExportRefused, FileChanged, open_export_file, request_export
from .serializers import (
    DiaryRecordFilterSerializer,
    DiaryRecordSerializer,
    ExportAcceptedSerializer,
    ExportRequestSerializer,
    ExportSerializer,
)


class IsSponsorOrStatistician(BasePermission):
    message = "Only sponsor users and unblinded statisticians may use this API."

    def has_permission(self, request, view):
        return can_use_sponsor_api(request.user)


PERMISSIONS = [IsAuthenticated, IsSponsorOrStatistician]


class Pagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ExportList(generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = ExportSerializer
    pagination_class = Pagination

    def get_queryset(self):
        return selectors.exports_for(self.request.user)

    @extend_schema(
        summary="List exports",
        description="The exports this user may see, newest first. Blinded users never see unblinded exports.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Request an export",
        description=(
            "Queue a data transfer (ENDPOINTS.md section 5: inputs, endpoint outputs, qs, report.html with plots, "
            "the long-term cycles dataset and manifest.json with SHA-256 per file). It runs as a background task; "
            "poll the returned URL until `status` is `done` (or `failed`). `unblinded: true` needs the permission "
            "to see the randomization (403 otherwise); any other export is blinded: ARM empty, summaries pooled. "
            "An unblinded request is refused (400, with the list: USUBJID, site, Day 1) when participants of the "
            "analysis set have no randomization, unless `exclude_unrandomized: true` leaves them out explicitly."
        ),
        request=ExportRequestSerializer,
        responses={202: ExportAcceptedSerializer,
                   400: OpenApiResponse(description="Invalid request, or unrandomized participants (listed)"),
                   403: OpenApiResponse(description="Not allowed (e.g. unblinded by a blinded user)")},
        examples=[
            OpenApiExample("Blinded CSV and Parquet", value={"formats": ["csv", "parquet"], "as_of": "2026-05-03"},
                           request_only=True),
            OpenApiExample("Unblinded (statisticians)", value={"formats": ["csv", "xpt"], "unblinded": True},
                           request_only=True),
            OpenApiExample("Accepted", value={"id": "7d7f3f0e-1b7e-4a34-9a52-0d5a0f7c0b4e", "status": "queued",
                                              "url": "https://eprp.example/api/v1/exports/"
                                                     "7d7f3f0e-1b7e-4a34-9a52-0d5a0f7c0b4e/"},
                           response_only=True, status_codes=["202"]),
        ],
    )
    def post(self, request):
        data = ExportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        study = _study(data.validated_data.get("study"))
        try:
            export = request_export(user=request.user, study=study, formats=data.validated_data["formats"],
                                    unblinded=data.validated_data["unblinded"], as_of=data.validated_data["as_of"],
                                    exclude_unrandomized=data.validated_data["exclude_unrandomized"])
        except ExportRefused as exc:
            raise PermissionDenied(str(exc)) from exc
        except UnrandomizedParticipants as exc:
            # Never pooled by accident: the caller randomizes them or excludes them explicitly.
            return Response({"detail": str(exc), "unrandomized": exc.participants}, status=status.HTTP_400_BAD_REQUEST)
        body = ExportSerializer(export, context={"request": request}).data
        return Response({"id": body["id"], "status": body["status"], "url": body["url"]},
                        status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


def _study(code: str | None) -> Study:
    studies = Study.objects.filter(code=code) if code else Study.objects.all()
    if code and not studies.exists():
        raise ValidationError({"study": f"unknown study {code!r}"})
    if studies.count() != 1:
        raise ValidationError({"study": "name the study (there is more than one)"})
    return studies.get()


@extend_schema(
    summary="Export status",
    description="Poll until `status` is `done` (the manifest and the file URLs appear) or `failed` (see `error`).",
)
class ExportDetail(generics.RetrieveAPIView):
    permission_classes = PERMISSIONS
    serializer_class = ExportSerializer

    def get_queryset(self):
        return selectors.exports_for(self.request.user)


class ExportFile(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        summary="Download an export file",
        description=(
            "Streams one file of a finished export. Only the names listed in its manifest are served (404 "
            "otherwise). The file is checked against its manifest SHA-256 first (409 if it no longer matches); "
            "the download is audit-logged with the checksum, which is also sent as `X-Content-SHA256`."
        ),
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                   404: OpenApiResponse(description="No such export or file"),
                   409: OpenApiResponse(description="Export not finished, or the file changed since the export")},
    )
    def get(self, request, pk, name):
        export = get_object_or_404(selectors.exports_for(request.user), pk=pk)
        if export.status != "done":
            return Response({"detail": f"export is {export.status}"}, status=status.HTTP_409_CONFLICT)
        try:
            path, sha256 = open_export_file(export=export, name=name, user=request.user)
        except FileNotFoundError as exc:
            raise Http404("no such file in this export") from exc
        except FileChanged as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type=content_type)
        response["X-Content-SHA256"] = sha256
        return response


class DiaryRecordList(generics.ListAPIView):
    permission_classes = PERMISSIONS
    serializer_class = DiaryRecordSerializer
    pagination_class = Pagination

    def get_queryset(self):
        filters = DiaryRecordFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.api_diary_records(**filters.validated_data)

    @extend_schema(
        summary="Diary records",
        description=(
            "Pseudonymised diary records (USUBJID and site number; never phone numbers or names), one per "
            "submission with its item answers and scores, ordered by USUBJID, diary date, instrument. Current "
            "records only unless `include_superseded` is true. No arms."
        ),
        parameters=[DiaryRecordFilterSerializer, OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        examples=[OpenApiExample("A daily itch record", response_only=True, value={
            "id": "0b0e9a52-8f55-4c38-a0f4-6f1f7a3e1c11", "usubjid": "TRUE-AD-101-0001", "site": "101",
            "instrument": "ITCH_NRS", "timepoint": "DAILY", "diary_date": "2026-03-09", "study_day": 2,
            "answers": [{"item": 1, "code": "ITCH01", "option": 6, "score": 6}], "scores": {"itch": 6},
            "submitted_at": "2026-03-10T01:02:00Z", "channel": "sms", "current": True, "supersedes": None})],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class FhirBundle(APIView):
    permission_classes = PERMISSIONS

    @extend_schema(
        summary="Diary records as a FHIR R4 Bundle",
        description=(
            "A `searchset` Bundle of the study's two instruments as versioned Questionnaires (item texts per "
            "language, answer options with their scores) and one QuestionnaireResponse per diary record, paged "
            "(`page`, `page_size`; the Bundle's `next` link). Current records are `completed`; one a correction "
            "superseded is `amended` and points to its successor. The subject is the USUBJID, never a phone number."
        ),
        parameters=[OpenApiParameter("study", str), OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT},
    )
    def get(self, request):
        study = _study(request.query_params.get("study"))
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.fhir_records(study), request, view=self)
        body = fhir.bundle(study, page, bundle_type="searchset", total=paginator.page.paginator.count,
                           links={"self": request.build_absolute_uri(), "next": paginator.get_next_link()})
        return Response(body, content_type="application/fhir+json")
