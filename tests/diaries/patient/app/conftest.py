"""Fixtures for the patient API: app clients signed in as alice or bob, a clean rate-limit cache."""

import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

BASE = "/api/v1/patient/"


@pytest.fixture(autouse=True)
def _patient_api_settings(settings):
    settings.PATIENT_SIGNIN_MIN_SECONDS = 0  # the padding is for production timing, not the test run
    cache.clear()  # rate-limit counters live in the cache
    yield
    cache.clear()


def app_client(participant=None) -> APIClient:
    """An app signed in as this participant (or not signed in)."""
    from diaries.patient.app.auth import issue_token

    client = APIClient()
    if participant is not None:
        _token, raw = issue_token(participant=participant, device="pytest")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client.raw_token = raw
    return client


def new_key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def alice_app(alice):
    return app_client(alice)


@pytest.fixture
def bob_app(bob):
    return app_client(bob)
