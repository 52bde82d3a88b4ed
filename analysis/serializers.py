"""Shapes of the sponsor API: pseudonymised (USUBJID and site number, never phones or names)."""

from __future__ import annotations

import numpy as np
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from diaries.protocol.windows import study_day

from .export import FORMATS
from .models import Export
from .scoring import promis_raw, promis_tscore


class ManifestFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    rows = serializers.IntegerField(allow_null=True, help_text="Data rows (header excluded); null for binary files "
                                                               "without a CSV twin")
    sha256 = serializers.CharField(help_text="SHA-256 of the file's bytes, hex")
    url = serializers.URLField(help_text="Download URL")


class ExportSerializer(serializers.ModelSerializer):
    study = serializers.CharField(source="study.code")
    requested_by = serializers.CharField(source="requested_by.get_username")
    url = serializers.SerializerMethodField(help_text="This export's status URL (poll it)")
    files = serializers.SerializerMethodField(help_text="The manifest's files with their download URLs, once done")

    class Meta:
        model = Export
        fields = ["id", "study", "requested_by", "unblinded", "exclude_unrandomized", "formats", "as_of", "status",
                  "error", "created_at",
                  "started_at", "finished_at", "url", "manifest", "files"]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_url(self, export: Export) -> str:
        return self._absolute(reverse("api-export-detail", args=[export.id]))

    @extend_schema_field(ManifestFileSerializer(many=True))
    def get_files(self, export: Export) -> list[dict]:
        if export.status != "done" or not export.manifest:
            return []
        return [
            {**f, "url": self._absolute(reverse("api-export-file", args=[export.id, f["name"]]))}
            for f in export.manifest["files"]
        ]


class ExportRequestSerializer(serializers.Serializer):
    study = serializers.CharField(required=False, help_text="Study code; may be left out when there is one study")
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=FORMATS), required=False, default=["csv"],
        help_text="csv is always written; on request: parquet, xlsx (not the item-level adqs, diary and qs), "
                  "xpt (adqs and qs only), datasetjson (CDISC Dataset-JSON 1.1 of qs and adqs with define.xml) and "
                  "fhir (a FHIR R4 Bundle of Questionnaires and QuestionnaireResponses)")
    as_of = serializers.DateField(required=False, allow_null=True, default=None,
                                  help_text="Data cut-off: values and visits after it are ignored, time points not "
                                            "yet reached are reported as such; default: the export's date (UTC). "
                                            "Written into the manifest")
    unblinded = serializers.BooleanField(required=False, default=False,
                                         help_text="Include arms; only for users who may see the randomization")
    exclude_unrandomized = serializers.BooleanField(
        required=False, default=False,
        help_text="Unblinded only: leave out analysis-set participants without a randomization (the report and "
                  "manifest list them). Without it, such an export is refused with the list (400)")


class ExportAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    url = serializers.URLField(help_text="Poll this URL for the status and, once done, the manifest")


class AnswerSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="Item number (1 for ITCH_NRS; 1..8 for PROMIS_SD8B)")
    code = serializers.CharField(help_text="Item ID (ITCH01, Sleep108, ...)")
    option = serializers.IntegerField(help_text="The option chosen, as numbered to the patient")
    score = serializers.IntegerField(help_text="The item score (PROMIS: after reversal)")


class DiaryRecordSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    usubjid = serializers.CharField(source="participant.usubjid")
    site = serializers.CharField(source="participant.site.number", help_text="Site number")
    instrument = serializers.CharField()
    timepoint = serializers.CharField(help_text="DAILY or H12")
    diary_date = serializers.DateField(help_text="Local diary date")
    study_day = serializers.SerializerMethodField(help_text="CDISC study day of the diary date (no Day 0); null "
                                                            "before Day 1 is recorded")
    answers = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField(help_text='Scores: {"itch": 7}, or for PROMIS SD 8b {"answered": 8, '
                                                       '"sum": 21, "raw": 21, "t_score": 51.2} (raw prorated from 4-7 '
                                                       'items, null with fewer; ENDPOINTS.md section 2)')
    submitted_at = serializers.DateTimeField(help_text="Server time of the submission")
    channel = serializers.CharField(help_text="sms, web, app or site (a site correction)")
    current = serializers.BooleanField(source="is_current", help_text="False when a later record supersedes it")
    supersedes = serializers.UUIDField(source="supersedes_id", allow_null=True)

    def get_study_day(self, record) -> int | None:
        day1 = record.participant.day1
        return study_day(record.diary_date, day1) if day1 else None

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_scores(self, record) -> dict:
        if record.instrument != "PROMIS_SD8B":
            return {"itch": record.answers[0]["score"]} if record.answers else {}
        answered = len(record.answers)
        total = sum(a["score"] for a in record.answers)
        raw = promis_raw(np.array([total]), np.array([answered]))[0]
        if np.isnan(raw):
            return {"answered": answered, "sum": total, "raw": None, "t_score": None}
        t_score = float(promis_tscore(np.array([raw]))[0])
        return {"answered": answered, "sum": total, "raw": int(raw), "t_score": t_score}

    @extend_schema_field(AnswerSerializer(many=True))
    def get_answers(self, record) -> list[dict]:
        instrument = record.participant.study.rules.instrument(record.instrument)
        return [
            {"item": a["item"], "code": _item_code(instrument, a["item"]), "option": a.get("option"),
             "score": a["score"]}
            for a in record.answers
        ]


def _item_code(instrument, number: int) -> str:
    try:
        return instrument.item(number).id
    except (KeyError, IndexError, ValueError):
        return ""


class DiaryRecordFilterSerializer(serializers.Serializer):
    site = serializers.CharField(required=False, help_text="Site number")
    usubjid = serializers.CharField(required=False)
    date_from = serializers.DateField(required=False, help_text="Diary dates on or after")
    date_to = serializers.DateField(required=False, help_text="Diary dates on or before")
    include_superseded = serializers.BooleanField(required=False, default=False,
                                                  help_text="Also the records later ones supersede")
