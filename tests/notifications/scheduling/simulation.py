"""A small discrete-event driver for the time-travel tests: the daily plan, every tick, scripted texts.

The clock jumps from one due time (or scripted text) to the next instead of ticking every
simulated minute: a tick only does work when something is due, so the result is the same.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import time_machine

from notifications.inbound import Inbound, receive_sms
from notifications.models import PromptStatus, ScheduledPrompt
from notifications.scheduling import dispatch, planner

TICK_DELAY = timedelta(seconds=20)  # the beat's tick lands within a minute of the due time
PLAN_AT = time(0, 30)  # the daily plan, UTC


class Simulation:
    def __init__(self, start: datetime, end: datetime):
        self.start, self.end = start, end
        self.actions: list = []  # heap of (instant, n, callable)
        self.counter = itertools.count()
        self.replies: list[tuple[datetime, str, str]] = []

    def at(self, instant: datetime, action: Callable[[datetime], None]):
        heapq.heappush(self.actions, (instant.astimezone(UTC), next(self.counter), action))

    def text(self, instant: datetime, participant, body: str):
        def send(now):
            self.replies.append((now, participant.usubjid, receive_sms(
                inbound=Inbound(f"SM{next(self.counter):030d}", participant.phone, body, 0), now=now)))

        self.at(instant, send)

    def run(self, on_sent: Callable[[ScheduledPrompt, datetime], None] | None = None):
        day = self.start.astimezone(UTC).date()
        while datetime.combine(day, PLAN_AT, tzinfo=UTC) < self.end:
            plan_at = datetime.combine(day, PLAN_AT, tzinfo=UTC)
            day_end = plan_at + timedelta(days=1)
            with time_machine.travel(plan_at, tick=False):
                planner.plan_prompts(now=plan_at)
            while True:
                due = (ScheduledPrompt.objects.filter(status=PromptStatus.PENDING, due_at__lt=day_end)
                       .order_by("due_at").values_list("due_at", flat=True).first())
                tick_at = due + TICK_DELAY if due is not None else None
                action_at = self.actions[0][0] if self.actions and self.actions[0][0] < day_end else None
                if tick_at is None and action_at is None:
                    break
                if action_at is not None and (tick_at is None or action_at <= tick_at):
                    _, _, action = heapq.heappop(self.actions)
                    with time_machine.travel(action_at, tick=False):
                        action(action_at)
                    continue
                before = set(ScheduledPrompt.objects.filter(status=PromptStatus.SENT).values_list("pk", flat=True))
                with time_machine.travel(tick_at, tick=False):
                    dispatch.dispatch_due_prompts()
                if on_sent:
                    for prompt in ScheduledPrompt.objects.filter(status=PromptStatus.SENT).exclude(pk__in=before):
                        on_sent(prompt, tick_at)
            day += timedelta(days=1)
