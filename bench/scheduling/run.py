"""Scheduling benchmark: plan and dispatch for 100,000 participants over 20 zones (PostgreSQL, Redis, fake Twilio).

    .venv/bin/python bench/scheduling/run.py [--participants 100000] [--dispatch 20000] [--runs 3]

It creates the database `eprp_bench_sched` (`BENCH_DB`; dropped first; Redis: `BENCH_BROKER_URL`)
and bulk-inserts participants
(enrolling 100,000 through the service would take most of an hour; phones are encrypted
with diaries.phones as the service would) in 20 zones where the evening diary window is
open right now: 70% in the vehicle-controlled phase, 10% in run-in, 20% long-term (half of
those with a clearance two days ago, so tomorrow's stop prompt is planned). Then:

- plan: `notifications.scheduling.planner.plan_prompts()` for everyone, first on an empty table
  (two days of rows), then the steady-state daily run one, two and three days later (rows
  already dispatched are marked sent in between, untimed);
- dispatch: `--dispatch` due prompts (tonight's diary prompts and reminders) are left due,
  the rest pushed out of the way; 2 Celery worker processes (prefork, concurrency 2) on
  Redis receive one tick a minute as from beat; the clock runs from the first tick until
  the fake Twilio server (this process) has received every message: messages per second
  from due to handed to the transport, send tasks included.

Each dispatch run uses a fresh set of due prompts; medians over `--runs`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
DB = os.environ.get("BENCH_DB", "eprp_bench_sched")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
ACCOUNT = "AC" + "e" * 32
TOKEN = "bench-token"


def env(**extra) -> dict:
    e = dict(os.environ)
    e.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}", DJANGO_DEBUG="0", LOG_LEVEL="WARNING",
        CELERY_BROKER_URL=BROKER, EPRP_VAR_DIR=str(ROOT / "var" / "bench"), SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_MESSAGING_SERVICE_SID="MG" + "f" * 32,
        PUBLIC_BASE_URL="https://eprp.bench",
    )
    e.update(extra)
    # Dispatch as fast as it goes: no sender budget unless the caller sets one (bench/twilio/peak.py).
    e.setdefault("SMS_MAX_PER_SECOND", "0")
    return e


def evening_zones(now: datetime, count: int) -> list[str]:
    """Zones where tonight's 19:00 prompt is due and its window still open: local 19:05 .. 23:59."""
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc", "SystemV", "posix",
                                                                                        "right")))
    ok = [z for z in zones if (19, 5) <= (now.astimezone(ZoneInfo(z)).hour, now.astimezone(ZoneInfo(z)).minute)]
    return ok[:: max(len(ok) // count, 1)][:count]


def setup_database(study: str = "studies/true-ad.toml"):
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run(psql + [f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"], check=True)
    subprocess.run(psql + [f"CREATE DATABASE {DB}"], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([sys.executable, "manage.py", "load_study", study], cwd=ROOT, env=env(),
                   check=True, stdout=subprocess.DEVNULL)


def create_participants(n: int, zones: list[str], now: datetime) -> None:
    from diaries import phones
    from diaries.models import Participant, Phase, Site, Study, TreatmentEvent

    study = Study.objects.get()
    sites = list(Site.objects.filter(study=study))
    rows, events = [], []
    for i in range(n):
        zone = zones[i % len(zones)]
        e164 = f"+1415{2000000 + i:07d}"
        kind = i % 10
        phase = Phase.RUNIN if kind == 0 else Phase.LONG_TERM if kind >= 8 else Phase.VEHICLE_CONTROLLED
        today = now.astimezone(ZoneInfo(zone)).date()
        first_at = None
        if phase == Phase.VEHICLE_CONTROLLED:
            first_at = now - timedelta(days=20)
        elif phase == Phase.LONG_TERM:
            first_at = now - timedelta(days=100)
        p = Participant(
            study=study, site=sites[i % len(sites)], usubjid=f"S-{i:06d}", phone_encrypted=phones.encrypt(e164),
            phone_hash=phones.lookup_hash(e164), zone=zone, language="en" if i % 3 else "es", phase=phase,
            runin_start=today - timedelta(days=3 if phase == Phase.RUNIN else 130 if first_at and kind >= 8
                                          else 27),
            first_application_at=first_at, enrolled_at=now - timedelta(days=30),
        )
        rows.append(p)
        if kind == 9:
            events.append(TreatmentEvent(participant=p, kind="cleared", event_date=today - timedelta(days=2),
                                         channel="sms", reported_at=now - timedelta(days=2)))
    Participant.objects.bulk_create(rows, batch_size=5000)
    TreatmentEvent.objects.bulk_create(events, batch_size=5000)


def timed_plan(now: datetime) -> tuple[float, object]:
    from django.db import connection

    from notifications.scheduling import planner

    connection.close()
    t0 = time.perf_counter()
    stats = planner.plan_prompts(now=now)
    return time.perf_counter() - t0, stats


def start_workers(fake_url: str, nice: int = 0) -> subprocess.Popen:
    """2 worker processes; `nice` lowers their CPU priority as `deploy/eprp worker` does (WORKER_NICE)."""
    from django.conf import settings

    return subprocess.Popen(
        ["nice", "-n", str(nice), sys.executable, "-m", "celery", "-A", "eprp", "worker", "--pool", "prefork",
         "--concurrency", "2",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env=env(TWILIO_API_BASE=fake_url, FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY,
                          SECRET_KEY=settings.SECRET_KEY),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def dispatch_run(ids: list[int], fake) -> dict:
    from django.db.models import F

    from eprp.celery import app
    from notifications.models import ScheduledPrompt

    # Only this run's prompts are due: everything else due soon is held back (untimed).
    soon = datetime.now(UTC) + timedelta(hours=2)
    ScheduledPrompt.objects.filter(status="pending", due_at__lte=soon).exclude(pk__in=ids).update(
        due_at=F("due_at") + timedelta(days=30))
    due = datetime.now(UTC) - timedelta(seconds=5)
    ScheduledPrompt.objects.filter(pk__in=ids).update(due_at=due)
    # This run's prompts, found by their due time (every other pending prompt was moved out of
    # the way, and diary prompts are never deferred): polled five times a second, the same
    # query with the 3,000 ids in an IN list cost 20-35 ms of CPU a time, 10-15% of a core.
    batch = ScheduledPrompt.objects.filter(due_at=due)
    before = len(fake.messages)
    t0 = time.perf_counter()
    next_tick = t0
    dispatched = None  # every prompt turned into a queued outbound message (the tick's own work)
    with app.connection_for_write(BROKER) as conn:
        while True:
            if time.perf_counter() >= next_tick:  # beat: one tick a minute
                app.send_task("notifications.tasks.dispatch_due_prompts", connection=conn)
                next_tick += 60
            if not batch.filter(status="pending").exists():
                dispatched = dispatched or time.perf_counter() - t0
                sent = batch.filter(status="sent").count()
                if len(fake.messages) - before >= sent:
                    break
            if time.perf_counter() - t0 > 1800:
                raise SystemExit("dispatch did not finish in 30 minutes")
            time.sleep(0.2)
    seconds = time.perf_counter() - t0
    messages = len(fake.messages) - before
    return {"messages": messages, "seconds": round(seconds, 1), "per_second": round(messages / seconds, 1),
            "prompts_sent": sent, "skipped": batch.filter(status="skipped").count(),
            "dispatched_per_second": round(sent / dispatched, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--zones", type=int, default=20)
    parser.add_argument("--dispatch", type=int, default=20_000, help="due prompts per dispatch run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    now = datetime.now(UTC).replace(microsecond=0)
    zones = evening_zones(now, args.zones)
    if len(zones) < args.zones:
        raise SystemExit(f"only {len(zones)} zones are in their evening right now; try again in an hour")
    print(f"load: {os.getloadavg()}  zones: {', '.join(zones)}", flush=True)
    setup_database()
    os.environ.update(env(DJANGO_SETTINGS_MODULE="eprp.settings"))
    import django

    django.setup()
    from django.db.models import F

    from notifications.models import ScheduledPrompt
    from tests.fake_twilio import FakeTwilio

    t0 = time.perf_counter()
    create_participants(args.participants, zones, now)
    print(f"created {args.participants} participants in {time.perf_counter() - t0:.1f} s", flush=True)

    # Planned 6 hours ago, so tonight's 19:00 prompts in these zones are due now.
    plan_at = now - timedelta(hours=6)
    first, stats = timed_plan(plan_at)
    rows = ScheduledPrompt.objects.count()
    print(f"plan (empty table, 2 days): {first:.1f} s, {rows} rows, {stats}", flush=True)

    due = list(ScheduledPrompt.objects.filter(status="pending", due_at__lte=now).order_by("due_at")
               .values_list("pk", flat=True))
    print(f"due now: {len(due)}", flush=True)
    if len(due) < args.dispatch * args.runs:
        raise SystemExit("not enough due prompts for the dispatch runs; lower --dispatch or --runs")
    ScheduledPrompt.objects.filter(pk__in=due).update(due_at=F("due_at") + timedelta(days=30))  # held back

    import redis

    redis.Redis.from_url(BROKER).flushdb()
    results = []
    with FakeTwilio(TOKEN, ACCOUNT) as fake:
        workers = start_workers(fake.base_url)
        try:
            time.sleep(5)  # worker start-up, outside the clock
            for run in range(args.runs):
                batch = due[run * args.dispatch:(run + 1) * args.dispatch]
                result = dispatch_run(batch, fake)
                results.append(result)
                print(f"dispatch run {run + 1}: {result}  load: {os.getloadavg()}", flush=True)
        finally:
            os.killpg(workers.pid, 15)
            workers.wait(30)
            redis.Redis.from_url(BROKER).flushdb()

    # The held-back prompts stand for tonight's messages already dispatched.
    ScheduledPrompt.objects.filter(status="pending", due_at__gt=now + timedelta(days=20)).update(status="sent")
    daily = []
    for day in (1, 2, 3):
        at = plan_at + timedelta(days=day)
        ScheduledPrompt.objects.filter(status="pending", due_at__lt=at).update(status="sent")  # dispatched
        seconds, stats = timed_plan(at)
        daily.append(seconds)
        print(f"plan, daily run {day}: {seconds:.1f} s {stats}  load: {os.getloadavg()}", flush=True)
    print(f"\nSUMMARY participants={args.participants} zones={len(zones)}")
    print(f"  plan a day (steady state), median of {len(daily)}: {statistics.median(daily):.1f} s "
          f"(runs {', '.join(f'{s:.1f}' for s in daily)}); first plan on an empty table: {first:.1f} s")
    rates = [r["per_second"] for r in results]
    print(f"  dispatch, {args.dispatch} messages per run, median of {len(rates)}: {statistics.median(rates):.0f} "
          f"messages/s due to handed to the transport (runs {', '.join(f'{r:.0f}' for r in rates)})")
    ticks = [r["dispatched_per_second"] for r in results]
    print(f"  of which the tick alone (due to outbound row queued, while sends run beside it): "
          f"{statistics.median(ticks):.0f} prompts/s (runs {', '.join(f'{r:.0f}' for r in ticks)})")


if __name__ == "__main__":
    main()
