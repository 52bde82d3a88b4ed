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


class Clock:
    """time.time / sleep / monotonic for pacing, starting at `at` (seconds)."""

    def __init__(self, at: float):
        self.now = at

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_call_late_in_a_second_counts_against_that_second_and_the_next(settings, monkeypatch):
    """No time is lost in the last 0.2 s of a second: the call goes, and may reach Twilio in either second."""
    settings.SMS_PACING_REDIS_URL = ""
    clock = Clock(1000.85)
    monkeypatch.setattr(pacing, "time", clock)
    waited = [pacing.wait_for_turn(who="late") for _ in range(BUDGET)]
    assert waited == [0.0] * BUDGET and clock.now == 1000.85  # the old counter waited 0.15 s for each
    # Second 1000 is full, and so is 1001, which these calls may have reached Twilio in.
    assert pacing.wait_for_turn(who="late") == pytest.approx(1.15)
    assert clock.now == pytest.approx(1002.0)


def test_the_budget_holds_in_every_second_wherever_in_it_the_calls_are_made(settings, monkeypatch):
    settings.SMS_PACING_REDIS_URL = ""
    clock = Clock(2000.0)
    monkeypatch.setattr(pacing, "time", clock)
    made = []  # the second each call may reach Twilio in: the one it is made in, or the next if made late
    for _ in range(40):
        pacing.wait_for_turn(who="spread")
        made.append(clock.now)
        clock.now += 0.07  # a call takes 70 ms: about 14 a second could go, the budget is 4
    for second in range(2000, int(clock.now) + 1):
        reach = [t for t in made if int(t) == second or (int(t) == second - 1 and t - int(t) >= 0.8)]
        assert len(reach) <= BUDGET
    assert len(made) == 40 and clock.now - 2000 >= 40 / BUDGET - 1
