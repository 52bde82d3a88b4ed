"""The study's SMS sender: is sending paused (carriers refused every recent text), and resuming it.

    manage.py sms_sender status [SENDER]
    manage.py sms_sender resume [SENDER] --by USERNAME --reason "10DLC campaign approved"

SENDER defaults to the configured one (the Messaging Service, else the number). A resume
is audited under the operator's user name and closes the pause's operator alert.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from diaries import alerts, audit
from diaries.models import Alert, AlertKind, AlertStatus
from notifications.providers.twilio import pacing


class Command(BaseCommand):
    help = "Show whether sending is paused for the study's SMS sender, or resume it once the cause is fixed."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "resume"])
        parser.add_argument("sender", nargs="?", help="the Messaging Service SID or number (default: the configured)")
        parser.add_argument("--by", help="resume: your user name (the audit trail names who resumed)")
        parser.add_argument("--reason", help="resume: what was fixed")

    def handle(self, *args, action, sender=None, by=None, reason=None, **options):
        sender = sender or pacing.sender()
        if settings.SMS_BACKEND != "twilio":
            self.stdout.write(f"SMS_BACKEND is {settings.SMS_BACKEND!r}: only the Twilio sender is ever paused")
        if action == "status":
            return self._status(sender)
        if not by or not (reason or "").strip():
            raise CommandError("resume needs --by (your user name) and --reason (what was fixed)")
        user = get_user_model().objects.filter(username=by, is_active=True, is_staff=True).first()
        if user is None:
            raise CommandError(f"no active staff user {by!r}")
        self._resume(sender, user, reason.strip())

    def _status(self, sender):
        pause = pacing.paused(who=sender)
        if pause is None:
            self.stdout.write(f"{sender}: sending (refused in a row: {pacing.refused_in_a_row(who=sender)})")
        else:
            self.stdout.write(f"{sender}: PAUSED since {pause.since:%Y-%m-%d %H:%M} UTC after {pause.refused} "
                              "refusals in a row; resume with: manage.py sms_sender resume --by ... --reason ...")
        for alert in Alert.objects.filter(kind=AlertKind.SMS_SENDER).exclude(status=AlertStatus.CLOSED):
            self.stdout.write(f"  open alert {alert.created_at:%Y-%m-%d %H:%M}: {alert.detail}")

    def _resume(self, sender, user, reason):
        pause = pacing.paused(who=sender)
        if pause is None:
            self.stdout.write(f"{sender}: not paused; nothing changed")
            return
        with transaction.atomic():
            audit.log(actor=user, action="sms_sender.resume", obj=f"Sender:{sender}", reason=reason,
                      before={"paused_since": pause.since, "refused": pause.refused}, after={"paused": False})
            pending = Alert.objects.filter(kind=AlertKind.SMS_SENDER, key__startswith=f"paused:{sender}:").exclude(
                status=AlertStatus.CLOSED)
            for alert in pending:
                alerts.close_alert(alert=alert, user=user, note=f"Sending resumed: {reason}")
        # Last, once the audit trail has it: the next send goes out.
        pacing.resume(who=sender)
        self.stdout.write(f"{sender}: resumed (paused since {pause.since:%Y-%m-%d %H:%M} UTC)")
