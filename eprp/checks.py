"""Configuration checks: in production every required variable must be present and well formed."""

import base64
import os
import binascii
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, register


@register(deploy=False)
def check_configuration(app_configs=None, **kwargs):
    errors = []

    def fail(var: str, problem: str, n: int):
        errors.append(Error(f"{var}: {problem}", hint=f"Set {var} in the environment.", id=f"eprp.E{n:03d}"))

    key = settings.FIELD_ENCRYPTION_KEY
    if not key:
        fail("FIELD_ENCRYPTION_KEY", "missing (a Fernet key: 32 url-safe base64-encoded bytes)", 1)
    else:
        try:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError
        except (ValueError, binascii.Error):
            fail("FIELD_ENCRYPTION_KEY", "malformed: must be 32 url-safe base64-encoded bytes", 2)

    if settings.SMS_BACKEND not in {"twilio", "console", "locmem"}:
        fail("SMS_BACKEND", f"unknown backend {settings.SMS_BACKEND!r}; use twilio, console or locmem", 3)

    if settings.PRODUCTION:
        if len(settings.SECRET_KEY) < 32:
            fail("SECRET_KEY", "missing or shorter than 32 characters", 4)
        if not settings.DATABASE_URL:
            fail("DATABASE_URL", "missing (postgres://user:password@host:5432/db)", 5)
        elif urlparse(settings.DATABASE_URL).scheme not in {"postgres", "postgresql", "pgsql"}:
            fail("DATABASE_URL", "production needs PostgreSQL", 6)
        broker = urlparse(settings.CELERY_BROKER_URL)
        if broker.scheme not in {"redis", "rediss"}:
            fail("CELERY_BROKER_URL", "missing or not a redis:// URL", 7)
        base = urlparse(settings.PUBLIC_BASE_URL)
        if base.scheme != "https" or not base.netloc:
            fail("PUBLIC_BASE_URL", "missing or not an https:// URL (the URL Twilio signs)", 8)
        if not os.environ.get("ALLOWED_HOSTS"):
            fail("ALLOWED_HOSTS", "missing (comma-separated host names)", 9)
        if settings.SMS_BACKEND == "twilio":
            if not settings.TWILIO_ACCOUNT_SID.startswith("AC"):
                fail("TWILIO_ACCOUNT_SID", "missing or not an AC… account SID", 10)
            if not settings.TWILIO_AUTH_TOKEN:
                fail("TWILIO_AUTH_TOKEN", "missing", 11)
            if not (settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER):
                fail("TWILIO_MESSAGING_SERVICE_SID", "set it or TWILIO_FROM_NUMBER", 12)
    return errors
