"""gunicorn as deploy/eprp starts it (threaded workers, the masked access log), for the peak benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

from bench import proc

ROOT = Path(__file__).resolve().parents[2]
# The access log's own request time (%(D)s, microseconds inside the worker) beside the path.
LOG_FORMAT = '%(t)s "%(r)s" %(s)s %(D)s'


def start_gunicorn(env: dict, port: int, workers: int, access_log: Path, threads: int = 1) -> subprocess.Popen:
    """deploy/eprp web, with the bench's settings module (it adds the webhook floor's URL)."""
    access_log.unlink(missing_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "eprp.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--access-logfile", str(access_log),
         "--access-logformat", LOG_FORMAT,
         "--logger-class", "eprp.access_log.MaskedSecretsLogger", "--log-level", "warning"],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "bench.webhook.settings"}, start_new_session=True)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=1)
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit("gunicorn did not start") from None
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer /health/ in 30 s")


def server_times(access_log: Path, path: str, since: float, until: float) -> list[float]:
    """Milliseconds gunicorn's worker spent on each request to `path` logged in [since, until) (time.time())."""
    out = []
    for line in access_log.read_text().splitlines():
        stamp, _, rest = line.partition('] "')
        if f" {path} " not in rest:
            continue
        at = datetime.strptime(stamp.lstrip("["), "%d/%b/%Y:%H:%M:%S %z").timestamp()
        if since <= at < until:
            out.append(int(rest.rsplit(" ", 1)[1]) / 1000)
    return out


def cpu_seconds(groups: dict[str, int], database: str) -> dict[str, float]:
    """CPU time (user + system, /proc) used so far by each process group named in `groups`
    (name: process group id), by PostgreSQL's backends of `database`, and by this process."""
    used = {name: 0.0 for name in groups} | {"postgres": 0.0, "bench": 0.0}
    by_group = {pgid: name for name, pgid in groups.items()}
    for p in proc.processes():
        if p.pid == os.getpid():
            used["bench"] += p.cpu_seconds
        elif p.pgid in by_group:
            used[by_group[p.pgid]] += p.cpu_seconds
        elif p.cmdline.startswith(b"postgres: ") and f" {database} ".encode() in p.cmdline:
            used["postgres"] += p.cpu_seconds
    return used
