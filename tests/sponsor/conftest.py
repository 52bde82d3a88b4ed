"""Personas of the sponsor API and a small trial with diaries.

sponsor: API only, blinded.  statistician: unblinded (view and import the randomization).
coordinator: site staff of site A.  monitor: all sites, read-only admin.  Each has an API token.
"""

from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analysis import export_jobs
from diaries import roles
from tests.conftest import CHICAGO, answer, enroll, write_diaries


@pytest.fixture(autouse=True)
def _roles_and_var(db, settings, tmp_path):
    roles.setup_roles()
    settings.VAR_DIR = tmp_path / "var"


def _user(django_user_model, name, role=None, **extra):
    user = django_user_model.objects.create_user(name, f"{name}@example.org", "pw-not-used-1", **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    Token.objects.create(user=user)
    return user


@pytest.fixture
def sponsor(django_user_model):
    return _user(django_user_model, "sponsor", roles.SPONSOR)


@pytest.fixture
def statistician(django_user_model):
    return _user(django_user_model, "stat", roles.STATISTICIAN)


@pytest.fixture
def coordinator(study, django_user_model):
    user = _user(django_user_model, "coordinator", roles.SITE_STAFF, is_staff=True)
    study.sites.get(number="101").staff.add(user)
    return user


@pytest.fixture
def monitor(django_user_model):
    return _user(django_user_model, "monitor", roles.MONITOR, is_staff=True)


@pytest.fixture
def superuser(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-not-used-1")
    Token.objects.create(user=user)
    return user


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
    return client


@pytest.fixture
def trial(study, alice):
    """alice and carol (site A, Chicago, Day 1 2026-03-08) and dave (site B), run-in and two weeks of diaries."""
    carol = enroll(study, "TRUE-AD-101-0003", phone="+13125550133", zone="America/Chicago",
                   first_application_at=datetime(2026, 3, 8, 9, 0, tzinfo=CHICAGO))
    dave = enroll(study, "TRUE-AD-201-0001", site="201", phone="+13125550144", zone="America/Chicago",
                  first_application_at=datetime(2026, 3, 8, 9, 30, tzinfo=CHICAGO))
    for p, itch0, drop in ((alice, 8, 5), (carol, 7, 1), (dave, 6, 3)):
        write_diaries(p, itch0=itch0, drop=drop)
    answer(participant=alice, instrument="ITCH_NRS", timepoint="H12", answers={1: 6},
                            channel="sms", at=alice.first_application_at + timedelta(hours=12))
    return alice, carol, dave


@pytest.fixture
def randomized(trial):
    from diaries.models import Randomization

    for p, arm, stratum in zip(trial, ("RUX15", "VEHICLE", "RUX15"), ("A", "A", "B"), strict=True):
        Randomization.objects.create(participant=p, arm=arm, stratum=stratum, imported_at=p.enrolled_at)
    return trial


@pytest.fixture
def run_tasks_on_commit(monkeypatch, django_capture_on_commit_callbacks):
    """Export tasks dispatched on commit run synchronously here (the worker test runs a real one)."""
    calls = []

    def delay(export_id):
        calls.append(export_id)
        return export_jobs.work_export_task(export_id)

    monkeypatch.setattr(export_jobs.work_export_task, "delay", delay)
    return calls


def request_export(user, payload=None, *, capture):
    client = client_for(user)
    with capture(execute=True):
        response = client.post("/api/v1/exports/", payload or {}, format="json")
    return client, response
