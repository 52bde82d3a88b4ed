"""The embedded shape in one command: migrate, load the demo, then web + Celery worker with beat.

Ctrl-C (SIGINT) or SIGTERM stops all of them; if one child dies the others are stopped too.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from analysis import demo
from diaries.models import Participant, Study


class Command(BaseCommand):
    help = "Run eprp: web server, Celery worker and beat together (the README's run command)."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default=os.environ.get("EPRP_ADDR", "127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true", help="do not load the demo study")

    def handle(self, *args, addr: str, no_demo: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_demo:
            call_command("load_demo", stdout=self.stdout)
            study = Study.objects.get(code="TRUE-AD")
            # Every demo participant with a Day 1 is randomized: an unblinded export is never pooled.
            demo.randomize_demo(study)
            if not Participant.objects.filter(usubjid__startswith="SIM-").exists():
                # A small simulated cohort so the admin shows compliance, alerts, message
                # histories and an export on first start (about half a minute, once).
                self.stdout.write("simulating a demo cohort: 24 participants, run-in and 2 weeks ...")
                call_command("simulate_trial", participants=24, weeks=2, seed=1, quiet=True, stdout=self.stdout)
            demo.randomize_demo(study)
            export = demo.demo_export(study)
            if export is not None:
                self.stdout.write(f"demo export for the statistician: {export.status}, /api/v1/exports/{export.id}/")
            demo.demo_accounts(stdout=self.stdout, addr=addr)
        var = settings.VAR_DIR
        var.mkdir(parents=True, exist_ok=True)
        python = sys.executable
        children = {
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
            "worker": [
                python, "-m", "celery", "-A", "eprp", "worker", "--beat", "--loglevel", "INFO",
                "--concurrency", "2", "--schedule", str(var / "celerybeat-schedule"),
            ],
        }
        procs = {name: subprocess.Popen(cmd, cwd=settings.BASE_DIR) for name, cmd in children.items()}
        self.stdout.write(f"eprp is up: http://{addr}/admin/  (Ctrl-C stops everything)")
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
