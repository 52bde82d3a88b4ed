"""The evening peak, paced: every prompt due in a peak evening sent under a sender budget.

Participants in evening zones (as bench/scheduling/run.py creates them), PostgreSQL, Redis,
2 Celery worker processes sending through the real Twilio SDK to the fake Twilio server
in this process, with SMS_MAX_PER_SECOND as the sender's budget shared on Redis. All of
tonight's due diary prompts are released at once (the 19:00 peak) and one tick a minute
runs as beat would. Reported from the fake server's receive times: messages per second
against the budget (the busiest second and the mean), the latency from due time to
handed-to-Twilio (p50, p99), and the ValidityPeriod each message carried against its
window's close.

Not measured here (see bench/README.md): inbound webhooks during the peak through
gunicorn, the patients' replies, and the 10-minute outage drill with reconciliation.

    flock /tmp/eprp-bench.lock .venv/bin/python bench/twilio/peak.py --participants 12490 --budget 225
"""

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scheduling import run as sched  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=12_490)
    parser.add_argument("--zones", type=int, default=20)
    parser.add_argument("--budget", type=int, default=225, help="SMS_MAX_PER_SECOND of the sender")
    args = parser.parse_args()

    now = datetime.now(UTC).replace(microsecond=0)
    zones = sched.evening_zones(now, args.zones)
    if len(zones) < args.zones:
        raise SystemExit(f"only {len(zones)} zones are in their evening right now; try again in an hour")
    print(f"load: {os.getloadavg()}  zones: {', '.join(zones)}", flush=True)
    sched.setup_database()
    os.environ.update(sched.env(DJANGO_SETTINGS_MODULE="eprp.settings", SMS_MAX_PER_SECOND=str(args.budget)))
    import django

    django.setup()
    import redis
    from django.db.models import F

    from eprp.celery import app
    from notifications.models import OutboundMessage, ScheduledPrompt
    from tests.fake_twilio import FakeTwilio

    sched.create_participants(args.participants, zones, now)
    sched.timed_plan(now - timedelta(hours=6))
    due = ScheduledPrompt.objects.filter(status="pending", due_at__lte=now)
    # Tonight's prompts, due at once: everything else waits (untimed).
    ScheduledPrompt.objects.filter(status="pending", due_at__gt=now).update(due_at=F("due_at") + timedelta(days=30))
    at = datetime.now(UTC) + timedelta(seconds=20)
    count = due.update(due_at=at)
    print(f"due at once: {count}", flush=True)
    redis.Redis.from_url(sched.BROKER).flushdb()
    with FakeTwilio(sched.TOKEN, sched.ACCOUNT) as fake:
        workers = sched.start_workers(fake.base_url)
        try:
            time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
            t0 = time.perf_counter()
            next_tick = t0
            batch = ScheduledPrompt.objects.filter(due_at=at)
            with app.connection_for_write(sched.BROKER) as conn:
                while True:
                    if time.perf_counter() >= next_tick:
                        app.send_task("notifications.tasks.dispatch_due_prompts", connection=conn)
                        next_tick += 60
                    if not batch.filter(status="pending").exists():
                        sent = batch.filter(status="sent").count()
                        if len(fake.messages) >= sent:
                            break
                    if time.perf_counter() - t0 > 1800:
                        raise SystemExit("the peak did not finish in 30 minutes")
                    time.sleep(0.5)
            seconds = time.perf_counter() - t0
        finally:
            os.killpg(workers.pid, 15)
            workers.wait(30)
            redis.Redis.from_url(sched.BROKER).flushdb()
        received = list(fake.received_at)
        messages = list(fake.messages)
    per_second = Counter(int(t) for t in received)
    busiest = max(per_second.values())
    latencies = [t - at.timestamp() for t in received]
    expires = dict(OutboundMessage.objects.filter(provider_sid__in=[m["sid"] for m in messages])
                   .values_list("provider_sid", "expires_at"))
    late = 0
    for m in messages:
        handed = parsedate_to_datetime(m["date_created"])
        deadline = expires[m["sid"]]
        if deadline is not None and handed + timedelta(seconds=int(m["validity_period"])) > deadline + timedelta(
                seconds=1):
            late += 1  # Twilio could still deliver it after the window closed
    print(f"\nSUMMARY participants={args.participants} zones={len(zones)} budget={args.budget}/s "
          f"load={os.getloadavg()}")
    print(f"  prompts handed to Twilio: {len(received)} in {seconds:.1f} s = {len(received) / seconds:.1f}/s; "
          f"busiest second {busiest} (budget {args.budget}); seconds at the budget: "
          f"{sum(1 for c in per_second.values() if c == args.budget)} of {len(per_second)}")
    print(f"  due to handed to Twilio: p50 {statistics.median(latencies):.1f} s, p99 {percentile(latencies, 99):.1f} s")
    print(f"  messages whose ValidityPeriod reached past their window's close: {late}")


if __name__ == "__main__":
    main()
