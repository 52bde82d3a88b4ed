from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from analysis.export import FORMATS
from analysis.randomization import PERMISSION
from analysis.services import run_export
from diaries.models import Study


class Command(BaseCommand):
    help = "Write the data transfer (inputs, endpoint outputs, qs, manifest) of a study from the database."

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, type=Path)
        parser.add_argument("--format", default="csv", help=f"comma-separated: {', '.join(FORMATS)} (csv always)")
        parser.add_argument("--study", help="study code (default: the only study)")
        parser.add_argument("--as-of", dest="as_of", help="compliance cut-off date YYYY-MM-DD")
        parser.add_argument("--unblinded-as", dest="unblinded_as", metavar="USER",
                            help="include arms: an unblinded user's name (audited); blinded without it")

    def handle(self, *args, output, format, study=None, as_of=None, unblinded_as=None, **options):
        studies = Study.objects.filter(code=study) if study else Study.objects.all()
        if studies.count() != 1:
            raise CommandError("name the study with --study CODE", returncode=2)
        formats = sorted({"csv", *[f.strip() for f in format.split(",") if f.strip()]})
        actor = "system:export_transfer"
        if unblinded_as:
            user = get_user_model().objects.filter(username=unblinded_as, is_active=True).first()
            if user is None or not user.has_perm(PERMISSION):
                raise CommandError(f"{unblinded_as!r} is not an unblinded user", returncode=2)
            actor = user
        try:
            from datetime import date

            cutoff = date.fromisoformat(as_of) if as_of else None
            manifest = run_export(study=studies.get(), directory=output, formats=formats,
                                  unblinded=bool(unblinded_as), as_of=cutoff, actor=actor)
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for f in manifest["files"]:
            self.stdout.write(f"{f['name']:<24} {f['rows'] if f['rows'] is not None else '':>8}  {f['sha256'][:16]}")
