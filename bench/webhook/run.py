"""Inbound SMS webhook benchmark: gunicorn (2 sync workers) on PostgreSQL, signed Twilio requests.

    .venv/bin/python bench/webhook/run.py [--participants 1000] [--seconds 15] [--rate 100] [--workers 2]
                                          [--generator python|wrk] [--as-deployed]

It creates the database `eprp_bench` (`BENCH_DB` to name another; dropped first), enrolls participants whose diary
window is open right now (zones where it is evening), starts gunicorn, and from this
separate process (plain asyncio streams, one connection per request as with gunicorn's
sync workers) sends signed inbound webhooks as Twilio would: each simulated patient
walks through the evening diary (itch, 8 sleep answers, a correction). It reports, next
to a trivial view and the webhook floor of DESIGN.md (signature, one SELECT, two INSERTs
in one transaction, TwiML: bench/webhook/floor.py) on the same server for scale:
  - closed loop, 16 connections: requests per second, p50/p99 latency and the CPU time
    per request of gunicorn, PostgreSQL and the load generator (`--generator wrk`: the
    closed loops are sent by wrk from pre-signed requests, bench/webhook/requests.lua);
  - open loop at a fixed rate (default 100/s): p50/p99 latency measured from the
    scheduled send time (no coordinated omission).

`--as-deployed` (Python generator only): every text carries the I-Twilio-Idempotency-Token
Twilio sends, so the inbound view's replay check reads and writes the shared cache, which
is then Redis (CACHE_URL: the broker's URL) as in production; gunicorn writes the masked
access log as deploy/eprp starts it (to var/bench/access.log).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, available_timezones

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import proc  # noqa: E402

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
TOKEN = "bench-auth-token"
DB = os.environ.get("BENCH_DB", "eprp_bench")
SCRIPT = ["7", "3", "2", "4", "1", "5", "3", "2", "2", "6"]


def env(*, as_deployed: bool = False) -> dict:
    e = dict(os.environ)
    e.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}", DJANGO_DEBUG="0", TWILIO_AUTH_TOKEN=TOKEN,
        PUBLIC_BASE_URL=BASE, SMS_BACKEND="locmem", LOG_LEVEL="WARNING", EPRP_VAR_DIR=str(ROOT / "var" / "bench"),
        CELERY_BROKER_URL=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14"),
        DJANGO_SETTINGS_MODULE="bench.webhook.settings",
    )
    if as_deployed:
        e["CACHE_URL"] = e["CELERY_BROKER_URL"]
    return e


def evening_zones() -> list[str]:
    now = datetime.now(UTC)
    zones = [z for z in sorted(available_timezones()) if "/" in z and not z.startswith(("Etc", "SystemV"))]
    return [z for z in zones if 17 <= now.astimezone(ZoneInfo(z)).hour <= 23][:20]


def setup(participants: int) -> list[str]:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"], check=True)
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {DB}"], check=True)
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    zones = evening_zones()
    if not zones:
        raise SystemExit("no zone has its diary window open right now; try again in a minute")
    code = f"""
import csv, io
from datetime import date, datetime, timedelta, UTC
from diaries import studies
from diaries.importing import import_participants
study, _ = studies.load_study(text=open('studies/true-ad.toml').read(), actor='bench')
zones = {zones!r}
out = io.StringIO(); w = csv.writer(out)
w.writerow(['USUBJID','SITE','PHONE','TZ','LANGUAGE','RUNIN_START'])
for i in range({participants}):
    w.writerow([f'B-{{i:05d}}', '101', f'+1312555{{i:04d}}', zones[i % len(zones)],
                'en' if i % 3 else 'es', (datetime.now(UTC).date() - timedelta(days=3)).isoformat()])
import_participants(text=out.getvalue(), study=study, actor='bench')
"""
    subprocess.run([py, "manage.py", "shell", "-c", code], cwd=ROOT, env=env(), check=True)
    return [f"+1312555{i:04d}" for i in range(participants)]


class Load:
    """Signed requests as raw HTTP, each patient's texts in script order."""

    def __init__(self, phones: list[str], *, idempotency_tokens: bool = False):
        self.phones = phones
        self.step = {p: 0 for p in phones}
        self.n = 0
        self.validator = RequestValidator(TOKEN)
        self.idempotency_tokens = idempotency_tokens

    def form(self, path: str) -> tuple[str, str]:
        """The next patient's next text: the form body and its signature."""
        advance = "/floor/" not in path  # the floor stores any text: it does not move a patient on
        self.n += 1
        phone = self.phones[self.n % len(self.phones)]
        body = SCRIPT[self.step[phone] % len(SCRIPT)]
        if advance:
            self.step[phone] += 1
        params = {
            "MessageSid": f"SM{time.time_ns():016x}{self.n:016x}", "AccountSid": "AC" + "0" * 32, "From": phone,
            "To": "+13125550999", "Body": body, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
            "ApiVersion": "2010-04-01", "FromCountry": "US",
        }
        return urlencode(params), self.validator.compute_signature(BASE + path, params)

    def signed(self, path: str) -> bytes:
        """The next text as raw HTTP."""
        body, signature = self.form(path)
        form = body.encode()
        token = f"I-Twilio-Idempotency-Token: {uuid.uuid4()}\r\n" if self.idempotency_tokens else ""
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nX-Twilio-Signature: {signature}\r\n{token}"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n")
        return head.encode() + form

    def many(self, path: str, count: int) -> list[bytes]:
        return [self.signed(path) for _ in range(count)]

    def stream(self, path: str):
        """Built as they are sent: a request built ahead but never sent would put a patient out of step."""
        while True:
            yield self.signed(path)


HEALTH = f"GET /health/ HTTP/1.1\r\nHost: 127.0.0.1:{PORT}\r\nConnection: close\r\n\r\n".encode()


async def send(raw: bytes) -> None:
    """One request on its own connection (gunicorn's sync workers close after each response)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(raw)
    response = await reader.read()  # to EOF
    writer.close()
    status = int(response[9:12] or 0)
    if status >= 400 or not status:
        raise SystemExit(f"HTTP {status}: {response[:200]!r}")


async def closed_loop(requests, seconds: float, connections: int) -> list[float]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker():
        while time.perf_counter() < stop:
            raw = next(requests)
            t0 = time.perf_counter()
            await send(raw)
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies


async def open_loop(requests: list[bytes], rate: float) -> list[float]:
    latencies: list[float] = []
    start = time.perf_counter() + 0.2

    async def one(scheduled, raw):
        await asyncio.sleep(max(scheduled - time.perf_counter(), 0))
        await send(raw)
        latencies.append(time.perf_counter() - scheduled)

    await asyncio.gather(*(one(start + i / rate, raw) for i, raw in enumerate(requests)))
    return latencies


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far (user + system, from /proc) by the server, PostgreSQL and this process.

    gunicorn: its master and workers; postgres: every postgres process (the benchmark's
    backends, and the checkpointer and WAL writer its writes cause); load: this process.
    """
    used = {"gunicorn": 0.0, "postgres": 0.0, "load": 0.0}
    for p in proc.processes():
        if p.pid == os.getpid():
            used["load"] += p.cpu_seconds
        elif b"gunicorn" in p.cmdline and b"eprp.wsgi" in p.cmdline:
            used["gunicorn"] += p.cpu_seconds
        elif p.comm == "postgres":
            used["postgres"] += p.cpu_seconds
    return used


async def measured(coroutine) -> tuple[list[float], dict[str, float]]:
    """The coroutine's latencies, and the CPU each side used while it ran."""
    before = cpu_seconds()
    latencies = await coroutine
    after = cpu_seconds()
    return latencies, {k: after[k] - before[k] for k in before}


def summary(name: str, latencies: list[float], seconds: float | None, cpu: dict | None = None) -> dict:
    q = statistics.quantiles(latencies, n=100)
    row = {"name": name, "requests": len(latencies), "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1)}
    if seconds:
        row["rps"] = round(len(latencies) / seconds, 1)
    if cpu:  # CPU milliseconds per request, by process
        row["cpu_ms_per_request"] = {k: round(v * 1000 / len(latencies), 2) for k, v in cpu.items()}
    return row


def wrk_closed_loop(lines: list[str], seconds: float, connections: int, *, signed: bool = True) -> dict:
    """The same closed loop driven by wrk (C, one thread): its own cost hardly counts.

    wrk's numbers (requests, rate, p50, p99) and the CPU per request of the server and
    PostgreSQL (this process only waits; wrk's own cost is not read).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    before = cpu_seconds()
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s",
         str(Path(__file__).with_name("requests.lua")), BASE, "--", f.name],
        capture_output=True, text=True, check=True).stdout
    after = cpu_seconds()
    os.unlink(f.name)
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    if signed and requests > len(lines):
        raise SystemExit(f"wrk sent {requests} requests but only {len(lines)} were signed: raise the count")

    def ms(label):
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 1)

    return {"requests": requests, "p50_ms": ms(50), "p99_ms": ms(99), "rps": round(requests / seconds, 1),
            "cpu_ms_per_request": {k: round((after[k] - before[k]) * 1000 / requests, 2)
                                   for k in ("gunicorn", "postgres")}}


def run_wrk(phones, seconds, rate) -> list[dict]:
    """Closed loops with wrk; the open loop at a fixed rate stays in Python (wrk has none)."""
    load = Load(phones)
    budget = int(seconds * 3000)  # more requests than the server can take in `seconds`

    def lines(path):
        return [f"{path}\t{signature}\t{body}" for body, signature in (load.form(path) for _ in range(budget))]

    results = []
    wrk_closed_loop(["/health/\t\t"], 2, 4, signed=False)  # warm-up
    for name, path in (("trivial view", None), ("webhook floor", "/bench/floor/"),
                       ("signed inbound SMS", "/sms/twilio/inbound/")):
        n0, steps = load.n, dict(load.step)
        row = wrk_closed_loop(lines(path) if path else ["/health/\t\t"], seconds, 16, signed=bool(path))
        results.append({"name": f"{name}, closed loop 16 conns (wrk)", **row})
        if path == "/sms/twilio/inbound/":
            # Signed ahead but not sent: put every patient back where the server has them
            # (a request in flight when wrk stopped may leave its patient one step behind).
            load.n, load.step = n0 + row["requests"], steps
            for i in range(n0 + 1, load.n + 1):
                load.step[phones[i % len(phones)]] += 1
    paced = load.many("/sms/twilio/inbound/", int(seconds * rate))
    results.append(summary(f"signed inbound SMS, open loop {rate:g}/s", asyncio.run(open_loop(paced, rate)), None))
    return results


async def run(phones, seconds, rate, *, as_deployed: bool = False):
    load = Load(phones, idempotency_tokens=as_deployed)
    results = []
    await closed_loop(itertools.repeat(HEALTH), 2, 4)  # warm-up
    await closed_loop(load.stream("/bench/floor/"), 1, 2)
    for name, requests in (("trivial view", itertools.repeat(HEALTH)),
                           ("webhook floor", load.stream("/bench/floor/")),
                           ("signed inbound SMS", load.stream("/sms/twilio/inbound/"))):
        latencies, cpu = await measured(closed_loop(requests, seconds, 16))
        results.append(summary(f"{name}, closed loop 16 conns", latencies, seconds, cpu))
    paced = load.many("/sms/twilio/inbound/", int(seconds * rate))  # signed before its clock starts
    results.append(summary(f"signed inbound SMS, open loop {rate:g}/s", await open_loop(paced, rate), None))
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--generator", choices=("python", "wrk"), default="python",
                        help="closed loops from this process (asyncio) or from wrk (apt install wrk)")
    parser.add_argument("--as-deployed", action="store_true",
                        help="Twilio's idempotency token on every text, the cache on Redis, the masked access log")
    args = parser.parse_args()
    if args.as_deployed and args.generator == "wrk":
        parser.error("--as-deployed needs the Python generator (wrk's requests carry no idempotency token)")
    phones = setup(args.participants)
    access_log = []
    if args.as_deployed:
        (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
        access_log = ["--access-logfile", str(ROOT / "var" / "bench" / "access.log"),
                      "--logger-class", "eprp.access_log.MaskedSecretsLogger"]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "eprp.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
         "--workers", str(args.workers), "--log-level", "warning", *access_log], cwd=ROOT,
        env=env(as_deployed=args.as_deployed))
    try:
        for _ in range(100):
            try:
                import urllib.request
                urllib.request.urlopen(BASE + "/health/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        if args.generator == "wrk":
            results = run_wrk(phones, args.seconds, args.rate)
        else:
            results = asyncio.run(run(phones, args.seconds, args.rate, as_deployed=args.as_deployed))
    finally:
        server.terminate()
        server.wait()
    counts = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-tAc",
         "select (select count(*) from notifications_inboundmessage where outcome <> 'floor'),"
         " (select count(*) from diaries_diaryrecord)"],
        capture_output=True, text=True).stdout.strip()
    for row in results:
        print(json.dumps(row))
    floor_rps, inbound_rps = results[1]["rps"], results[2]["rps"]
    print(json.dumps({"workers": args.workers, "inbound_share_of_floor": round(inbound_rps / floor_rps, 2)}))
    print(json.dumps({"inbound_rows|diary_records": counts}))


if __name__ == "__main__":
    main()
