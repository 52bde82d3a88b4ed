"""Sign-in for the patient app: a texted one-time code, exchanged for a participant token.

No passwords. The app asks for a code for a phone number; an enrolled participant who
may be texted gets a 6-digit code by SMS (through the outbox). The reply is the same
whether or not the number is enrolled, so the endpoint cannot be used to find out who
takes part in the study. A code lives PATIENT_SIGNIN_CODE_TTL seconds and allows
PATIENT_SIGNIN_MAX_ATTEMPTS wrong tries; only the newest code of a participant counts.
Code requests are limited per phone number and per client address, code checks per
address (PATIENT_SIGNIN_*_LIMITS: lists of (requests, seconds), counted in Django's cache).

A token is 32 random bytes, shown once and stored as its SHA-256: a leaked table opens
nothing. Tokens expire (PATIENT_TOKEN_TTL seconds), are revoked at logout or by site
staff, and are a model of their own, apart from the staff and sponsor DRF tokens, so
neither kind of credential works where the other is expected.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from diaries import audit, phones
from diaries.models import Participant, PatientToken, SignInCode
from diaries.roles import is_sponsor
from eprp.client_address import client_address
from notifications.chatbot.texts import program_name, render
from notifications.outbox import can_text, queue_message

TOKEN_PREFIX = "ept_"
# A token is looked up by its hash on every request; recording each use would add a write
# to every read, so last_used_at moves at most once per this interval.
LAST_USED_RESOLUTION = timedelta(minutes=5)

DEFAULTS = {
    "PATIENT_SIGNIN_CODE_TTL": 10 * 60,
    "PATIENT_SIGNIN_MAX_ATTEMPTS": 5,
    "PATIENT_SIGNIN_PHONE_LIMITS": [(3, 15 * 60), (10, 24 * 3600)],
    "PATIENT_SIGNIN_IP_LIMITS": [(20, 15 * 60)],
    "PATIENT_TOKEN_IP_LIMITS": [(30, 15 * 60)],
    "PATIENT_SIGNIN_MIN_SECONDS": 0.1,
    "PATIENT_TOKEN_TTL": 30 * 24 * 3600,
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])


class SignInFailed(Exception):
    """Wrong, expired, used or dead code, or unknown number: the app is told nothing more."""


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many requests; retry after {retry_after} s")
        self.retry_after = retry_after


# --- rate limits -----------------------------------------------------------------------------


def client_ip(request) -> str:
    """The client's address: X-Forwarded-For only as far as REST_FRAMEWORK["NUM_PROXIES"] trusts it.

    Not the REST framework's throttle rule: with NUM_PROXIES unset that one reads the header,
    which any client can send to get a fresh limit with every request.
    """
    return client_address(request) or "unknown"


def _over_limit(scope: str, ident: str, limits) -> int | None:
    """Count one request in fixed windows; seconds until allowed again, or None when within limits."""
    now = time.time()
    # Hashed: no phone number or address in cache keys (and memcached-safe characters).
    digest = hashlib.sha256(f"{scope}:{ident}".encode()).hexdigest()[:32]
    wait = None
    with _one_counter_at_a_time():
        for allowed, seconds in limits:
            bucket = int(now // seconds)
            key = f"eprp:patient-auth:{scope}:{seconds}:{bucket}:{digest}"
            cache.add(key, 0, timeout=seconds + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # evicted between add and incr
                cache.set(key, 1, timeout=seconds + 1)
                count = 1
            if count > allowed:
                wait = max(wait or 0, int((bucket + 1) * seconds - now) + 1)
    return wait


@contextmanager
def _one_counter_at_a_time():
    """Redis counts atomically; Django's file cache reads then writes, so two processes (two
    gunicorn workers) would both count 5 -> 6 and let twice the limit through: they take turns."""
    cache_setting = settings.CACHES["default"]
    if not cache_setting["BACKEND"].endswith("FileBasedCache"):
        yield
        return
    os.makedirs(cache_setting["LOCATION"], exist_ok=True)
    with open(os.path.join(cache_setting["LOCATION"], "patient-auth-limits.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _check(scope: str, ident: str, limits) -> None:
    wait = _over_limit(scope, ident, limits)
    if wait is not None:
        raise RateLimited(wait)


# --- one-time codes --------------------------------------------------------------------------


def _code_key() -> bytes:
    return hashlib.sha256(b"eprp-signin-code:" + settings.SECRET_KEY.encode()).digest()


def _code_hash(participant_id: Any, code: str) -> str:
    # Keyed: a million possible codes are no secret without the key.
    return hmac.new(_code_key(), f"{participant_id}:{code}".encode(), hashlib.sha256).hexdigest()


def request_code(*, phone: str, ip: str, started: float | None = None) -> list:
    """Text a sign-in code to an enrolled participant who may be texted; silent for anyone else.

    Raises RateLimited, counted alike for enrolled and unknown numbers. A number that is no
    valid phone number is simply not enrolled: the same silence, the same limits. Returns
    the outbound message ids for the caller to hand to the send tasks once the answer is
    out (`outbox.enqueue_after_commit`): the broker's time, slow or down, would tell an
    enrolled number from an unknown one. Returns no sooner than PATIENT_SIGNIN_MIN_SECONDS
    after `started` (time.monotonic() when the request came in), whatever was found.
    """
    started = time.monotonic() if started is None else started
    queued = []
    try:
        e164 = phones.normalize(phone)
    except phones.InvalidPhone:
        e164 = phone.strip()
    _check("code-ip", ip, setting("PATIENT_SIGNIN_IP_LIMITS"))
    phone_hash = phones.lookup_hash(e164)
    _check("code-phone", phone_hash, setting("PATIENT_SIGNIN_PHONE_LIMITS"))
    code = f"{secrets.randbelow(10**6):06d}"
    participant = Participant.objects.select_related("study", "site").filter(phone_hash=phone_hash).first()
    digest = _code_hash(participant.pk if participant else "-", code)
    if participant is not None and can_text(participant):
        now = timezone.now()
        with transaction.atomic():
            SignInCode.objects.create(
                participant=participant, code_hash=digest, created_at=now,
                expires_at=now + timedelta(seconds=setting("PATIENT_SIGNIN_CODE_TTL")),
            )
            program = program_name(participant.study.rules.program_name, participant.language)
            body = render(participant.language, "signin_code", program=program, code=code)
            message = queue_message(participant=participant, kind="signin_code", body=body, secret=code,
                                    enqueue=False)
            queued = [message.pk] if message is not None else []
            audit.log(actor=participant, action="app.signin_code", obj=participant, at=now)
    # The same time for every number: an enrolled one does a few more writes than an unknown one.
    _pad(started)
    return queued


def _pad(started: float) -> None:
    """Answer no sooner than PATIENT_SIGNIN_MIN_SECONDS after `started`, whatever was found."""
    remaining = setting("PATIENT_SIGNIN_MIN_SECONDS") - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)


def exchange_code(*, phone: str, code: str, ip: str, device: str = "") -> tuple[PatientToken, str]:
    """A token for the participant the code was texted to; SignInFailed for anything else.

    Every failure takes at least PATIENT_SIGNIN_MIN_SECONDS, enrolled number or not.
    """
    _check("token-ip", ip, setting("PATIENT_TOKEN_IP_LIMITS"))
    started = time.monotonic()
    try:
        return _exchange(phone=phone, code=code, device=device)
    except SignInFailed:
        _pad(started)
        raise


def _exchange(*, phone: str, code: str, device: str) -> tuple[PatientToken, str]:
    try:
        e164 = phones.normalize(phone)
    except phones.InvalidPhone:
        e164 = phone.strip()
    participant = Participant.objects.filter(phone_hash=phones.lookup_hash(e164)).first()
    if participant is None:
        hmac.compare_digest(_code_hash("-", code), _code_hash("-", "------"))  # comparable work
        raise SignInFailed()
    now = timezone.now()
    with transaction.atomic():
        latest = SignInCode.objects.select_for_update().filter(participant=participant).order_by("-created_at").first()
        live = (latest is not None and latest.used_at is None and latest.expires_at > now
                and latest.attempts < setting("PATIENT_SIGNIN_MAX_ATTEMPTS"))
        expected = latest.code_hash if live else _code_hash("-", "------")
        matches = hmac.compare_digest(_code_hash(participant.pk, code), expected)
        if live and matches:
            SignInCode.objects.filter(pk=latest.pk).update(used_at=now)
            return issue_token(participant=participant, device=device, now=now)
        if live:
            # Counted in the same transaction as the check, under the row lock: parallel
            # guesses cannot share one try.
            SignInCode.objects.filter(pk=latest.pk).update(attempts=F("attempts") + 1)
            audit.log(actor="anonymous:patient-app", action="app.signin_failed", obj=participant, at=now,
                      after={"attempt": latest.attempts + 1, "max": setting("PATIENT_SIGNIN_MAX_ATTEMPTS")})
    raise SignInFailed()


# --- tokens ----------------------------------------------------------------------------------


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_token(*, participant: Participant, device: str = "", now=None) -> tuple[PatientToken, str]:
    """A new token for this participant: (row, the token itself, which is never stored)."""
    now = now or timezone.now()
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = PatientToken.objects.create(
        participant=participant, key_hash=token_hash(raw), key_prefix=raw[:10], device=device[:200],
        created_at=now, expires_at=now + timedelta(seconds=setting("PATIENT_TOKEN_TTL")),
    )
    audit.log(actor=participant, action="app.token_issue", obj=token, at=now,
              after={"token": token.key_prefix, "expires_at": token.expires_at, "device": token.device})
    return token, raw


def patient_tokens(*, participant: Participant):
    """A participant's app tokens, newest first, for site staff (never the token itself)."""
    return PatientToken.objects.filter(participant=participant).order_by("-created_at")


def may_revoke(user, participant: Participant) -> bool:
    """Site staff of the participant's site (or a superuser); sponsors and monitors only read."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return not is_sponsor(user) and user.sites.filter(pk=participant.site_id).exists()


@transaction.atomic
def revoke_patient_token(token: PatientToken, user) -> PatientToken:
    """Revoke an app token at once (site staff); the app must sign in again. Revoking twice is a no-op."""
    token = PatientToken.objects.select_for_update(of=("self",)).select_related("participant").get(pk=token.pk)
    if not may_revoke(user, token.participant):
        raise PermissionDenied("only staff of the participant's site may revoke an app token")
    return _revoke(token, actor=user)


@transaction.atomic
def log_out(*, token: PatientToken) -> PatientToken:
    """The app's logout: its own token stops working."""
    token = PatientToken.objects.select_for_update(of=("self",)).select_related("participant").get(pk=token.pk)
    return _revoke(token, actor=token.participant)


def _revoke(token: PatientToken, *, actor) -> PatientToken:
    if token.revoked_at is not None:
        return token
    token.revoked_at, token.revoked_by = timezone.now(), audit.actor_label(actor)[:120]
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit.log(actor=actor, action="app.token_revoke", obj=token, after={"token": token.key_prefix})
    return token


# --- DRF authentication ----------------------------------------------------------------------


@dataclass(frozen=True)
class PatientUser:
    """request.user on patient routes: the participant a valid token names, and nothing else."""

    participant: Participant
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __str__(self):
        return f"participant:{self.participant.usubjid}"


class PatientTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer ept_…`. Any other scheme (the staff `Token`, a session) is not a patient."""

    keyword = "bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        now = timezone.now()
        token = (
            PatientToken.objects.select_related("participant__site", "participant__study")
            .filter(key_hash=token_hash(raw), revoked_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            PatientToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return PatientUser(token.participant), token

    def authenticate_header(self, request):
        return 'Bearer realm="patient"'


class IsPatient(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, PatientUser)


class PatientTokenScheme(OpenApiAuthenticationExtension):
    target_class = "diaries.patient.app.auth.PatientTokenAuthentication"
    name = "patientToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A participant token from POST /api/v1/patient/auth/token (valid 30 days by default).",
        }
