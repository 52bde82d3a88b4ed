"""The patient API's one error shape: {"errors": [{"field", "code", "message"}]}, and its 409 and 429."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
)
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler


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
