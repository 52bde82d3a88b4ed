"""The evening peak's dispatch in one process: CPU and SQL statements a prompt, the tick and the send apart.

The same participants, study and due prompts as bench/twilio/peak.py (tonight's diary
prompts all due at once, US and European zones), on PostgreSQL and Redis, without Celery's
workers, gunicorn or the patients: this process runs the tick (`dispatch_due_prompts`,
which also publishes the send tasks to Redis as it would) and then every send task's work
(`send_messages_task` through Celery's tracer, a chunk at a time, in the order the tick
queued them) through the real Twilio SDK. The fake Twilio server runs in a process of its
own, so its CPU is not counted. Reported a round: `time.process_time` (every thread of
this process) and the CPU of this connection's PostgreSQL backend (/proc), per prompt;
SQL statements per prompt (each `execute`, savepoints included; BEGIN/COMMIT are not
statements Django executes). Each round starts from the same rows (messages deleted,
prompts pending again, no conversations yet); the first is a warm-up and is not counted.

    BENCH_DB=eprp_bench_dispatch BENCH_BROKER_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/twilio/dispatch_cpu.py [--participants 2000] [--rounds 4] [--profile tick|send]

`--workers`: the send tasks run in 2 Celery worker processes (prefork, as at the peak)
while the tick runs here, and their CPU is read from /proc: Celery's own cost a task
included (the broker, the pool), statements not counted.

`--profile` prints a CPU profile of that part of the last round (the sends then one at a
time in this thread, so that the profile sees them).
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import proc  # noqa: E402
from bench.scheduling import run as sched  # noqa: E402
from bench.twilio import zones  # noqa: E402

# Every send paced (one Redis call a message, as at the peak) but never held back: CPU, not the budget.
BUDGET = 1_000_000


def serve_fake_twilio(pipe, stop) -> None:
    from tests.fake_twilio import FakeTwilio

    with FakeTwilio(sched.TOKEN, sched.ACCOUNT) as fake:
        pipe.send(fake.base_url)
        stop.wait()
        pipe.send(len(fake.messages))


class Statements:
    """Counts the statements Django executes on a connection."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().decode().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def setup(participants: int, base_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    study = ROOT / "var" / "bench" / "dispatch-study.toml"
    study.parent.mkdir(parents=True, exist_ok=True)
    study.write_text(zones.shifted_study(zones.shift_minutes(now)))
    sched.setup_database(str(study))
    os.environ.update(sched.env(DJANGO_SETTINGS_MODULE="eprp.settings", SMS_MAX_PER_SECOND=str(BUDGET),
                                TWILIO_API_BASE=base_url))
    import django

    django.setup()
    sched.create_participants(participants, zones.ZONES, now)
    sched.timed_plan(now - timedelta(hours=9))  # before tonight's prompt in every zone


def tonight() -> list:
    """Tonight's diary prompts (due by now); every other pending prompt moved out of the way, as peak.py does."""
    from django.db.models import F

    from notifications.models import ScheduledPrompt

    due = list(ScheduledPrompt.objects.filter(status="pending", kind="diary", due_at__lte=datetime.now(UTC))
               .values_list("pk", flat=True))
    ScheduledPrompt.objects.filter(status="pending").exclude(pk__in=due).update(due_at=F("due_at") + timedelta(days=30))
    return due


def reset(prompts: list, at: datetime) -> None:
    """The prompts pending and due at `at`, nothing sent yet, no conversation started."""
    from notifications.models import Conversation, DeliveryStatus, OutboundMessage, ScheduledPrompt

    ScheduledPrompt.objects.filter(pk__in=prompts).update(status="pending", outbound=None, reason="", due_at=at)
    DeliveryStatus.objects.all().delete()
    OutboundMessage.objects.all().delete()
    Conversation.objects.all().delete()


def group_cpu(pgid: int) -> float:
    return sum(p.cpu_seconds for p in proc.processes() if p.pgid == pgid)


def database_cpu() -> float:
    return sum(p.cpu_seconds for p in proc.processes()
               if p.cmdline.startswith(b"postgres: ") and f" {sched.DB} ".encode() in p.cmdline)


def one_round_with_workers(due: list, workers: int) -> dict:
    """The tick in this process, the send tasks in Celery's worker processes as they run at the peak."""
    import redis

    from notifications.models import OutboundMessage, OutboundStatus
    from notifications.scheduling import dispatch

    at = datetime.now(UTC) - timedelta(seconds=1)
    reset(due, at)
    redis.Redis.from_url(sched.BROKER).flushdb()
    before = time.process_time(), group_cpu(workers), database_cpu()
    stats = dispatch.dispatch_due_prompts(time_budget=None)
    ticked = time.process_time()
    sent = OutboundMessage.objects.filter(status=OutboundStatus.SENT)
    while sent.count() < stats.sent:
        time.sleep(0.2)
    n = len(due)
    return {"prompts": n, "sent": stats.sent, "handed": sent.count(),
            "tick_ms": (ticked - before[0]) * 1000 / n, "workers_ms": (group_cpu(workers) - before[1]) * 1000 / n,
            "postgres_ms": (database_cpu() - before[2]) * 1000 / n}


def one_round(due: list, profile: str | None) -> dict:
    import redis
    from django.conf import settings
    from django.db import connection

    from notifications.models import OutboundMessage, OutboundStatus
    from notifications.outbox import SEND_CHUNK, send_messages_task
    from notifications.scheduling import dispatch

    at = datetime.now(UTC) - timedelta(seconds=1)
    reset(due, at)
    prompts = len(due)
    redis.Redis.from_url(sched.BROKER).flushdb()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    result = {"prompts": prompts}
    for part in ("tick", "send"):
        statements = Statements()
        # CPU, not wall time; the send threads' work shows only when it runs in this thread.
        profiler = cProfile.Profile(time.process_time) if profile == part else None
        if profiler and part == "send":
            settings.SMS_SEND_THREADS = 1
        cpu, db = time.process_time(), backend_cpu(backend)
        with connection.execute_wrapper(statements):
            if profiler:
                profiler.enable()
            if part == "tick":
                stats = dispatch.dispatch_due_prompts(time_budget=None)
                result["sent"] = stats.sent
            else:
                # The send tasks' chunks as the tick enqueued them (earliest deadline first, a batch at a time).
                queued = list(OutboundMessage.objects.filter(status=OutboundStatus.QUEUED)
                              .order_by("created_at", "expires_at", "pk").values_list("pk", flat=True))
                for i in range(0, len(queued), SEND_CHUNK):
                    send_messages_task.apply(args=([str(pk) for pk in queued[i:i + SEND_CHUNK]],))
                result["handed"] = OutboundMessage.objects.filter(status=OutboundStatus.SENT).count()
            if profiler:
                profiler.disable()
        result[part] = {"cpu_ms": (time.process_time() - cpu) * 1000 / prompts,
                        "pg_ms": (backend_cpu(backend) - db) * 1000 / prompts,
                        "statements": statements.count / prompts}
        if profiler:
            profiler.dump_stats(ROOT / "var" / "bench" / f"dispatch-{part}.prof")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    redis.Redis.from_url(sched.BROKER).flushdb()
    return result


def with_workers(due: list, rounds: int, base_url: str) -> None:
    workers = sched.start_workers(base_url)
    try:
        results = []
        for n in range(rounds):
            r = one_round_with_workers(due, workers.pid)
            print(f"round {n}{' (warm-up)' if n == 0 else ''}: {r['prompts']} prompts, sent {r['sent']}, handed to "
                  f"Twilio {r['handed']}; tick {r['tick_ms']:.2f} ms CPU, workers {r['workers_ms']:.2f} ms CPU, "
                  f"PostgreSQL (every backend) {r['postgres_ms']:.2f} ms", flush=True)
            if n:
                results.append(r)
    finally:
        os.killpg(workers.pid, 15)
        workers.wait(30)
    print(f"SUMMARY per prompt, median of {len(results)} rounds of {results[0]['prompts']} prompts, sent by 2 Celery "
          f"worker processes (load at the end {os.getloadavg()}):")
    for key, name in (("tick_ms", "tick (this process)"), ("workers_ms", "the workers (send tasks)"),
                      ("postgres_ms", "PostgreSQL, every backend")):
        print(f"  {name}: {statistics.median(r[key] for r in results):.2f} ms CPU")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4, help="the first is a warm-up")
    parser.add_argument("--profile", choices=["tick", "send"], help="cProfile that part of the last round")
    parser.add_argument("--workers", action="store_true",
                        help="send in 2 Celery worker processes (prefork) as at the peak, their CPU from /proc")
    args = parser.parse_args()

    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    stop = spawn.Event()
    server = spawn.Process(target=serve_fake_twilio, args=(theirs, stop), daemon=True)
    server.start()
    try:
        base_url = ours.recv()
        setup(args.participants, base_url)
        print(f"load {os.getloadavg()}  db {sched.DB}  broker {sched.BROKER}", flush=True)
        rounds, due = [], tonight()
        if args.workers:
            return with_workers(due, args.rounds, base_url)
        for n in range(args.rounds):
            r = one_round(due, args.profile if n == args.rounds - 1 else None)
            print(f"round {n}{' (warm-up)' if n == 0 else ''}: {r['prompts']} prompts, sent {r['sent']}, handed to "
                  f"Twilio {r['handed']}; " + "; ".join(
                      f"{part} {r[part]['cpu_ms']:.2f} ms CPU + {r[part]['pg_ms']:.2f} ms PostgreSQL, "
                      f"{r[part]['statements']:.2f} statements" for part in ("tick", "send")), flush=True)
            if n:
                rounds.append(r)
    finally:
        stop.set()
        server.join(10)

    def median(part, key):
        return statistics.median(r[part][key] for r in rounds)

    print(f"SUMMARY per prompt, median of {len(rounds)} rounds of {rounds[0]['prompts']} prompts "
          f"(load at the end {os.getloadavg()}):")
    for part in ("tick", "send"):
        print(f"  {part}: {median(part, 'cpu_ms'):.2f} ms CPU, {median(part, 'pg_ms'):.2f} ms PostgreSQL backend, "
              f"{median(part, 'statements'):.2f} SQL statements")
    total = statistics.median(r["tick"]["cpu_ms"] + r["send"]["cpu_ms"] for r in rounds)
    print(f"  tick + send: {total:.2f} ms CPU")


if __name__ == "__main__":
    main()
