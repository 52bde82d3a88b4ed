"""The tick: claim due prompts in batches and turn each into an outbound message.

One beat task a minute runs `dispatch_due_prompts`. Each batch is one transaction:

1. `SELECT ... FOR UPDATE SKIP LOCKED` the oldest due pending prompts: a second tick
   running at the same time takes the next rows instead of waiting for these;
2. lock the participants' conversations (in participant order, so two ticks never
   deadlock), ask the chatbot for the prompt's text with the stored state, queue the
   outbound message and store the new state;
3. mark every prompt sent (with its message), skipped (with the reason) or deferred (out
   of quiet hours) by one conditional update each (`WHERE status = 'pending'`).

A crash anywhere before the commit rolls back the claims, the outbound rows and the
conversation states together, and the send tasks are only enqueued after commit: no
prompt is lost and none is sent twice. Holding the conversation locks also means an
inbound text from the same patient waits for the prompt it may be answering.
"""

from __future__ import annotations

import logging
import time as clock
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, models, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from diaries.models import Phase

from . import chatbot, scheduling, services
from .models import Conversation, PromptKind, PromptStatus, ScheduledPrompt

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# A tick a minute: stop taking new batches after this many seconds and let the next tick go on.
TIME_BUDGET = 50.0
DIARY_KINDS = frozenset({PromptKind.DIARY, PromptKind.REMINDER})
ENDED = frozenset({Phase.WITHDRAWN, Phase.COMPLETED})


@dataclass
class DispatchStats:
    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    deferred: int = 0
    batches: int = 0

    def __iadd__(self, other: DispatchStats) -> DispatchStats:
        for name in ("claimed", "sent", "skipped", "deferred", "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


class LostClaim(Exception):
    """A claimed prompt was no longer pending at the update: the whole batch is rolled back."""


def dispatch_due_prompts(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, time_budget: float | None = TIME_BUDGET
) -> DispatchStats:
    """Send every prompt due by now (or until the time budget runs out); safe to run concurrently."""
    started = clock.monotonic()
    stats = DispatchStats()
    while True:
        try:
            batch = dispatch_batch(now=now or timezone.now(), batch_size=batch_size)
        except LostClaim:
            # Only without row locks (SQLite): another tick won a row; it rolled back, the next tick retries.
            log.warning("a prompt was claimed by another tick; batch rolled back")
            return stats
        stats += batch
        if batch.claimed < batch_size or (time_budget is not None and clock.monotonic() - started > time_budget):
            return stats


@transaction.atomic
def dispatch_batch(*, now: datetime, batch_size: int = BATCH_SIZE) -> DispatchStats:
    """Claim and process one batch of due prompts in one transaction."""
    prompts = list(
        ScheduledPrompt.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("participant__site", "participant__study")
        .filter(status=PromptStatus.PENDING, due_at__lte=now)
        .order_by("due_at", "pk")[:batch_size]
    )
    stats = DispatchStats(claimed=len(prompts), batches=1 if prompts else 0)
    if not prompts:
        return stats
    conversations = _lock_conversations({p.participant_id for p in prompts})
    sent: dict[int, object] = {}
    skipped: dict[int, str] = {}
    deferred: dict[int, datetime] = {}
    for prompt in prompts:
        conversation = conversations[prompt.participant_id]
        try:
            outcome, value = _dispatch_one(prompt, conversation, now)
        except DatabaseError:
            raise  # the transaction is unusable: roll the batch back, the next tick retries
        except Exception as exc:
            # A bug for this one prompt must not hold up everyone else's: record it, go on.
            log.exception("prompt %s (%s) failed", prompt.pk, prompt.kind)
            outcome, value = "skipped", f"error: {type(exc).__name__}"
        {"sent": sent, "skipped": skipped, "deferred": deferred}[outcome][prompt.pk] = value
    pending = ScheduledPrompt.objects.filter(status=PromptStatus.PENDING)
    done = 0
    if sent:
        done += pending.filter(pk__in=list(sent)).update(
            status=PromptStatus.SENT, reason="", updated_at=now,
            outbound_id=Case(*(When(pk=pk, then=Value(m.pk)) for pk, m in sent.items()),
                             output_field=models.UUIDField()),
        )
    if skipped:
        done += pending.filter(pk__in=list(skipped)).update(
            status=PromptStatus.SKIPPED, updated_at=now,
            reason=Case(*(When(pk=pk, then=Value(r[:100])) for pk, r in skipped.items()),
                        output_field=models.CharField()),
        )
    if deferred:
        done += pending.filter(pk__in=list(deferred)).update(
            reason="deferred: quiet hours", updated_at=now,
            due_at=Case(*(When(pk=pk, then=Value(d)) for pk, d in deferred.items()),
                        output_field=models.DateTimeField()),
        )
    if done != len(prompts):
        raise LostClaim(f"{len(prompts) - done} of {len(prompts)} prompts were no longer pending")
    changed = [conversations[pid] for pid in {m.participant_id for m in sent.values()}]
    if changed:
        at = timezone.now()
        for conversation in changed:
            conversation.updated_at = at
        Conversation.objects.bulk_update(changed, ["state", "updated_at"])
    services.enqueue_after_commit([m.pk for m in sent.values()])
    stats.sent, stats.skipped, stats.deferred = len(sent), len(skipped), len(deferred)
    return stats


def _lock_conversations(participant_ids: set) -> dict[object, Conversation]:
    """Row-lock each participant's conversation (creating missing ones), in participant order."""
    ids = sorted(participant_ids, key=str)
    query = Conversation.objects.select_for_update().filter(participant_id__in=ids).order_by("participant_id")
    found = {c.participant_id: c for c in query}
    missing = [pid for pid in ids if pid not in found]
    if missing:
        Conversation.objects.bulk_create([Conversation(participant_id=pid) for pid in missing],
                                         ignore_conflicts=True)
        found.update({c.participant_id: c for c in query.filter(participant_id__in=missing)})
    return found


def _dispatch_one(prompt: ScheduledPrompt, conversation: Conversation, now: datetime) -> tuple[str, object]:
    """("sent", message) | ("skipped", reason) | ("deferred", new due time)."""
    p = prompt.participant
    kind = prompt.kind
    rules = p.study.rules
    if p.opted_out:
        return "skipped", "opted out"
    if p.phase in ENDED:
        return "skipped", f"participant {p.phase}"
    facts = scheduling.Facts(p.pk, p.zone, p.phase, p.runin_start, p.first_application_at, p.discontinued_on)
    expires = scheduling.expires_at(kind, prompt.diary_date, facts, rules)
    if expires is not None and now >= expires:
        return "skipped", f"expired (due {prompt.due_at:%Y-%m-%d %H:%M} UTC)"
    if kind not in scheduling.PROTOCOL_TIMED:
        later = scheduling.out_of_quiet_hours(now, p.zone, rules)
        if later != now:
            return "deferred", later
    if kind in DIARY_KINDS and p.phase not in scheduling.DIARY_PHASES:
        return "skipped", f"no daily diary in phase {p.phase}"
    extra = {"visit_date": prompt.diary_date} if kind == PromptKind.VISIT_REMINDER else {}
    ctx = services.build_context(p, now, **extra)
    if kind in DIARY_KINDS and ctx.diary_date != prompt.diary_date:
        return "skipped", f"diary window of {prompt.diary_date} not open"
    result = chatbot.start(kind, ctx, state=conversation.state)
    if not result.reply:
        return "skipped", _why_nothing(kind, ctx)
    message = services.queue_message(participant=p, kind=kind, body=result.reply, enqueue=False)
    if message is None:
        return "skipped", "opted out or withdrawn"
    conversation.state = result.state
    return "sent", message


def _why_nothing(kind: str, ctx: chatbot.Context) -> str:
    if kind in DIARY_KINDS:
        return "diary already complete"
    if kind == PromptKind.H12:
        return "H12 already answered" if ctx.h12_done else "H12 window not open"
    if kind in (PromptKind.LESION_CHECKIN, PromptKind.STOP_TREATMENT) and ctx.phase != Phase.LONG_TERM:
        return "not in the long-term phase"
    return "nothing to send"
