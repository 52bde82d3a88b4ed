"""Catch up on texts and statuses our webhooks missed, from Twilio's message log."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from notifications.providers.twilio.reconcile import reconcile_sms


def _moment(value: str) -> datetime:
    """An ISO date or time (UTC unless it says otherwise), or hours back: "6h"."""
    if value.endswith("h") and value[:-1].isdigit():
        return timezone.now() - timedelta(hours=int(value[:-1]))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"not a date or time: {value!r} (e.g. 2026-12-07T18:00Z or 6h)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Feed the texts Twilio received but our webhook missed (and missed statuses) through the inbound path."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="start of the window: 2026-12-07T18:00Z, or 6h (hours back)")
        parser.add_argument("--until", help="end of the window (default: now)")

    def handle(self, *args, since, until=None, **options):
        if settings.SMS_BACKEND != "twilio":
            raise CommandError(f"SMS_BACKEND is {settings.SMS_BACKEND!r}: only Twilio keeps a message log to read")
        result = reconcile_sms(since=_moment(since), until=_moment(until) if until else None)
        self.stdout.write(
            f"listed {result.listed}; texts reconciled {result.texts_reconciled} (already had {result.texts_known}); "
            f"statuses recorded {result.statuses_recorded}; replies texted {result.replies_sent}"
        )
