from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from diaries import studies
from diaries.protocol.study_config import ConfigError


class Command(BaseCommand):
    help = "Load or update a study from its TOML configuration file (versioned by content hash)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{file}: {exc.strerror}", returncode=2) from exc
        try:
            study, changed = studies.load_study(text=text, actor="system:load_study")
        except ConfigError as exc:
            raise CommandError(
                f"{file} is not a valid study configuration:\n" + "\n".join(f"  {p}" for p in exc.problems),
                returncode=2,
            ) from exc
        state = "loaded" if changed else "unchanged"
        self.stdout.write(f"{study.code} {state} (version {study.config_hash[:12]}, {study.sites.count()} sites)")
