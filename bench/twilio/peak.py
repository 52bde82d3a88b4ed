"""The evening peak, closed loop: prompts out under the sender budget, the patients' replies in, an outage.

12,490 participants in US and European zones (bench/twilio/zones.py: the study's times of
day moved so that it is their evening now), PostgreSQL, Redis, gunicorn as deploy/eprp
starts it (2 sync workers), 2 Celery worker processes sending through the real Twilio SDK
to the fake Twilio server (in this process) with SMS_MAX_PER_SECOND as the sender's
budget on Redis, one tick a minute as beat sends it. Tonight's diary prompts are all due
at one instant (the 19:00 peak). The fake server hands each accepted prompt to the
patients (bench/twilio/patients.py, their own process), who answer as signed inbound
webhooks to gunicorn after a delay in simulated minutes played `--compress` times faster
(after the first `--real-minutes`, which play in real time);
Twilio's message log holds every text. `--outage-at` simulated minutes into the peak the
webhooks fail for `--outage-minutes`; once they work again `manage.py reconcile_sms`
reads the fake server's log for the outage (while the webhooks go on) and is timed.

Reported (SUMMARY): prompts per second against the budget, due to handed-to-Twilio, the
inbound webhook's latency while dispatch runs and after, texts in = records + refusals
(nothing lost or twice, from PostgreSQL), the outage's texts reconciled once in the right
diary day, no message whose ValidityPeriod outlives its window, and the same run's
floors: the trivial view and the webhook floor (bench/webhook/floor.py) through the same
gunicorn, closed loop before the peak and probed at a fixed rate during it.

    BENCH_DB=eprp_bench_peak BENCH_BROKER_URL=redis://127.0.0.1:6379/12 \\
        flock /tmp/eprp-bench.lock .venv/bin/python bench/twilio/peak.py --participants 12490 --budget 225
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scheduling import run as sched  # noqa: E402
from bench.twilio import patients, serve, zones  # noqa: E402


def arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=12_490)
    parser.add_argument("--budget", type=int, default=225, help="SMS_MAX_PER_SECOND of the sender")
    parser.add_argument("--compress", type=float, default=20, help="simulated seconds per real second (replies)")
    parser.add_argument("--real-minutes", type=float, default=0,
                        help="the first simulated minutes of the peak in real time, then --compress")
    parser.add_argument("--outage-at", type=float, default=5, help="simulated minutes into the peak")
    parser.add_argument("--outage-minutes", type=float, default=10)
    parser.add_argument("--probe-rate", type=float, default=2, help="trivial view and floor requests/s, each")
    parser.add_argument("--floor-seconds", type=float, default=5, help="each closed-loop floor before the peak")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4, help="threads a web worker, as deploy/eprp's WEB_THREADS")
    parser.add_argument("--worker-nice", type=int, default=10,
                        help="the Celery workers' and reconciliation's CPU priority, as deploy/eprp's WORKER_NICE")
    parser.add_argument("--no-replies", action="store_true", help="dispatch alone: nobody answers, no probes")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8717")))
    return parser.parse_args()


def main():
    args = arguments()
    load_start = os.getloadavg()
    now = datetime.now(UTC).replace(microsecond=0)
    shift = zones.shift_minutes(now)
    study = ROOT / "var" / "bench" / "peak-study.toml"
    study.parent.mkdir(parents=True, exist_ok=True)
    study.write_text(zones.shifted_study(shift))
    print(f"load: {load_start}  db: {sched.DB}  broker: {sched.BROKER}  study times moved by {shift} min "
          f"(prompt 19:00 -> {(19 * 60 + shift) % 1440 // 60:02d}:{shift % 60:02d})  zones: {', '.join(zones.ZONES)}",
          flush=True)
    sched.setup_database(str(study))
    os.environ.update(sched.env(DJANGO_SETTINGS_MODULE="eprp.settings", SMS_MAX_PER_SECOND=str(args.budget)))
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db.models import F

    from eprp.celery import app
    from notifications.models import OutboundMessage, ScheduledPrompt
    from tests.fake_twilio import FakeTwilio

    sched.create_participants(args.participants, zones.ZONES, now)
    sched.timed_plan(now - timedelta(hours=9))  # before tonight's prompt in every zone
    phones = [f"+1415{2000000 + i:07d}" for i in range(args.participants)]
    redis.Redis.from_url(sched.BROKER).flushdb()

    class PeakTwilio(FakeTwilio):
        """The fake server, telling the patients of every message it accepted."""
        prompts = None

        def _create(self, path, params, authorization):
            status, payload = super()._create(path, params, authorization)
            if status == 201 and self.prompts is not None:
                self.prompts.put((params["To"], time.time()))
            return status, payload

    spawn = multiprocessing.get_context("spawn")
    results_path = ROOT / "var" / "bench" / "peak-texts.json"
    with PeakTwilio(sched.TOKEN, sched.ACCOUNT) as fake:
        env = sched.env(TWILIO_API_BASE=fake.base_url, FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY,
                        SECRET_KEY=settings.SECRET_KEY, SMS_MAX_PER_SECOND=str(args.budget))
        access_log = ROOT / "var" / "bench" / "peak-access.log"
        server = serve.start_gunicorn(env, args.port, args.web_workers, access_log, args.web_threads)
        workers = None
        try:
            setup = patients.Setup(port=args.port, public_base=settings.PUBLIC_BASE_URL, token=sched.TOKEN,
                                   account=sched.ACCOUNT, compress=args.compress, start=0.0,
                                   real_minutes=args.real_minutes,
                                   outage_at=args.outage_at, outage_minutes=args.outage_minutes,
                                   probe_rate=0 if args.no_replies else args.probe_rate,
                                   replies=not args.no_replies)
            floors = {}
            for name, path in (("trivial view", "/health/"), ("webhook floor", patients.FLOOR)):
                asyncio.run(patients.closed_loop(setup, path, phones, 1))  # warm-up
                latencies = asyncio.run(patients.closed_loop(setup, path, phones, args.floor_seconds))
                floors[name] = (len(latencies) / args.floor_seconds, [x * 1000 for x in latencies])
                print(f"{name}, closed loop 16 connections: {floors[name][0]:.0f}/s", flush=True)
            workers = sched.start_workers(fake.base_url, nice=args.worker_nice)
            warm_up(app, phones, OutboundMessage, fake)  # worker start-up, outside the clock

            at = datetime.now(UTC) + timedelta(seconds=5)
            due = ScheduledPrompt.objects.filter(status="pending", kind="diary", due_at__lte=datetime.now(UTC))
            ScheduledPrompt.objects.filter(status="pending").exclude(pk__in=due).update(
                due_at=F("due_at") + timedelta(days=30))  # everything but tonight's diary prompts waits
            count = due.update(due_at=at)
            print(f"due at once: {count}  load: {os.getloadavg()}", flush=True)
            setup.start = at.timestamp()
            prompts_q, logged, done = spawn.Queue(), spawn.Queue(), spawn.Event()
            fake.prompts = prompts_q
            child = spawn.Process(target=patients.run, args=(setup, prompts_q, logged, done, str(results_path)))
            child.start()

            def log_texts():
                for sid, phone, body, sent in iter(logged.get, None):
                    fake.add_inbound(sender=phone, body=body, at=datetime.fromtimestamp(sent, UTC),
                                     to=patients.OUR_NUMBER, sid=sid)

            threading.Thread(target=log_texts, daemon=True).start()
            groups = {"gunicorn": server.pid, "celery": workers.pid, "patients": child.pid}
            peak = run_peak(args, setup, app, at, fake, env, ScheduledPrompt, groups)
            done.set()
            print(f"dispatch done in {peak['dispatch_seconds']:.1f} s; waiting for the late replies "
                  f"(up to {setup.real_at(120) - time.time():.0f} s)  load: {os.getloadavg()}", flush=True)
            prompts_q.put(None)
            child.join()
            logged.put(None)
            wait_for_outbox(OutboundMessage)
            # The hourly reconciliation, over the whole peak: webhooks that timed out (Twilio gave up)
            # and were never handled are in the log only.
            hourly = timed_reconciliation(at - timedelta(minutes=1), datetime.now(UTC) + timedelta(seconds=1), env,
                                          args.worker_nice)
            wait_for_outbox(OutboundMessage)
        finally:
            if workers is not None:
                os.killpg(workers.pid, 15)
                workers.wait(30)
            os.killpg(server.pid, 15)
            server.wait(30)
            redis.Redis.from_url(sched.BROKER).flushdb()
        messages = list(fake.messages)
        received = list(fake.received_at)
    summary(args, at, peak, floors, messages, received, results_path, access_log, load_start, hourly)


def warm_up(app, phones, OutboundMessage, fake) -> None:
    """Both worker processes started and each has sent a text (imports, Twilio client, pool): not in the peak."""
    from diaries.models import Participant
    from notifications.outbox import queue_message

    for _ in range(120):
        if len(app.control.ping(timeout=1)) >= 1:
            break
    before = len(fake.messages)
    for p in Participant.objects.order_by("pk")[:8]:
        queue_message(participant=p, kind="reply", body="Warm-up")
    stop = time.time() + 120
    while len(fake.messages) < before + 8 and time.time() < stop:
        time.sleep(0.5)
    time.sleep(2)


def timed_reconciliation(since: datetime, until: datetime, env: dict, nice: int) -> dict:
    """`manage.py reconcile_sms` against the fake server's log, timed, with its floor (`manage.py check`).

    At the workers' priority: the hourly reconciliation is their task."""
    niced = ["nice", "-n", str(nice), sys.executable, "manage.py"]
    command = [*niced, "reconcile_sms", "--since", since.isoformat(), "--until", until.isoformat()]
    t0 = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([*niced, "check"], cwd=ROOT, env=env, capture_output=True, check=True)
    if out.returncode:
        print(out.stderr[-2000:], flush=True)
    return {"seconds": seconds, "output": out.stdout.strip() or f"failed ({out.returncode})",
            "command": " ".join(command[len(niced):]), "floor": time.perf_counter() - t0}


def run_peak(args, setup, app, at, fake, env, ScheduledPrompt, groups) -> dict:
    """Ticks a minute until every prompt is handed over; the outage's reconciliation beside it."""
    start = at.timestamp()
    outage_start, outage_end = setup.outage()
    reconciliation: dict = {}

    def reconcile():
        reconciliation.update(timed_reconciliation(datetime.fromtimestamp(int(outage_start) - 1, UTC),
                                                   datetime.fromtimestamp(int(outage_end) + 2, UTC), env,
                                                   args.worker_nice))

    reconciler = threading.Thread(target=reconcile)
    time.sleep(max(0.0, start - time.time()))
    t0 = time.perf_counter()
    next_tick = t0
    batch = ScheduledPrompt.objects.filter(due_at=at)
    before = len(fake.messages)
    dispatched = ticked = None
    cpu = [serve.cpu_seconds(groups, sched.DB)]
    with app.connection_for_write(sched.BROKER) as conn:
        while dispatched is None or reconciler.is_alive() or not reconciliation:
            if time.perf_counter() >= next_tick:
                app.send_task("notifications.tasks.dispatch_due_prompts", connection=conn)
                next_tick += 60
            if dispatched is None and not batch.filter(status="pending").exists():
                ticked = ticked or time.perf_counter() - t0
                sent = batch.filter(status="sent").count()
                if len(fake.messages) - before >= sent:
                    dispatched = time.perf_counter() - t0
                    cpu.append(serve.cpu_seconds(groups, sched.DB))
            # Reconciliation once the webhooks work again and Twilio's log has the outage's last text.
            if not reconciler.is_alive() and not reconciliation and time.time() > outage_end + 2:
                reconciler.start()
            if time.perf_counter() - t0 > 1800:
                raise SystemExit("the peak did not finish in 30 minutes")
            time.sleep(0.5)
    return {"dispatch_seconds": dispatched, "ticked_seconds": ticked, "dispatch_end": start + dispatched,
            "prompts": batch.count(),
            "sent": batch.filter(status="sent").count(), "skipped": batch.filter(status="skipped").count(),
            "outage": (outage_start, outage_end), "reconciliation": reconciliation,
            "cpu": {k: cpu[1][k] - cpu[0][k] for k in cpu[0]}}


def wait_for_outbox(OutboundMessage, seconds: float = 120) -> None:
    """The replies reconciliation texted leave through the workers: wait until none is left queued."""
    stop = time.time() + seconds
    while OutboundMessage.objects.filter(status__in=["queued", "sending"]).exists() and time.time() < stop:
        time.sleep(1)


def summary(args, at, peak, floors, messages, received, results_path, access_log, load_start, hourly):
    from bench.twilio import checks  # Django's models: after django.setup()
    from notifications.models import OutboundMessage

    results = json.loads(results_path.read_text())
    texts, probes = results["texts"], results["probes"]
    start, end = at.timestamp(), peak["dispatch_end"]
    prompt_sids = set(OutboundMessage.objects.filter(kind__in=["diary", "reminder"], provider_sid__gt="")
                      .values_list("provider_sid", flat=True))
    prompt_times = [t for m, t in zip(messages, received, strict=True) if m["sid"] in prompt_sids]
    per_second = Counter(int(t) for t in prompt_times)
    latencies = [t - start for t in prompt_times]
    during = [t for t in texts if start <= t["at"] < end and t.get("ms") is not None]
    after = [t for t in texts if t["at"] >= end and t.get("ms") is not None]
    errors = Counter(str(t["status"]) for t in texts if t["status"] not in (200, "outage"))
    outage = {t["sid"] for t in texts if t["status"] == "outage"}
    accounting = checks.texts_in(texts, at - timedelta(minutes=1))
    drill = checks.reconciled(outage)
    handed, late = checks.late_validity(messages)
    server_during = serve.server_times(access_log, patients.INBOUND, start, end + 1)
    rec = peak["reconciliation"]
    print(f"\nSUMMARY participants={args.participants} zones={len(zones.ZONES)} (US Central/Eastern, Western/Central "
          f"Europe) budget={args.budget}/s web {args.web_workers}x{args.web_threads} worker nice {args.worker_nice} "
          f"compress={args.compress:g}x (1 simulated minute = {60 / args.compress:g} s) after the first "
          f"{args.real_minutes:g} minutes in real time; load at start {load_start} at end {os.getloadavg()}")
    print(f"  prompts due at once: {peak['prompts']}; sent {peak['sent']}, skipped {peak['skipped']}")
    print(f"  prompts handed to Twilio: {len(prompt_times)} in {peak['dispatch_seconds']:.1f} s = "
          f"{len(prompt_times) / peak['dispatch_seconds']:.1f}/s; busiest second {max(per_second.values())} "
          f"(budget {args.budget}); seconds at the budget: "
          f"{sum(1 for c in per_second.values() if c >= args.budget)} of {len(per_second)}")
    print(f"  due to handed to Twilio: p50 {checks.percentile(latencies, 50):.1f} s, "
          f"p99 {checks.percentile(latencies, 99):.1f} s; the first after {min(latencies):.1f} s; every prompt "
          f"ticked (an outbound row) after {peak['ticked_seconds']:.1f} s")
    print(f"  inbound webhooks while dispatch runs: {len(during)} ({len(during) / (end - start):.1f}/s), "
          f"{checks.p50_p99([t['ms'] for t in during])}; inside gunicorn {checks.p50_p99(server_during)}")
    print(f"  inbound webhooks after dispatch: {len(after)}, {checks.p50_p99([t['ms'] for t in after])}; "
          f"errors: {dict(errors) or 'none'}")
    for name, (rate, lat) in floors.items():
        print(f"  floor, {name}, closed loop 16 connections before the peak: {rate:.0f}/s, {checks.p50_p99(lat)}")
    for name, rows in probes.items():
        print(f"  floor, {name}, {args.probe_rate:g}/s while dispatch runs: {checks.p50_p99([r['ms'] for r in rows])}"
              f"; non-200: {sum(r['status'] != 200 for r in rows)}")
    a = accounting
    print(f"  texts sent by patients: {a['sent']} ({len(outage)} in the outage); inbound rows: {a['rows']} "
          f"({a['distinct']} distinct MessageSids); lost: {a['lost']}; not sent by a patient: {a['unknown']}")
    print(f"  texts in {a['rows']} = records written {a['records']} + refusals {a['refusals']} "
          f"[{'holds' if a['rows'] == a['records'] + a['refusals'] else 'DOES NOT HOLD'}]; outcomes {a['outcomes']}")
    print(f"  outage {args.outage_minutes:g} simulated minutes from minute {args.outage_at:g}: {drill['outage_texts']} "
          f"texts only in Twilio's log; reconciled {drill['reconciled']} ({drill['distinct']} distinct), "
          f"records in tonight's diary day {drill['records_right_day']}, in another {drill['records_wrong_day']}, "
          f"refusals {drill['refusals']}, neither {drill['neither']}; "
          f"reconciled texts in all {drill['reconciled_in_all']}")
    print(f"  reconciliation: {rec.get('seconds', float('nan')):.1f} s wall (floor, `manage.py check`: "
          f"{rec.get('floor', float('nan')):.1f} s), `manage.py {rec.get('command')}`: {rec.get('output')}")
    cpu = peak["cpu"]
    print(f"  CPU while dispatch ran ({peak['dispatch_seconds']:.1f} s, 2 cores = {2 * peak['dispatch_seconds']:.0f} "
          f"CPU-s): {', '.join(f'{k} {v:.1f} s' for k, v in cpu.items())}; ms a prompt: "
          f"{', '.join(f'{k} {v * 1000 / max(1, len(prompt_times)):.2f}' for k, v in cpu.items())}")
    print(f"  reconciliation after the peak (the hourly run): {hourly['seconds']:.1f} s wall (floor "
          f"{hourly['floor']:.1f} s), `manage.py {hourly['command']}`: {hourly['output']}")
    print(f"  messages handed to Twilio {handed}; ValidityPeriod past their window's close: {late}")


if __name__ == "__main__":
    main()
