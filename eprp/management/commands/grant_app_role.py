"""`manage.py grant_app_role ROLE`: as the owner role, grant the application's role what it needs."""

from django.core.management.base import BaseCommand, CommandError

from eprp.database_roles import RoleError, grant_app_role


class Command(BaseCommand):
    help = "Grant the application's PostgreSQL role its privileges (run as the owner role after migrate)."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role of DATABASE_URL the web and worker processes use")

    def handle(self, *args, role: str, **options):
        try:
            append_only = grant_app_role(role)
        except RoleError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"granted {role}: read and write, read and insert only on {', '.join(append_only)}")
