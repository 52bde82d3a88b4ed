"""Helpers for the scheduling tests: a synchronous outbox, the clock, and one tick."""

from datetime import datetime

import pytest
import time_machine

from notifications import outbox
from notifications.providers import locmem
from notifications.scheduling import dispatch


@pytest.fixture
def sync_sends(monkeypatch):
    """Send each queued message at once, in this process, through the locmem transport.

    The outbox enqueues a Celery task after commit; where a worker is not the point, the
    send task's service runs synchronously instead (tests/scheduling/test_concurrency.py
    runs the real worker).
    """
    monkeypatch.setattr(outbox, "_enqueue", lambda message_ids: [outbox.send_message(i) for i in message_ids])
    locmem.outbox.clear()
    locmem.fail_next.clear()
    yield locmem.outbox
    locmem.outbox.clear()


def tick(at: datetime):
    """One beat tick at this instant."""
    with time_machine.travel(at, tick=False):
        return dispatch.dispatch_due_prompts()


@pytest.fixture
def run_tick(sync_sends, django_capture_on_commit_callbacks):
    """tick(at) with the after-commit callbacks run (the test itself is one transaction)."""

    def run(at: datetime, **kw):
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            return dispatch.dispatch_due_prompts(**kw)

    return run
