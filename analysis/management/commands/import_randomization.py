from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from analysis.randomization import RandomizationRefused, import_randomization
from diaries.models import Study


class Command(BaseCommand):
    help = "Import arms and strata (CSV: USUBJID,ARM,STRATUM) as an unblinded user; all rows or none."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--user", required=True, help="the unblinded user doing the import (audited)")
        parser.add_argument("--study", help="study code (default: the only study)")

    def handle(self, *args, file, user, study=None, **options):
        studies = Study.objects.filter(code=study) if study else Study.objects.all()
        if studies.count() != 1:
            raise CommandError("name the study with --study CODE", returncode=2)
        account = get_user_model().objects.filter(username=user).first()
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read: {exc}", returncode=2) from exc
        try:
            count = import_randomization(study=studies.get(), text=text, user=account)
        except PermissionError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        except RandomizationRefused as exc:
            raise CommandError(f"{file}: nothing imported:\n" + "\n".join(f"  {p}" for p in exc.problems),
                               returncode=2) from exc
        self.stdout.write(f"imported {count} randomization(s)")
