"""Configuration checks: in production every required variable must be present and well formed.

settings.py calls `configuration_problems` itself and refuses to load in production
(gunicorn and Celery do not run system checks); the system check repeats it for
`manage.py check` and every management command.
"""

import base64
import binascii
import os
from urllib.parse import urlparse

from django.core.checks import Error, register

from notifications.providers import push_backends


def configuration_problems(cfg) -> list[tuple[str, str]]:
    """(variable, problem) for each bad setting; `cfg` is the settings module or its globals()."""
    get = cfg.get if isinstance(cfg, dict) else lambda name, default=None: getattr(cfg, name, default)
    problems = list(get("MALFORMED_SETTINGS", None) or [])
    key = get("FIELD_ENCRYPTION_KEY", "")
    if not key:
        problems.append(("FIELD_ENCRYPTION_KEY", "missing (a Fernet key: 32 url-safe base64-encoded bytes)"))
    else:
        try:
            if len(base64.urlsafe_b64decode(key.encode())) != 32:
                raise ValueError
        except (ValueError, binascii.Error):
            problems.append(("FIELD_ENCRYPTION_KEY", "malformed: must be 32 url-safe base64-encoded bytes"))
    if get("SMS_BACKEND") not in {"twilio", "console", "locmem"}:
        problems.append(("SMS_BACKEND", f"unknown backend {get('SMS_BACKEND')!r}; use twilio, console or locmem"))
    if get("PUSH_BACKEND") not in {"providers", "console", "locmem"}:
        problems.append(("PUSH_BACKEND", f"unknown backend {get('PUSH_BACKEND')!r}; use providers, console or locmem"))
    elif get("PUSH_BACKEND") == "providers":
        problems += push_backends.configuration_problems()
    if not get("PRODUCTION"):
        return problems
    if get("SIMULATED_CLOCK"):
        problems.append(("EPRP_SIMULATED_CLOCK", "a simulation's clock: never set it in production"))
    if len(get("SECRET_KEY", "") or "") < 32:
        problems.append(("SECRET_KEY", "missing or shorter than 32 characters"))
    database_url = get("DATABASE_URL", "")
    if not database_url:
        problems.append(("DATABASE_URL", "missing (postgres://user:password@host:5432/db)"))
    elif urlparse(database_url).scheme not in {"postgres", "postgresql", "pgsql"}:
        problems.append(("DATABASE_URL", "production needs PostgreSQL"))
    if urlparse(get("CELERY_BROKER_URL", "")).scheme not in {"redis", "rediss"}:
        problems.append(("CELERY_BROKER_URL", "missing or not a redis:// URL"))
    base = urlparse(get("PUBLIC_BASE_URL", ""))
    if base.scheme != "https" or not base.netloc:
        problems.append(("PUBLIC_BASE_URL", "missing or not an https:// URL (the URL Twilio signs)"))
    if not os.environ.get("ALLOWED_HOSTS"):
        problems.append(("ALLOWED_HOSTS", "missing (comma-separated host names)"))
    if get("SMS_BACKEND") == "twilio":
        if not (get("TWILIO_ACCOUNT_SID", "") or "").startswith("AC"):
            problems.append(("TWILIO_ACCOUNT_SID", "missing or not an AC... account SID"))
        if not get("TWILIO_AUTH_TOKEN"):
            problems.append(("TWILIO_AUTH_TOKEN", "missing"))
        if not (get("TWILIO_MESSAGING_SERVICE_SID") or get("TWILIO_FROM_NUMBER")):
            problems.append(("TWILIO_MESSAGING_SERVICE_SID", "set it or TWILIO_FROM_NUMBER"))
    return problems


def describe(problems) -> str:
    return "eprp cannot start, fix these environment variables:\n" + "\n".join(
        f"  {var}: {problem}" for var, problem in problems
    )


@register()
def check_configuration(app_configs=None, **kwargs):
    from django.conf import settings

    return [
        Error(f"{var}: {problem}", hint=f"Set {var} in the environment.", id=f"eprp.E{n:03d}")
        for n, (var, problem) in enumerate(configuration_problems(settings), start=1)
    ]
