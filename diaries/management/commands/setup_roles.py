from django.core.management.base import BaseCommand

from diaries import roles


class Command(BaseCommand):
    help = "Create or update the role groups (site staff, monitor, sponsor, unblinded statistician)."

    def handle(self, *args, **options):
        changed = roles.setup_roles()
        for name in roles.ROLES:
            state = "updated" if name in changed else "unchanged"
            self.stdout.write(f"{name}: {state} ({len(roles.ROLES[name])} permissions)")
