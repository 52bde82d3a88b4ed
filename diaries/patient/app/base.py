"""What every patient API view shares: the token, the strict query parameters, the language, no caching."""

from __future__ import annotations

from datetime import date, datetime

from django.utils.cache import patch_vary_headers
from django.utils.translation.trans_real import parse_accept_lang_header
from drf_spectacular.utils import (
    OpenApiParameter,
)
from rest_framework import exceptions
from rest_framework.views import APIView

from diaries.models import (
    Participant,
)
from diaries.patient.app import auth as patient_auth
from diaries.patient.app.errors import patient_exception_handler
from diaries.patient.app.idempotency import IDEMPOTENCY_KEY
from diaries.patient.app.parsing import StrictJSONParser
from diaries.patient.texts import LANGUAGES
from diaries.protocol import windows

TAG = "patient"


def _iso(instant: datetime | None, zone: str) -> str | None:
    return windows.local(instant, zone).isoformat(timespec="seconds") if instant else None


def _day(d: date | None) -> str | None:
    return d.isoformat() if d else None


class PatientAPIView(APIView):
    authentication_classes = [patient_auth.PatientTokenAuthentication]
    permission_classes = [patient_auth.IsPatient]
    parser_classes = [StrictJSONParser]

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


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
