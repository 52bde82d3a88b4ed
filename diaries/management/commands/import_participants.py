from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from diaries.importing import ImportRefused, import_participants
from diaries.models import Study


class Command(BaseCommand):
    help = "Enroll participants from a CSV (USUBJID,SITE,PHONE,TZ,LANGUAGE,RUNIN_START[,FIRST_APPLICATION,PHASE])."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--study", help="study code (default: the only study)")

    def handle(self, *args, file: Path, study: str | None = None, **options):
        studies = Study.objects.filter(code=study) if study else Study.objects.all()
        if studies.count() != 1:
            raise CommandError("name the study with --study CODE" if not study else f"no study {study!r}",
                               returncode=2)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file}: cannot read: {exc}", returncode=2) from exc
        try:
            enrolled = import_participants(text=text, study=studies.get(), actor="system:import_participants")
        except ImportRefused as exc:
            raise CommandError(
                f"{file}: nothing imported, {len(exc.problems)} problem(s):\n"
                + "\n".join(f"  {file.name}: {p}" for p in exc.problems),
                returncode=2,
            ) from exc
        self.stdout.write(f"enrolled {len(enrolled)} participant(s)")
