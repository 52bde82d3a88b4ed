"""The evening peak's ceiling without the app: the Twilio SDK and the fake server alone.

2 processes x 8 threads (the shape of 2 Celery worker processes with SMS_SEND_THREADS=8)
call `TwilioTransport.send` as fast as they can against the fake Twilio server of
tests/fake_twilio.py in this process: no database, no Celery, no tick. With `--budget`
the calls are paced on Redis as the workers' are (SMS_MAX_PER_SECOND).

    BENCH_BROKER_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/twilio/transport_ceiling.py --messages 4000
"""

import argparse
import multiprocessing
import os
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scheduling import run as sched  # noqa: E402


def sender(base_url: str, count: int, budget: int, threads: int) -> None:
    os.environ.update(sched.env(DJANGO_SETTINGS_MODULE="eprp.settings", TWILIO_API_BASE=base_url,
                                SMS_MAX_PER_SECOND=str(budget)))
    import django

    django.setup()
    from notifications.providers.twilio.transport import TwilioTransport

    local = threading.local()

    def one(i):
        if not hasattr(local, "transport"):
            local.transport = TwilioTransport()
        local.transport.send(to=f"+1415{3000000 + i:07d}", body="Skin Diary, diary for tonight", status_callback="",
                             validity_period=3600)

    one(0)  # the SDK's first use (imports) outside the clock
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(1, count)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--budget", type=int, default=0, help="SMS_MAX_PER_SECOND (0: not paced)")
    args = parser.parse_args()
    import redis

    from tests.fake_twilio import FakeTwilio

    redis.Redis.from_url(sched.BROKER).flushdb()
    load = os.getloadavg()
    with FakeTwilio(sched.TOKEN, sched.ACCOUNT) as fake:
        fork = multiprocessing.get_context("spawn")
        each = args.messages // args.processes
        procs = [fork.Process(target=sender, args=(fake.base_url, each, args.budget, args.threads))
                 for _ in range(args.processes)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        times = sorted(fake.received_at)
    redis.Redis.from_url(sched.BROKER).flushdb()
    timed = times[args.processes:]  # after each process's first (warm-up) call
    seconds = timed[-1] - timed[0]
    per_second = Counter(int(t) for t in timed)
    print(f"SUMMARY transport alone: {len(timed)} creates in {seconds:.1f} s = {len(timed) / seconds:.0f}/s "
          f"(budget {args.budget or 'none'}, busiest second {max(per_second.values())}); "
          f"{args.processes} processes x {args.threads} threads; load {load} -> {os.getloadavg()}")


if __name__ == "__main__":
    main()
