"""Text the bot from a terminal as a participant, through the real signed webhook.

    manage.py sms_chat TRUE-AD-101-0001
    manage.py sms_chat +13125550111 --at "2026-03-08 21:30"

Each line typed is POSTed to /sms/twilio/inbound/ the way Twilio would send it, signed with
TWILIO_AUTH_TOKEN (in the embedded mode a token kept in var/), so the signature check, the
webhook view and the chatbot are the ones a real phone reaches. The reply is printed,
then what the text came to and what is recorded for the diary. `--at` is the participant's
local time to pretend it is (the clock then runs on from there). /quit or Ctrl-D ends.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime
from unittest import mock
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from diaries import phones
from diaries.models import DiaryRecord, Participant
from eprp.log_file import logging_to
from notifications.models import InboundMessage
from notifications.providers.twilio.webhooks import sign


class Command(BaseCommand):
    help = "Text the SMS bot as a participant from the terminal, through the signed webhook."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("participant", help="USUBJID or phone number of an enrolled participant")
        parser.add_argument("--at", help='the participant\'s local time to pretend it is, e.g. "2026-03-08 21:30"')

    def handle(self, *args, participant, at=None, stdin=None, **options):
        who = self.find(participant)
        start = self.start_time(who, at)
        offset = (start - timezone.now()) if start else None
        client = Client(HTTP_HOST=urlsplit(settings.PUBLIC_BASE_URL).netloc or "127.0.0.1:8000",
                        **({"wsgi.url_scheme": "https"} if settings.PUBLIC_BASE_URL.startswith("https") else {}))
        url = reverse("twilio-inbound")
        self.stdout.write(f"Texting as {who.usubjid} ({who.phone_masked}, {who.zone}). /quit to end.")
        if start:
            self.stdout.write(f"Pretending it is {start:%a %d %b %Y %H:%M %Z}.")
        # The conversation alone on the terminal: the log lines of what a text sets off
        # (tasks queued, messages sent) go to var/log/eprp.log, errors still to the terminal.
        self.stdout.write(f"(log: {settings.VAR_DIR / 'log' / 'eprp.log'})")
        with logging_to(settings.VAR_DIR / "log" / "eprp.log", errors_to=self.stderr):
            self.converse(client, url, who, offset, stdin)

    def converse(self, client: Client, url: str, who: Participant, offset, stdin) -> None:
        lines = stdin or sys.stdin
        while True:
            if stdin is None:
                self.stdout.write("you> ", ending="")
                self.stdout.flush()
            line = lines.readline()
            if not line or line.strip() == "/quit":
                return
            body = line.rstrip("\n")
            with self.clock(offset):
                reply = self.text(client, url, who, body)
            self.stdout.write(f"bot> {reply}" if reply else "bot> (no reply)")
            self.report(who)

    def find(self, key: str) -> Participant:
        found = Participant.objects.filter(usubjid=key).first()
        if found is None:
            try:
                found = Participant.objects.filter(phone_hash=phones.lookup_hash(phones.normalize(key))).first()
            except phones.InvalidPhone:
                found = None
        if found is None:
            raise CommandError(f"No participant with USUBJID or phone {key!r} (try manage.py load_demo first).")
        return found

    def start_time(self, who: Participant, at: str | None) -> datetime | None:
        if not at:
            return None
        try:
            naive = datetime.strptime(at, "%Y-%m-%d %H:%M")
        except ValueError as exc:
            raise CommandError(f'--at wants "YYYY-MM-DD HH:MM" in the participant\'s time, got {at!r}') from exc
        return naive.replace(tzinfo=ZoneInfo(who.zone))

    def clock(self, offset):
        """The moment `--at` asked for, running on: only while one text is handled."""
        if offset is None:
            return mock.patch.object(timezone, "now", timezone.now)
        real_now = timezone.now
        return mock.patch.object(timezone, "now", lambda: real_now() + offset)

    def text(self, client: Client, url: str, who: Participant, body: str) -> str:
        params = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": "AC" + "0" * 32, "From": who.phone,
                  "To": "+10000000000", "Body": body, "NumMedia": "0"}
        signature = sign(settings.PUBLIC_BASE_URL + url, params, settings.TWILIO_AUTH_TOKEN)
        response = client.post(url, data=params, HTTP_X_TWILIO_SIGNATURE=signature)
        if response.status_code != 200:
            raise CommandError(f"the webhook answered {response.status_code}: {response.content.decode()[:200]}")
        return _twiml_text(response.content.decode())

    def report(self, who: Participant) -> None:
        last = InboundMessage.objects.filter(participant=who).order_by("-received_at").first()
        if last is not None:
            self.stdout.write(f"     [{last.outcome_text}]")
        records = DiaryRecord.objects.current().filter(participant=who).order_by("-diary_date", "instrument")
        latest = records.first()
        if latest is None:
            return
        shown = []
        for record in records.filter(diary_date=latest.diary_date):
            options = " ".join(str(a["option"]) for a in record.answers)
            shown.append(f"{record.instrument} {options}")
        self.stdout.write(f"     recorded for {latest.diary_date}: " + "; ".join(shown))


def _twiml_text(xml: str) -> str:
    """The message texts of a TwiML reply."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)
    return "\n".join(m.text or "" for m in root.iter("Message"))
