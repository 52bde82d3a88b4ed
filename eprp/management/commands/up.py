"""The embedded shape in one command: migrate, load the demo, then web + Celery worker with beat.

Ctrl-C (SIGINT) or SIGTERM stops all of them; if one child dies the others are stopped too.
"""

import io
import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from analysis import demo
from diaries.models import Participant, Study
from eprp.log_file import logging_to


class Command(BaseCommand):
    help = "Run eprp: web server, Celery worker and beat together (the README's run command)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("EPRP_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo study")

    def handle(self, *args, addr: str, no_demo: bool, **options):
        var = settings.VAR_DIR
        logs = var / "log"
        logs.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        login = io.StringIO()
        accounts = io.StringIO()  # the API tokens, printed last with the login
        if not no_demo:
            call_command("load_demo", stdout=login)
            study = Study.objects.get(code="TRUE-AD")
            # Every demo participant with a Day 1 is randomized: an unblinded export is never pooled.
            demo.randomize_demo(study)
            if not Participant.objects.filter(usubjid__startswith="SIM-").exists():
                # A small simulated cohort so the admin shows compliance, alerts, message
                # histories and an export on first start (about half a minute, once). Its task
                # traces and warnings go to the log file, not the terminal.
                self.stdout.write(f"simulating a demo cohort: 24 participants, run-in and 2 weeks ... "
                                  f"(log: {logs / 'eprp.log'})")
                with logging_to(logs / "eprp.log"):
                    call_command("simulate_trial", participants=24, weeks=2, seed=1, quiet=True, stdout=self.stdout)
            demo.randomize_demo(study)
            export = demo.demo_export(study)
            if export is not None:
                accounts.write(f"demo export for the statistician: {export.status}, /api/v1/exports/{export.id}/\n")
            demo.demo_accounts(stdout=_Lines(accounts), addr=addr)
        python = sys.executable
        children = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [
                python, "-m", "celery", "-A", "eprp", "worker", "--beat", "--loglevel", "INFO",
                "--concurrency", "2", "--schedule", str(var / "celerybeat-schedule"),
            ],
        }
        procs = {}
        for name, cmd in children.items():
            out = (logs / f"{name}.log").open("a")
            procs[name] = subprocess.Popen(cmd, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT)
        _wait_for_web(addr, procs["web"])
        self.stdout.write(self.banner(addr, login.getvalue().strip(), logs, accounts.getvalue().rstrip()))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with status {proc.returncode}; stopping the rest")
                    exit_code, stopping = proc.returncode or 1, True
            time.sleep(0.2)
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.stdout.write("eprp stopped")
        if exit_code:
            sys.exit(exit_code)

    def banner(self, addr: str, login: str, logs, accounts: str = "") -> str:
        """What a newcomer needs, printed last: the admin login and the three addresses."""
        base = f"http://{addr}"
        first = Participant.objects.filter(usubjid__startswith="TRUE-AD-").order_by("usubjid").first()
        lines = [
            "",
            "eprp is up.",
            f"  Admin console:  {base}/admin/" + (f"   ({login})" if login else ""),
            f"  Web diary:      {base}/diary/   (patients open it from a texted link)",
            f"  API schema:     {base}/api/schema/",
        ]
        if accounts:
            lines += ["  " + line for line in accounts.splitlines()]
        if first is not None:
            lines.append(f"  Text the bot:   {sys.executable} manage.py sms_chat {first.usubjid}")
        lines += [f"  Logs:           {logs}/ (web.log, worker.log, eprp.log)", "Ctrl-C stops everything."]
        return "\n".join(lines)


class _Lines:
    """A stdout for code that writes lines without their newline (as a command's stdout adds it)."""

    def __init__(self, out: io.StringIO):
        self.out = out

    def write(self, line: str) -> None:
        self.out.write(line if line.endswith("\n") else line + "\n")


def _wait_for_web(addr: str, web, seconds: float = 30) -> None:
    """Until the web server answers (so the banner comes after its start-up lines)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and web.poll() is None:
        try:
            urllib.request.urlopen(f"http://{addr}/health/", timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
