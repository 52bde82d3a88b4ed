"""simulate_trial --workers N: the Celery worker the simulation starts (N prefork processes on
PostgreSQL and Redis, on the simulated clock of eprp/simclock.py) and the task that plays the
patients' replies on it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from urllib.parse import quote

import time_machine
from celery import shared_task
from django.conf import settings
from django.db import connection
from django.test import Client

from eprp import simclock

from .patients import INBOUND_URL, TOKEN, record_web_diary

_worker_client: Client | None = None


@shared_task(name=simclock.REPLIES_TASK, ignore_result=True)
def play_replies(ops: list[dict]) -> None:
    """On a simulation worker (simclock.REPLIES_TASK): patients' texts and web diaries, in order.

    Each at its own simulated moment, nested inside the clock the worker installed for the
    task. A text goes through Django's request handling as a signed webhook, as in one process.
    Failures go to Redis for the simulator to raise; web diaries the window refused are counted.
    """
    global _worker_client
    if _worker_client is None:
        _worker_client = Client()
    refused = 0
    try:
        for op in ops:
            with time_machine.travel(datetime.fromtimestamp(op["at"], UTC), tick=False):
                if "web" in op:
                    refused += not record_web_diary(*op["web"])
                    continue
                params, signature = op["sms"]
                response = _worker_client.post(INBOUND_URL, params, HTTP_X_TWILIO_SIGNATURE=signature)
                if response.status_code != 200:
                    simclock.record_failure(f"{params['MessageSid']}: the inbound webhook answered "
                                            f"{response.status_code}")
    except Exception as exc:
        simclock.record_failure(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if refused:
            simclock.count_refused(refused)


def worker_log():
    return settings.VAR_DIR / "simulation-worker.log"


def start_worker(concurrency: int) -> subprocess.Popen:
    """One Celery worker with `concurrency` prefork processes, on this database and broker, on the simulated clock."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    env = dict(
        os.environ, EPRP_SIMULATED_CLOCK="1", SMS_BACKEND="locmem", CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        DATABASE_URL=f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        SECRET_KEY=settings.SECRET_KEY, FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY,
        PUBLIC_BASE_URL=settings.PUBLIC_BASE_URL, TWILIO_AUTH_TOKEN=TOKEN,
        # Alert e-mails would leave the machine: the simulated sites get none.
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
    )
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(worker_log(), "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "eprp", "worker", "--pool", "prefork",
             "--concurrency", str(concurrency), "--without-heartbeat", "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING", "--hostname", f"simulation-{os.getpid()}@%h"],
            cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)  # warm shutdown: the (drained) worker just exits
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
