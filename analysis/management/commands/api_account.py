"""python manage.py api_account create|issue|revoke ...: sponsor and statistician API accounts and their tokens."""

from django.core.management.base import BaseCommand, CommandError

from analysis.accounts import ROLES, AccountRefused, create_api_account, issue_token, revoke_token


class Command(BaseCommand):
    help = "Create a sponsor or unblinded statistician API account, issue (or re-issue) and revoke its token."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create the account and print its first token")
        create.add_argument("username")
        create.add_argument("--role", required=True, choices=sorted(ROLES))
        issue = actions.add_parser("issue", help="a new token; the previous one stops working")
        issue.add_argument("username")
        revoke = actions.add_parser("revoke", help="revoke the token; the account can no longer use the API")
        revoke.add_argument("username")

    def handle(self, *args, action, username, role=None, **options):
        actor = "system:api_account"
        try:
            if action == "create":
                issued = create_api_account(username=username, role=role, actor=actor)
            elif action == "issue":
                issued = issue_token(username=username, actor=actor)
            else:
                revoked = revoke_token(username=username, actor=actor)
                self.stdout.write(f"{username}: token revoked" if revoked else f"{username}: had no token")
                return
        except AccountRefused as exc:
            raise CommandError(str(exc), returncode=2) from exc
        self.stdout.write(f"{issued.username} ({issued.role}) API token: {issued.key}")
        self.stdout.write("  use it as the header  Authorization: Token <token>  on /api/v1/ (shown once)")
