"""Signing in from the app: a code texted to an enrolled number, exchanged for a token; signing out.

The reply never says whether a number takes part (diaries/patient/app/auth.py does the work).
"""

from __future__ import annotations

import time

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from diaries.patient.app import auth as patient_auth
from diaries.patient.app.base import TAG, PatientAPIView, _iso, _valid
from diaries.patient.app.errors import PatientErrors, TooManyRequests, _common
from diaries.patient.app.serializers import (
    PatientCodeAccepted,
    PatientCodeRequest,
    PatientTokenIssued,
    PatientTokenRequest,
)
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
