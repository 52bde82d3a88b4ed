"""/auth/code answers in the same time for an enrolled and an unknown number, broker slow or down:
nothing that waits on the broker happens before the answer is out."""

import time

import pytest
from django.core import signals
from django.db import close_old_connections
from rest_framework.test import APIRequestFactory

from diaries.patient.app.views.signin import CodeView
from notifications import outbox
from notifications.models import OutboundMessage, OutboundStatus

pytestmark = pytest.mark.django_db
BROKER_SECONDS = 0.6


def _ask(phone, capture):
    """(seconds until the view answered, on-commit work included, as on a real commit; the response, not closed)."""
    request = APIRequestFactory().post("/api/v1/patient/auth/code", {"phone": phone}, format="json")
    started = time.monotonic()
    with capture(execute=True):
        response = CodeView.as_view()(request)
    return time.monotonic() - started, response


def _close(response, capture):
    # As Django's test client does: the end of a request must not close the test's database
    # connection (on PostgreSQL that would end the test's transaction).
    signals.request_finished.disconnect(close_old_connections)
    try:
        with capture(execute=True):
            response.close()
    finally:
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def slow_broker(monkeypatch):
    handed = []

    def delay(*args):
        time.sleep(BROKER_SECONDS)
        handed.append(args)

    monkeypatch.setattr(outbox.send_message_task, "delay", delay)
    return handed


def test_enrolled_and_unknown_numbers_answer_alike_with_a_slow_broker(settings, alice, slow_broker,
                                                                     django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    settings.PATIENT_SIGNIN_MIN_SECONDS = 0.2
    enrolled, response = _ask(alice.phone, capture)
    unknown, other = _ask("+13125550999", capture)
    assert response.status_code == other.status_code == 202
    assert 0.2 <= enrolled < 0.2 + BROKER_SECONDS / 2, enrolled
    assert 0.2 <= unknown < 0.2 + BROKER_SECONDS / 2, unknown
    assert not slow_broker  # nothing handed over before the answer
    _close(response, capture)  # the server has sent the answer
    _close(other, capture)
    message = OutboundMessage.objects.get(participant=alice, kind="signin_code")
    assert slow_broker == [(str(message.pk),)]


def test_a_broker_that_is_down_loses_no_code(settings, alice, monkeypatch, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    settings.PATIENT_SIGNIN_MIN_SECONDS = 0.05

    def down(*args):
        raise ConnectionError("broker down")

    monkeypatch.setattr(outbox.send_message_task, "delay", down)
    seconds, response = _ask(alice.phone, capture)
    assert response.status_code == 202 and seconds < 0.3
    _close(response, capture)  # the hand-over fails: the row stays queued for the sweeper
    assert OutboundMessage.objects.get(participant=alice, kind="signin_code").status == OutboundStatus.QUEUED
