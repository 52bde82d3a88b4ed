"""The sign-in limits count per client address as NUM_PROXIES says, in the cache every process shares."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.diaries.patient.app.conftest import BASE

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[4]


def ask(phone, **headers):
    return APIClient().post(BASE + "auth/code", {"phone": phone}, format="json", **headers).status_code


def test_without_num_proxies_a_forged_forwarded_for_gets_no_fresh_limit(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": None}
    settings.PATIENT_SIGNIN_IP_LIMITS = [(3, 900)]
    statuses = [ask(f"+1312555{n:04d}", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}") for n in range(6)]
    assert statuses == [202, 202, 202, 429, 429, 429]


def test_behind_one_proxy_each_client_has_its_own_limit(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.PATIENT_SIGNIN_IP_LIMITS = [(2, 900)]
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    first = [ask(f"+1312555{n:04d}", HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy) for n in range(3)]
    # What the client itself put before the proxy's entry is not trusted.
    forged = [ask(f"+1312555{n:04d}", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.5", **proxy) for n in range(3, 5)]
    other = ask("+13125550099", HTTP_X_FORWARDED_FOR="203.0.113.6", **proxy)
    assert first == [202, 202, 429] and forged == [429, 429] and other == 202


COUNT = """
import django, os, sys
django.setup()
from diaries.patient.app import auth
allowed = sum(auth._over_limit("code-ip", sys.argv[1], [(20, 900)]) is None for _ in range(15))
print(allowed)
"""


def test_two_processes_share_one_count(tmp_path):
    """Two gunicorn workers are two processes: 30 requests where 20 are allowed let exactly 20 through."""
    ident = f"two-processes-{uuid.uuid4()}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "eprp.settings")}
    workers = [subprocess.Popen([sys.executable, "-c", COUNT, ident], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    allowed = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-2000:]
        allowed.append(int(out.strip().splitlines()[-1]))
    assert sum(allowed) == 20, allowed
