from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from analysis.export import FORMATS, UnrandomizedParticipants, audited_export_transfer
from analysis.randomization import PERMISSION
from diaries.models import Study


class Command(BaseCommand):
    help = "Write the data transfer (inputs, endpoint outputs, qs, report, manifest) of a study from the database."

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, type=Path)
        parser.add_argument("--format", default="csv", help=f"comma-separated: {', '.join(FORMATS)} (csv always)")
        parser.add_argument("--study", help="study code (default: the only study)")
        parser.add_argument("--as-of", dest="as_of", help="data cut-off YYYY-MM-DD (default: today in UTC); "
                                                          "written into the manifest")
        parser.add_argument("--unblinded-as", dest="unblinded_as", metavar="USER",
                            help="include arms: an unblinded user's name (audited); blinded without it")
        parser.add_argument("--exclude-unrandomized", action="store_true",
                            help="unblinded only: leave out analysis-set participants without a randomization "
                                 "(listed in the report and manifest) instead of refusing the export")

    def handle(self, *args, output, format, study=None, as_of=None, unblinded_as=None, exclude_unrandomized=False,
               **options):
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
        elif exclude_unrandomized:
            raise CommandError("--exclude-unrandomized applies to unblinded exports (--unblinded-as)", returncode=2)
        try:
            cutoff = date.fromisoformat(as_of) if as_of else None
        except ValueError as exc:
            raise CommandError(f"--as-of {as_of!r} is not a date YYYY-MM-DD", returncode=2) from exc
        try:
            manifest = audited_export_transfer(study=studies.get(), directory=output, formats=formats,
                                               unblinded=bool(unblinded_as), as_of=cutoff, actor=actor,
                                               exclude_unrandomized=exclude_unrandomized)
        except UnrandomizedParticipants as exc:
            self.stderr.write(f"refused: {len(exc.participants)} participant(s) of the analysis set have no "
                              f"randomization; an unblinded analysis is never pooled:")
            for p in exc.participants:
                self.stderr.write(f"  {p['USUBJID']}  site {p['SITEID']}  Day 1 {p['DAY1']}")
            raise CommandError("import their randomization, or pass --exclude-unrandomized to leave them out "
                               "(nothing written)", returncode=2) from exc
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from exc
        for f in manifest["files"]:
            self.stdout.write(f"{f['name']:<24} {f['rows'] if f['rows'] is not None else '':>8}  {f['sha256'][:16]}")
        self.stdout.write("export_transfer: " + export_summary(manifest, output))


def export_summary(manifest: dict, output) -> str:
    """Participants per arm, endpoints, files written, the cut-off: one line."""
    summary = manifest["summary"]
    arms = ", ".join(f"{arm} {n}" for arm, n in summary["participants_per_arm"].items()) or "none"
    reached = f" ({len(summary['not_yet_reached'])} not yet reached)" if summary["not_yet_reached"] else ""
    excluded = f", {len(manifest['excluded_unrandomized'])} unrandomized excluded" \
        if manifest["excluded_unrandomized"] else ""
    blinding = "unblinded" if manifest["unblinded"] else "blinded"
    return (f"{sum(summary['participants_per_arm'].values())} participants ({arms}{excluded}), "
            f"{summary['endpoints']} endpoints{reached}, {len(manifest['files'])} files written to {output}, "
            f"data cut-off {manifest['as_of']}, {blinding}")
