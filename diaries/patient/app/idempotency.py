"""Idempotent writes: a retry with the same Idempotency-Key gets the first response and writes nothing."""

from __future__ import annotations

import hashlib
import json
import re

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.response import Response

from diaries.diary import Refused
from diaries.models import (
    AppSubmission,
    Participant,
)
from diaries.patient.app.errors import KeyReused

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{8,255}$")


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not IDEMPOTENCY_KEY.match(key):
        raise exceptions.ValidationError({"Idempotency-Key": [exceptions.ErrorDetail(
            "Required: 8 to 255 visible ASCII characters, new for every request (a UUID).",
            "required" if not key else "invalid")]})
    return key


def replay_or_perform(request, p: Participant, endpoint: str, fingerprint: dict, perform) -> Response | Refused:
    """Run `perform` once per Idempotency-Key and participant; a retry gets the stored response.

    The participant's row lock serialises two copies of one request arriving together; the
    unique key is the backstop. Only successes are stored: a refused request recorded
    nothing (its refusal is audited), so trying it again is harmless.
    """
    key = idempotency_key(request)
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
        return refused
    if prior.endpoint != endpoint or prior.request_hash != request_hash:
        raise KeyReused()
    return Response(prior.response, status=prior.status_code, headers={"Idempotent-Replayed": "true"})
