"""Production refuses to start on a missing or malformed required variable."""

import os
import subprocess
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

GOOD = {
    "EPRP_MODE": "production",
    "SECRET_KEY": "x" * 50,
    "FIELD_ENCRYPTION_KEY": "q2HsYq5eD2Ym0o0mmb0tDq0eD1b6Pf7WQm6n5c4Xk1o=",
    "DATABASE_URL": "postgres://eprp@127.0.0.1:5432/eprp",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "PUBLIC_BASE_URL": "https://eprp.example.org",
    "ALLOWED_HOSTS": "eprp.example.org",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "0" * 32,
}


def check(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in GOOD} | GOOD | overrides
    env = {k: v for k, v in env.items() if v is not None}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True)


def test_complete_production_configuration_passes():
    result = check()
    assert result.returncode == 0, result.stderr


def test_missing_and_malformed_values_fail_loudly_naming_the_variable():
    result = check(SECRET_KEY=None, FIELD_ENCRYPTION_KEY="not-a-key", PUBLIC_BASE_URL="http://insecure",
                   CELERY_BROKER_URL="filesystem://", TWILIO_AUTH_TOKEN=None)
    assert result.returncode != 0
    for expected in ["SECRET_KEY: missing", "FIELD_ENCRYPTION_KEY: malformed", "PUBLIC_BASE_URL: missing or not an https",
                     "CELERY_BROKER_URL: missing or not a redis", "TWILIO_AUTH_TOKEN: missing"]:
        assert expected in result.stderr


def test_sqlite_is_refused_in_production():
    result = check(DATABASE_URL="sqlite:///tmp/x.db")
    assert "DATABASE_URL: production needs PostgreSQL" in result.stderr


def test_a_malformed_number_is_named_with_the_other_problems():
    result = check(SMS_SEND_THREADS="eight", DIARY_LINK_MAX_AGE="-5", SECRET_KEY=None)
    assert result.returncode != 0
    assert "ValueError" not in result.stderr
    for expected in ["SMS_SEND_THREADS: expected a whole number >= 1, got 'eight'",
                     "DIARY_LINK_MAX_AGE: expected a whole number >= 60, got '-5'", "SECRET_KEY: missing"]:
        assert expected in result.stderr


def test_a_partly_configured_push_provider_or_an_unknown_push_backend_fails_naming_it():
    result = check(APNS_TEAM_ID="ABCDE12345", APNS_KEY_ID=None, APNS_TOPIC=None, APNS_AUTH_KEY=None,
                   APNS_AUTH_KEY_FILE=None)
    assert result.returncode != 0 and "APNS_*: APNs is partly configured" in result.stderr, result.stderr
    result = check(PUSH_BACKEND="pigeon")
    assert result.returncode != 0 and "PUSH_BACKEND: unknown backend 'pigeon'" in result.stderr


def test_apns_needs_its_environment_named_at_start_up():
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    apns = {"APNS_TEAM_ID": "ABCDE12345", "APNS_KEY_ID": "KEY1234567", "APNS_TOPIC": "org.eprp.diary",
            "APNS_AUTH_KEY": key}
    result = check(**apns)
    assert result.returncode != 0, result.stderr
    assert "APNS_*: APNS_ENVIRONMENT: expected production (App Store and TestFlight builds) or sandbox" in result.stderr
    assert check(**apns, APNS_ENVIRONMENT="sandbox").returncode == 0
