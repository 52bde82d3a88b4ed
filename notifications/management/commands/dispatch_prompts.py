"""Run the prompt tick for one participant as if it were a given local time: the README's push walk-through.

    manage.py dispatch_prompts TRUE-AD-101-001 --at "2026-12-08 19:00"

The beat tick sends a prompt when its time comes; this runs the same tick
(notifications/scheduling/dispatch.py: channel routing, the push, the SMS fallback row, the
skips) at `--at`, the participant's local time, for that participant's prompts only, so a
newcomer sees the 19:00 push and its 19:30 fallback without waiting for the evening.
Only the tick's "now" is moved: the messages it queues are sent by the running worker on
the real clock (a push's expiry, the provider's tokens), so `--at` must be ahead of the
real time and within the planner's two days. It prints what each prompt came to.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from diaries.models import Participant
from notifications.models import ScheduledPrompt
from notifications.scheduling import dispatch, planner


class Command(BaseCommand):
    help = "Dispatch one participant's prompts due by a local time (the beat tick, moved ahead for a demo)."

    def add_arguments(self, parser):
        parser.add_argument("participant", help="USUBJID")
        parser.add_argument("--at", required=True, help='the participant\'s local time, e.g. "2026-12-08 19:00"')

    def handle(self, *args, participant: str, at: str, **options):
        who = Participant.objects.filter(usubjid=participant).first()
        if who is None:
            raise CommandError(f"No participant {participant!r} (try manage.py load_demo first).")
        try:
            when = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(who.zone))
        except ValueError as exc:
            raise CommandError(f'--at wants "YYYY-MM-DD HH:MM" in the participant\'s time, got {at!r}') from exc
        now = timezone.now()
        if not now < when <= now + planner.HORIZON:
            raise CommandError(f"--at must lie ahead of now ({now.astimezone(when.tzinfo):%Y-%m-%d %H:%M} there) "
                               f"and within {planner.HORIZON.days} days: the worker sends on the real clock")
        planner.plan_prompts(participant_ids=[who.pk])  # as the planner keeps it, on the real clock
        stats = dispatch.dispatch_due_prompts(now=when, participant_ids=[who.pk], time_budget=None)
        self.stdout.write(f"{who.usubjid} at {when:%Y-%m-%d %H:%M %Z}: {stats.claimed} prompt(s) due, "
                          f"{stats.sent} sent, {stats.skipped} skipped, {stats.deferred} deferred")
        for prompt in (ScheduledPrompt.objects.filter(participant=who, updated_at=when)
                       .select_related("outbound").order_by("due_at", "pk")):
            self.stdout.write("  " + describe(prompt, who.zone))
        pending = ScheduledPrompt.objects.filter(participant=who, status="pending", due_at__gt=when).first()
        if pending is not None:
            self.stdout.write(f"next: {pending.get_kind_display()}{' (SMS fallback)' if pending.fallback_of_id else ''}"
                              f" at {pending.due_at.astimezone(ZoneInfo(who.zone)):%Y-%m-%d %H:%M}")


def describe(prompt: ScheduledPrompt, zone: str) -> str:
    """One prompt's outcome in a line: "19:00 Evening diary prompt (2026-12-08): sent by push"."""
    what = prompt.get_kind_display() + (" SMS fallback" if prompt.fallback_of_id else "")
    line = f"{prompt.due_at.astimezone(ZoneInfo(zone)):%H:%M} {what} ({prompt.slot}): {prompt.get_status_display()}"
    if prompt.outbound is not None:
        line += f" by {prompt.outbound.get_channel_display()}"
    return line + (f" ({prompt.reason})" if prompt.reason else "")
