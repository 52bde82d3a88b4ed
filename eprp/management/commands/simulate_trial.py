"""simulate_trial: play a trial forward through the real paths (see eprp/simulation/)."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from diaries import studies
from diaries.demo import STUDY_FILE
from eprp.simulation.trial import Simulation, default_end


class Command(BaseCommand):
    help = "Simulate a trial (enrollment, SMS and web diaries, prompts, alerts) and write its transfer."

    def add_arguments(self, parser):
        parser.add_argument("--participants", type=int, default=30)
        parser.add_argument("--weeks", type=int, default=3,
                            help="weeks after Day 1 (8 = the vehicle-controlled period)")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--output", type=Path, help="transfer folder (default var/exports/simulation-SEED)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument("--workers", type=int, default=0, metavar="N",
                            help="run the beat's tasks, the outbox and the patients' replies on a real Celery worker "
                                 "with N processes, "
                                 "on a clock shared through Redis (needs PostgreSQL and Redis); default: one "
                                 "process, eager Celery")
        parser.add_argument("--allow-production", action="store_true")

    def handle(self, *args, participants, weeks, seed, output=None, quiet=False, allow_production=False, workers=0,
               **options):
        if settings.PRODUCTION and not allow_production:
            raise CommandError("this adds simulated participants: refused in production", returncode=2)
        if participants < 1 or weeks < 1 or workers < 0:
            raise CommandError("--participants and --weeks must be at least 1, --workers at least 0", returncode=2)
        if workers and settings.PRODUCTION:
            raise CommandError("--workers moves the workers' clock: never in production", returncode=2)
        study, _ = studies.load_study(text=STUDY_FILE.read_text(encoding="utf-8"), actor="system:simulation")
        sim = Simulation(study=study, participants=participants, weeks=weeks, seed=seed, end=default_end(),
                         progress=None if quiet else self._progress, workers=workers)
        summary = sim.run()
        export_dir = output or Path(settings.VAR_DIR) / "exports" / f"simulation-{seed}"
        summary = sim.finish(export_dir=export_dir)
        if not quiet:
            sys.stderr.write("\n")
        self._print(summary)

    def _progress(self, step, total, now):
        width = 30
        done = int(width * (step / total if total else 1))
        sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {now:%Y-%m-%d %H:%M} UTC")
        sys.stderr.flush()

    def _print(self, s):
        out = self.stdout.write
        out(f"participants {s.participants}  texts in {s.inbound}  texts out {s.outbound}  "
            f"current diary records {s.records}  web submissions refused {s.refused}")
        out("inbound outcomes: " + ", ".join(f"{k or 'other'} {v}" for k, v in sorted(s.outcomes.items())))
        out("alerts: " + (", ".join(f"{k} {v}" for k, v in sorted(s.alerts.items())) or "none"))
        out(f"transfer: {s.export_dir}")
        out(f"{'ENDPOINT':<18}{'ARM':<9}{'N':>5}{'RESP':>6}{'PCT':>7}{'MEAN':>8}{'DIFF':>8}{'P':>9}")
        def num(row, key, fmt):
            return format(float(row[key]), fmt) if row[key] else ""

        not_reached = set(s.manifest["summary"]["not_yet_reached"])
        for row in s.endpoint_rows:
            if row["ENDPOINT"] in not_reached:  # N = 0 in every arm: never shown as 0%
                out(f"{row['ENDPOINT']:<18}{row['ARM']:<9}{'0':>5}  not yet reached at the data cut-off")
                continue
            out(f"{row['ENDPOINT']:<18}{row['ARM']:<9}{row['N']:>5}{row['RESPONDERS']:>6}{num(row, 'PCT', '.1f'):>7}"
                f"{num(row, 'MEAN', '.2f'):>8}{num(row, 'DIFF', '.2f'):>8}{num(row, 'P_VALUE', '.4f'):>9}")
        out(f"data cut-off {s.manifest['as_of']}")
