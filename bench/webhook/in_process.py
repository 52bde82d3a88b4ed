"""CPU per request of the signed inbound webhook against the floor, in one process (no gunicorn).

    .venv/bin/python bench/webhook/in_process.py [--database-url postgres://...] [--cache-url redis://...]
                                                 [--idempotency-token] [--profile FILE]

A fresh SQLite database in var/bench-in-process with 32 participants whose evening window
is open (enrolled as run.py enrolls them). Each request goes through Django's test client
(form-encoded, as Twilio posts) and every middleware; its CPU time (`time.process_time`) is
read around it. After a warm-up of 20 of each, floor and inbound requests alternate in
blocks of 30 (10 blocks),
so a change of load on a shared machine touches both alike: 320 texts, each patient
walking run.py's evening diary once (itch, 8 sleep answers, a correction). It prints the
medians and their ratio. For two versions, run it in two trees alternately. It leaves out
what run.py measures beside the server (PostgreSQL, HTTP, the load generator): the Python
side of one request.

Closer to production: `--database-url` runs on that PostgreSQL database instead (dropped
and created again), `--cache-url` puts Django's shared cache on Redis (production's; files
in var/ otherwise), and `--idempotency-token` sends the I-Twilio-Idempotency-Token header
Twilio puts on every webhook (the inbound view's replay check reads and writes the cache
only then). It also prints the SQL statements and cache calls per request (medians), and
`--profile FILE` writes a cProfile of the measured inbound requests (pstats format).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.update(
    DJANGO_SETTINGS_MODULE="bench.webhook.settings", EPRP_VAR_DIR=str(ROOT / "var" / "bench-in-process"),
    TWILIO_AUTH_TOKEN="bench-auth-token", PUBLIC_BASE_URL="http://127.0.0.1:8765", SMS_BACKEND="locmem",
    LOG_LEVEL="WARNING", DJANGO_DEBUG="0",
)
os.environ.pop("DATABASE_URL", None)  # SQLite in the var directory unless --database-url: no server shared
os.environ.pop("CACHE_URL", None)

parser = argparse.ArgumentParser()
parser.add_argument("--blocks", type=int, default=10)
parser.add_argument("--database-url", default="", help="postgres://...: this database, dropped and created again")
parser.add_argument("--cache-url", default="", help="redis://...: the shared cache on Redis (production's)")
parser.add_argument("--idempotency-token", action="store_true", help="send I-Twilio-Idempotency-Token, as Twilio does")
parser.add_argument("--profile", default="", help="write a cProfile of the measured inbound requests here")
ARGS = parser.parse_args()
if ARGS.database_url:
    os.environ["DATABASE_URL"] = ARGS.database_url
if ARGS.cache_url:
    os.environ["CACHE_URL"] = ARGS.cache_url

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

PARTICIPANTS = 32
SCRIPT = ["7", "3", "2", "4", "1", "5", "3", "2", "2", "6"]
FLOOR, INBOUND = "/bench/floor/", "/sms/twilio/inbound/"
FORM = "application/x-www-form-urlencoded"  # as Twilio posts (the test client's default is multipart)


def setup() -> None:
    """A fresh database with participants whose evening window is open now (as run.py enrolls them)."""
    import csv
    import io
    from datetime import UTC, datetime, timedelta

    from django.core.management import call_command

    from bench.webhook.run import evening_zones
    from diaries import studies
    from diaries.importing import import_participants

    database = settings.DATABASES["default"]
    if "postgresql" in database["ENGINE"]:
        psql = ["psql", "-h", database["HOST"], "-p", str(database["PORT"]), "-U", database["USER"], "-qc"]
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {database['NAME']} WITH (FORCE)"], check=True)
        subprocess.run([*psql, f"CREATE DATABASE {database['NAME']}"], check=True)
    else:
        Path(database["NAME"]).unlink(missing_ok=True)
    cache.clear()
    call_command("migrate", verbosity=0)
    study, _ = studies.load_study(text=(ROOT / "studies" / "true-ad.toml").read_text(), actor="bench")
    zones = evening_zones()
    if not zones:
        raise SystemExit("no zone has its diary window open right now; try again in a minute")
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["USUBJID", "SITE", "PHONE", "TZ", "LANGUAGE", "RUNIN_START"])
    for i in range(PARTICIPANTS):
        w.writerow([f"B-{i:05d}", "101", f"+1312555{i:04d}", zones[i % len(zones)], "en" if i % 3 else "es",
                    (datetime.now(UTC).date() - timedelta(days=3)).isoformat()])
    import_participants(text=out.getvalue(), study=study, actor="bench")


class Texts:
    def __init__(self):
        self.client = Client()
        self.validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
        self.phones = [f"+1312555{i:04d}" for i in range(PARTICIPANTS)]
        self.step = dict.fromkeys(self.phones, 0)
        self.n = itertools.count(1)
        self.profile = None
        self.statements: dict[str, list[int]] = {FLOOR: [], INBOUND: []}
        self.cache_calls: dict[str, list[int]] = {FLOOR: [], INBOUND: []}

    def counted(self, path: str) -> None:
        """One more request to `path`, outside the timed ones: its SQL statements and cache calls."""
        calls = []
        originals = {name: getattr(cache, name) for name in CACHE_CALLS}

        def counting(name):
            def call(*args, **kwargs):
                calls.append(name)
                return originals[name](*args, **kwargs)
            return call

        for name in CACHE_CALLS:
            setattr(cache, name, counting(name))
        try:
            with CaptureQueriesContext(connection) as queries:
                self.cpu_of_one(path)
        finally:
            for name in CACHE_CALLS:
                delattr(cache, name)
        transaction_control = ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT", "ROLLBACK")
        self.statements[path].append(
            sum(1 for q in queries.captured_queries if q["sql"].split()[0].upper() not in transaction_control))
        self.cache_calls[path].append(len(calls))

    def cpu_of_one(self, path: str) -> float:
        """The CPU seconds of one signed request to `path` (each patient walks the evening diary)."""
        k = next(self.n)
        phone = self.phones[k % PARTICIPANTS]
        body = SCRIPT[self.step[phone] % len(SCRIPT)]
        if path == INBOUND:
            self.step[phone] += 1
        params = {"MessageSid": f"SM{time.time_ns():016x}{k:016x}", "AccountSid": "AC" + "0" * 32, "From": phone,
                  "To": "+13125550999", "Body": body, "NumMedia": "0", "NumSegments": "1",
                  "SmsStatus": "received", "ApiVersion": "2010-04-01", "FromCountry": "US"}
        signature = self.validator.compute_signature(settings.PUBLIC_BASE_URL + path, params)
        headers = {"HTTP_X_TWILIO_SIGNATURE": signature}
        if ARGS.idempotency_token:
            headers["HTTP_I_TWILIO_IDEMPOTENCY_TOKEN"] = f"{time.time_ns():x}-{k}"
        profile = self.profile if path == INBOUND else None
        started = time.process_time()
        if profile is not None:
            profile.enable()
        response = self.client.post(path, urlencode(params), content_type=FORM, **headers)
        if profile is not None:
            profile.disable()
        used = time.process_time() - started
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        return used


CACHE_CALLS = ("get", "set", "add", "delete", "incr", "get_many", "set_many", "delete_many", "touch", "has_key")


def main():
    setup()
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - every URL module imported before the clock starts
    texts = Texts()
    for _ in range(20):
        texts.cpu_of_one(FLOOR)
        texts.cpu_of_one(INBOUND)
    for _ in range(10):
        texts.counted(FLOOR)
        texts.counted(INBOUND)
    if ARGS.profile:
        import cProfile

        texts.profile = cProfile.Profile(time.process_time)  # CPU time, not the waits on the database
    floor, inbound = [], []
    for _ in range(ARGS.blocks):
        floor += [texts.cpu_of_one(FLOOR) for _ in range(30)]
        inbound += [texts.cpu_of_one(INBOUND) for _ in range(30)]
    f, i = statistics.median(floor), statistics.median(inbound)
    print(f"CPU per request, median of {len(floor)}: floor {f * 1000:.2f} ms, inbound {i * 1000:.2f} ms, "
          f"inbound/floor {i / f:.2f}")
    print(f"per request, median of 10: SQL statements floor {statistics.median(texts.statements[FLOOR]):g}, "
          f"inbound {statistics.median(texts.statements[INBOUND]):g} {texts.statements[INBOUND]}; "
          f"cache calls floor {statistics.median(texts.cache_calls[FLOOR]):g}, "
          f"inbound {statistics.median(texts.cache_calls[INBOUND]):g}")
    if texts.profile is not None:
        texts.profile.dump_stats(ARGS.profile)


if __name__ == "__main__":
    main()
