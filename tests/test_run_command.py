"""The README's run command in its embedded shape: it starts, serves /admin/, and stops on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_up_serves_admin_with_the_demo_and_stops_cleanly_on_ctrl_c(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "EPRP_MODE"}}
    env["EPRP_VAR_DIR"] = str(tmp_path / "var")
    log = (tmp_path / "up.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--addr", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline, page = time.monotonic() + 420, None  # first start simulates the demo cohort
        while time.monotonic() < deadline and page is None:
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2).read().decode()
            except OSError:
                time.sleep(0.5)
        assert page is not None and "Log in" in page, (tmp_path / "up.log").read_text()
        # The worker with beat is up too (its log in var/log/): wait for its ready line before stopping.
        worker_log = tmp_path / "var" / "log" / "worker.log"
        while time.monotonic() < deadline and "ready" not in (worker_log.read_text() if worker_log.exists() else ""):
            time.sleep(0.5)
        assert "ready" in worker_log.read_text()
        # The terminal ends with what a newcomer needs: the login and the addresses, no task traces.
        while time.monotonic() < deadline and "Ctrl-C stops everything" not in (tmp_path / "up.log").read_text():
            time.sleep(0.5)
        shown = (tmp_path / "up.log").read_text()
        banner = shown[shown.index("eprp is up."):]
        for line in ("admin login: admin / ", f"http://127.0.0.1:{port}/admin/", f"http://127.0.0.1:{port}/diary/",
                     f"http://127.0.0.1:{port}/api/schema/", "manage.py sms_chat TRUE-AD-"):
            assert line in banner, line
        assert "succeeded in" not in shown and "no staff" not in shown.lower()
        assert " INFO " not in shown and " WARNING " not in shown, shown  # django-axes, kombu: in the log
        assert (tmp_path / "var" / "eprp.sqlite3").exists()
        assert (tmp_path / "var" / "admin-password.txt").exists()
        assert (tmp_path / "var" / "exports" / "simulation-1" / "endpoint_summary.csv").exists()
        assert "texts in" in (tmp_path / "up.log").read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        output = (tmp_path / "up.log").read_text()
        assert "eprp stopped" in output
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # No child outlived the command (prefork pool processes may take a moment to reap).
    for _ in range(40):
        leftover = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not leftover:
            break
        time.sleep(0.25)
    assert leftover == [], subprocess.run(["ps", "-o", "pid,stat,cmd", "-g", str(proc.pid)], capture_output=True,
                                          text=True).stdout
