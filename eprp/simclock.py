"""A simulated clock shared by `simulate_trial --workers` and the Celery workers it starts.

Only with EPRP_SIMULATED_CLOCK=1, which settings refuse in production. The simulator owns
the clock: it writes the simulated "now" to a Redis key on the broker's Redis. Around
each task a worker installs that time with time-machine (frozen, as in the simulator),
so the tick, the planner and the outbox see simulated time exactly as they see real time.

A counter of tasks published and not yet finished lets the simulator wait until the work
it set off has drained before it moves the clock: every publish (by the simulator or by
a task, e.g. the send tasks a dispatch batch enqueues on commit) adds one before the
message reaches the broker, and a task's end takes one off after anything it published
was counted, so the counter never touches zero while work is still under way.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from notifications.providers import locmem

NOW_KEY = "eprp:simulation:now"
INFLIGHT_KEY = "eprp:simulation:inflight"
PUBLISHED_KEY = "eprp:simulation:published"
# A token pushed by the task that brings the in-flight count to zero: the simulator blocks
# on it instead of polling the count (polling cost up to a poll interval per step).
DRAINED_KEY = "eprp:simulation:drained"
# The simulated patients' replies, played by the workers (eprp.simulation.workers.play_replies):
# what went wrong there, and how many web diaries the window refused.
FAILURES_KEY = "eprp:simulation:failures"
REFUSED_KEY = "eprp:simulation:refused"
REPLIES_TASK = "eprp.simulation.workers.play_replies"

_redis = None
_redis_pid = None
_travel = None


def enabled() -> bool:
    return os.environ.get("EPRP_SIMULATED_CLOCK", "") == "1"


def redis_client():
    """One client per process (the prefork children get their own after the fork)."""
    global _redis, _redis_pid
    if _redis is None or _redis_pid != os.getpid():
        import redis
        from django.conf import settings

        _redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        _redis_pid = os.getpid()
    return _redis


def publish_now(now: datetime) -> None:
    redis_client().set(NOW_KEY, repr(now.timestamp()))


def simulated_now() -> datetime:
    value = redis_client().get(NOW_KEY)
    if value is None:
        raise RuntimeError(f"EPRP_SIMULATED_CLOCK is set but {NOW_KEY} is not: no simulation is running")
    return datetime.fromtimestamp(float(value), UTC)


def in_flight() -> int:
    return int(redis_client().get(INFLIGHT_KEY) or 0)


def published() -> int:
    """Tasks published since the start: the simulator reads the sent messages only when this moved."""
    return int(redis_client().get(PUBLISHED_KEY) or 0)


def reset() -> None:
    redis_client().delete(NOW_KEY, INFLIGHT_KEY, PUBLISHED_KEY, DRAINED_KEY, FAILURES_KEY, REFUSED_KEY)


def record_failure(text: str) -> None:
    redis_client().rpush(FAILURES_KEY, text)


def failures() -> list[str]:
    return [v.decode() for v in redis_client().lrange(FAILURES_KEY, 0, -1)]


def count_refused(n: int) -> None:
    redis_client().incrby(REFUSED_KEY, n)


def refused() -> int:
    return int(redis_client().get(REFUSED_KEY) or 0)


def wait_drained(timeout: float) -> bool:
    """Block until every published task has finished (True), or `timeout` seconds (False)."""
    r = redis_client()
    while int(r.get(INFLIGHT_KEY) or 0) > 0:
        if r.blpop([DRAINED_KEY], timeout=timeout) is None:
            return False
    # Nothing is in flight and only the simulator publishes now: no token can be pushed
    # between this check and the delete, so none is left to wake a later wait too early.
    r.delete(DRAINED_KEY)
    return True


def count_publish(**_kwargs) -> None:
    pipe = redis_client().pipeline(transaction=False)
    pipe.incr(INFLIGHT_KEY)
    pipe.incr(PUBLISHED_KEY)
    pipe.execute()


def install_clock(**_kwargs) -> None:
    global _travel
    import time_machine

    _travel = time_machine.travel(simulated_now(), tick=False)
    _travel.start()


def remove_clock(**_kwargs) -> None:
    global _travel
    if _travel is not None:
        _travel.stop()
        _travel = None
    # The simulated patients read what was sent from the database; don't let the worker's
    # in-memory outbox grow for the whole trial.
    locmem.outbox.clear()
    r = redis_client()
    if r.decr(INFLIGHT_KEY) == 0:
        r.rpush(DRAINED_KEY, 1)


def connect_publisher() -> None:
    """Count this process's publishes (the simulator's own, e.g. a send queued by a webhook)."""
    from celery.signals import before_task_publish

    before_task_publish.connect(count_publish, weak=False, dispatch_uid="eprp-simclock-publish")


def disconnect_publisher() -> None:
    from celery.signals import before_task_publish

    before_task_publish.disconnect(dispatch_uid="eprp-simclock-publish")


def connect_worker(app) -> None:
    """The worker side: the clock around every task, the in-flight count, the patients' replies."""
    from celery.signals import task_postrun, task_prerun

    if os.environ.get("EPRP_MODE") == "production":
        raise RuntimeError("EPRP_SIMULATED_CLOCK is for simulations only: refused with EPRP_MODE=production")

    # The patients' replies are a task of eprp.simulation.workers, which needs the models: the worker
    # imports it once Django is set up.
    app.conf.imports = (*app.conf.imports, "eprp.simulation.workers")
    connect_publisher()
    task_prerun.connect(install_clock, weak=False, dispatch_uid="eprp-simclock-prerun")
    task_postrun.connect(remove_clock, weak=False, dispatch_uid="eprp-simclock-postrun")
