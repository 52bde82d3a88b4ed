"""Two ticks at once, and a real worker killed in the middle of a batch (PostgreSQL and Redis, as in CI)."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection, connections

from diaries import phones
from diaries.models import Participant
from notifications import outbox
from notifications.models import OutboundMessage, ScheduledPrompt
from notifications.scheduling import dispatch
from tests.conftest import enroll
from tests.fake_twilio import FakeTwilio

ACCOUNT = "AC" + "c" * 32
TOKEN = "crash-test-token"


def daytime_zone(now: datetime) -> str:
    """A fixed-offset zone where it is early afternoon right now: no quiet hours in the way."""
    hours = (14 - now.astimezone(UTC).hour) % 24
    hours = hours - 24 if hours > 12 else hours
    return "Etc/GMT" + ("-" if hours > 0 else "+") + str(abs(hours)) if hours else "Etc/GMT"


def due_prompts(study, count: int, now: datetime, per_participant: int = 1) -> list[ScheduledPrompt]:
    """`count` participants in the long-term phase, each with prompts due a minute ago and nothing else."""
    zone = daytime_zone(now)
    today = now.astimezone(ZoneInfo(zone)).date()
    rows = []
    for i in range(count):
        p = enroll(study, f"TRUE-AD-101-9{i:03d}", phone=f"+1312556{i:04d}", zone=zone, runin_start=date(2026, 1, 1),
                   phase="long_term")
        slots = [("lesion_checkin", today.isoformat(), today),
                 ("lesion_checkin", (today - timedelta(days=1)).isoformat(), today - timedelta(days=1)),
                 ("visit_reminder", "week-12", today + timedelta(days=1))][:per_participant]
        rows += [ScheduledPrompt(participant=p, kind=k, slot=s, diary_date=d, due_at=now - timedelta(minutes=1),
                                 created_at=now, updated_at=now) for k, s, d in slots]
    ScheduledPrompt.objects.all().delete()  # what enrollment planned for the real date: not under test here
    return ScheduledPrompt.objects.bulk_create(rows)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_send_each_prompt_once(study, sync_sends):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite serialises whole transactions (CI runs this)")
    now = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
    prompts = due_prompts(study, 40, now, per_participant=2)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def tick():
        try:
            barrier.wait()
            results.append(dispatch.dispatch_due_prompts(batch_size=7))
        except Exception as exc:  # reported below, never swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    with time_machine.travel(now, tick=False):
        threads = [threading.Thread(target=tick) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert errors == []
    assert sum(r.sent for r in results) == len(prompts) == 80
    assert all(r.claimed for r in results)  # both ticks did part of the work, neither waited for the other
    assert set(ScheduledPrompt.objects.values_list("status", flat=True)) == {"sent"}
    assert OutboundMessage.objects.count() == 80
    assert ScheduledPrompt.objects.values("outbound").distinct().count() == 80
    per_phone = {}
    for m in sync_sends:
        per_phone[m["to"]] = per_phone.get(m["to"], 0) + 1
    assert len(sync_sends) == 80 and set(per_phone.values()) == {2}


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "eprp", "worker", "--pool", "solo", "--concurrency", "1",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _in_transaction() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")
        return cursor.fetchone()[0] > 0


def _sweep(app, broker: str):

    def enqueue(message_ids):
        with app.connection_for_write(broker) as conn:
            app.send_task("notifications.tasks.send_messages", args=[[str(i) for i in message_ids]], connection=conn)

    real, outbox._enqueue = outbox._enqueue, enqueue
    try:
        outbox.requeue_stuck_messages(older_than=timedelta(0))
    finally:
        outbox._enqueue = real


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_batch_loses_and_repeats_nothing(study):
    broker = settings.CELERY_BROKER_URL
    if connection.vendor != "postgresql" or not broker.startswith("redis://"):
        pytest.skip("needs PostgreSQL and Redis, shared with a worker process (CI has both)")
    import redis

    from eprp.celery import app

    # A Redis database of its own, so the worker takes no one else's tasks and leaves none behind.
    own_broker = broker.rsplit("/", 1)[0] + "/13"
    redis.Redis.from_url(own_broker).flushdb()
    now = datetime.now(UTC)
    prompts = due_prompts(study, 100, now, per_participant=3)
    db = connection.settings_dict
    with FakeTwilio(TOKEN, ACCOUNT) as fake:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            CELERY_BROKER_URL=own_broker, SMS_BACKEND="twilio", TWILIO_API_BASE=fake.base_url,
            TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_MESSAGING_SERVICE_SID="MG" + "d" * 32,
            SMS_MAX_PER_SECOND="200",  # a 10DLC-sized budget (the default is one long code's 1/s)
            PUBLIC_BASE_URL="https://eprp.test", FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY,
            SECRET_KEY=settings.SECRET_KEY, LOG_LEVEL="WARNING",
        )

        def tick():
            with app.connection_for_write(own_broker) as conn:
                app.send_task("notifications.tasks.dispatch_due_prompts", connection=conn)

        sent = ScheduledPrompt.objects.filter(status="sent")
        worker = _worker(env)
        try:
            tick()
            # The first batch (100 prompts) is committed: kill the worker while it is inside the next
            # one, i.e. while its database session has a transaction open.
            _wait(lambda: sent.exists() and _in_transaction(), 90, "the second batch")
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            killed_at = sent.count()
            assert 0 < killed_at < len(prompts), "the kill should land mid-run"
            # The batch in flight left nothing behind: no message without its prompt, none half-claimed.
            assert OutboundMessage.objects.count() == killed_at
            assert set(ScheduledPrompt.objects.exclude(status="sent").values_list("status", flat=True)) == {"pending"}
            worker = _worker(env)
            tick()  # the next beat tick
            # The kill may also have landed after a commit, while the send tasks were being
            # published: the outbox sweeper (beat, every 2 minutes) re-enqueues what stayed
            # queued. Run it now instead of waiting; a duplicate task is a no-op (claimed once).
            _sweep(app, own_broker)
            _wait(lambda: len(fake.messages) >= len(prompts) and not ScheduledPrompt.objects.exclude(
                status="sent").exists(), 120, "every prompt sent")
            time.sleep(1)  # anything sent twice would arrive now
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
            redis.Redis.from_url(own_broker).flushdb()
    assert len(fake.messages) == len(prompts) == 300
    assert OutboundMessage.objects.filter(status="sent").count() == 300
    phones_by_hash = {p.phone_hash: p for p in Participant.objects.all()}
    per_phone = {}
    for m in fake.messages:
        key = phones.lookup_hash(m["to"])
        assert key in phones_by_hash
        per_phone[key] = per_phone.get(key, 0) + 1
    assert set(per_phone.values()) == {3} and len(per_phone) == 100
