"""Paced sending: no more than SMS_MAX_PER_SECOND a second per sender, whatever the number of workers.

Measured where Twilio would measure it: the fake server's receive time of each create.
"""

import multiprocessing
from collections import Counter

import pytest
from django.conf import settings as django_settings

from notifications.providers import TransportError
from notifications.providers.twilio import pacing
from notifications.providers.twilio.transport import TwilioTransport
from tests.fake_twilio import FakeTwilio

BUDGET = 4


@pytest.fixture(autouse=True)
def _budget(settings):
    settings.SMS_MAX_PER_SECOND = BUDGET


def _send(count: int) -> None:
    transport = TwilioTransport()
    for i in range(count):
        transport.send(to=f"+1312555{i:04d}", body="Diary time", status_callback=None)


def per_second(fake: FakeTwilio) -> Counter:
    return Counter(int(t) for t in fake.received_at)


def test_two_worker_processes_share_one_budget_on_redis(twilio, settings):
    broker = django_settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        pytest.skip("needs Redis, shared by the two worker processes (CI has it)")
    settings.SMS_PACING_REDIS_URL = broker
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_send, args=(10,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    counts = per_second(twilio)
    assert sum(counts.values()) == 20 and max(counts.values()) <= BUDGET
    assert len(counts) >= 20 // BUDGET  # it took the time the budget says, not less


def test_the_embedded_shape_paces_in_the_process(twilio, settings):
    settings.SMS_PACING_REDIS_URL = ""
    _send(9)
    counts = per_second(twilio)
    assert sum(counts.values()) == 9 and max(counts.values()) <= BUDGET and len(counts) >= 3


def test_no_budget_means_no_waiting(twilio, settings):
    settings.SMS_MAX_PER_SECOND = 0
    assert pacing.wait_for_turn() == 0.0


def test_overflow_beyond_a_rate_is_retried_not_lost(twilio, settings):
    settings.SMS_MAX_PER_SECOND = 0
    twilio.overflow_above = 2
    outcomes = []
    for i in range(4):
        try:
            outcomes.append(TwilioTransport().send(to=f"+1312555{i:04d}", body="x", status_callback=None))
        except TransportError as exc:
            outcomes.append(exc)
    overflowed = [o for o in outcomes if isinstance(o, TransportError)]
    assert overflowed and all(o.code == "21611" and o.retryable for o in overflowed)
