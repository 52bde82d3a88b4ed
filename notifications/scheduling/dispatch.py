"""The tick: claim due prompts in batches and turn each into an outbound message.

One beat task a minute runs `dispatch_due_prompts`. Each batch is one transaction:

1. `SELECT ... FOR UPDATE SKIP LOCKED` the oldest due pending prompts: a second tick
   running at the same time takes the next rows instead of waiting for these;
2. lock the participants' conversations (in participant order, so two ticks never
   deadlock), read consent and phase again under those locks, build every chatbot
   context of the batch in a few queries (`context.build_contexts`), ask the chatbot for each
   prompt's text with the stored state;
3. insert the outbound messages in one statement, mark every prompt sent (with its
   message), skipped (with the reason) or deferred (out of quiet hours) in one
   conditional UPDATE (`WHERE status = 'pending'`), store the new conversation states.

A crash anywhere before the commit rolls back the claims, the outbound rows and the
conversation states together, and the send tasks are only enqueued after commit: no
prompt is lost and none is sent twice. Holding the conversation locks also means an
inbound text from the same patient waits for the prompt it may be answering.
"""

from __future__ import annotations

import json
import logging
import time as clock
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models import Case, JSONField, Max, Value, When
from django.utils import timezone

from diaries.models import DiaryRecord, Participant, PatientToken, Phase, PushDevice, Study, Timepoint
from notifications import chatbot
from notifications.context import build_contexts
from notifications.models import (
    Conversation,
    MessageChannel,
    OutboundMessage,
    PromptKind,
    PromptStatus,
    ScheduledPrompt,
)
from notifications.outbox import enqueue_after_commit
from notifications.providers import push_texts
from notifications.scheduling import channels, planner

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
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, time_budget: float | None = TIME_BUDGET,
    participant_ids: list | None = None,
) -> DispatchStats:
    """Send every prompt due by now (or until the time budget runs out); safe to run concurrently.

    `participant_ids`: only theirs (`manage.py dispatch_prompts`, the README's push walk-through).
    """
    started = clock.monotonic()
    stats = DispatchStats()
    while True:
        try:
            batch = dispatch_batch(now=now or timezone.now(), batch_size=batch_size, participant_ids=participant_ids)
        except LostClaim:
            # Only without row locks (SQLite): another tick won a row; it rolled back, the next tick retries.
            log.warning("a prompt was claimed by another tick; batch rolled back")
            return stats
        stats += batch
        if batch.claimed < batch_size or (time_budget is not None and clock.monotonic() - started > time_budget):
            return stats


@transaction.atomic
def dispatch_batch(*, now: datetime, batch_size: int = BATCH_SIZE,
                   participant_ids: list | None = None) -> DispatchStats:
    """Claim and process one batch of due prompts in one transaction."""
    due = ScheduledPrompt.objects.filter(status=PromptStatus.PENDING, due_at__lte=now)
    if participant_ids is not None:
        due = due.filter(participant_id__in=participant_ids)
    prompts = list(
        due.select_for_update(skip_locked=True, of=("self",)).select_related("participant__site")
        .order_by("due_at", "pk")[:batch_size]
    )
    stats = DispatchStats(claimed=len(prompts), batches=1 if prompts else 0)
    if not prompts:
        return stats
    participants = {p.participant_id: p.participant for p in prompts}
    for prompt in prompts:
        # One instance per participant: _refresh attaches the study to it, and a second prompt of
        # the same participant (a reminder due with its diary prompt) must not load it again.
        prompt.participant = participants[prompt.participant_id]
    conversations = _lock_conversations(set(participants))
    _refresh(participants, now)
    reach = Reach.of(prompts)
    outcomes: dict[int, tuple[str, object]] = {}
    ready: list[ScheduledPrompt] = []
    for prompt in prompts:
        outcome = _guarded(prompt, lambda prompt=prompt: _before_context(prompt, now, reach))
        if outcome is None:
            ready.append(prompt)
        else:
            outcomes[prompt.pk] = outcome
    contexts = build_contexts([participants[p.participant_id] for p in ready], now)
    messages: list[OutboundMessage] = []
    fallbacks: list[ScheduledPrompt] = []
    for prompt in ready:
        conversation = conversations[prompt.participant_id]
        state_before = conversation.state
        route = reach.route(prompt)
        # The chatbot decides whether there is anything to ask; an SMS opt-out does not stop a push.
        ctxs = _push_contexts(contexts, prompt.participant_id) if route.channel == channels.Channel.PUSH else contexts
        outcome = _guarded(prompt, lambda p=prompt, c=conversation, x=ctxs: _start(p, x, c, now))
        if outcome[0] == "sent" and route.channel == channels.Channel.PUSH:
            conversation.state = state_before  # a push moves no SMS conversation on
            pushes = _pushes(prompt, reach.devices[prompt.participant_id], now)
            outcome = ("sent", pushes[0])
            messages.extend(pushes)
            if route.fallback_after is not None:
                fallbacks.append(_fallback(prompt, now + route.fallback_after, now))
        elif outcome[0] == "sent":
            messages.append(outcome[1])
        outcomes[prompt.pk] = outcome
    _insert_messages(messages)
    done = _mark(prompts, outcomes, now)
    if done != len(prompts):
        raise LostClaim(f"{len(prompts) - done} of {len(prompts)} prompts were no longer pending")
    ScheduledPrompt.objects.bulk_create(fallbacks)
    _save_states([conversations[pid] for pid in {m.participant_id for m in messages}])
    # Earliest deadline first: the send tasks take the prompts whose window closes soonest first.
    enqueue_after_commit([m.pk for m in sorted(messages, key=_deadline_order)])
    for outcome, _ in outcomes.values():
        setattr(stats, outcome, getattr(stats, outcome) + 1)
    return stats


def _deadline_order(message: OutboundMessage) -> tuple:
    return (message.expires_at is None, message.expires_at or message.created_at)


def _guarded(prompt: ScheduledPrompt, step) -> tuple[str, object] | None:
    try:
        return step()
    except DatabaseError:
        raise  # the transaction is unusable: roll the batch back, the next tick retries
    except Exception as exc:
        # A bug for this one prompt must not hold up everyone else's: record it, go on.
        log.exception("prompt %s (%s) failed", prompt.pk, prompt.kind)
        return "skipped", f"error: {type(exc).__name__}"


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


def _refresh(participants: dict, now: datetime) -> None:
    """Consent and phase read again once the conversations are locked, and each study's rules attached.

    The prompts' query may have read a participant just before a STOP committed; the
    STOP held the conversation lock we now hold, so this read sees it.
    """
    fresh = Participant.objects.filter(pk__in=list(participants)).values_list("pk", "sms_consent", "phase")
    for pk, consent, phase in fresh:
        participants[pk].sms_consent, participants[pk].phase = consent, phase
    studies = {s.pk: s for s in Study.objects.filter(pk__in={p.study_id for p in participants.values()})}
    for p in participants.values():
        p.study = studies[p.study_id]


def _before_context(prompt: ScheduledPrompt, now: datetime, reach: Reach) -> tuple[str, object] | None:
    """("skipped", reason) | ("deferred", new due time), or None when the prompt goes on to the chatbot."""
    p = prompt.participant
    kind = prompt.kind
    rules = p.study.rules
    route = reach.route(prompt)
    if route.channel is None:
        return "skipped", route.reason
    if prompt.fallback_of_id is not None and (why := reach.fallback_not_needed(prompt)):
        return "skipped", why
    if p.phase in ENDED:
        return "skipped", f"participant {p.phase}"
    expires = prompt_deadline(prompt)
    if expires is not None and now >= expires:
        return "skipped", f"expired (due {prompt.due_at:%Y-%m-%d %H:%M} UTC)"
    if kind not in planner.PROTOCOL_TIMED:
        later = planner.out_of_quiet_hours(now, p.zone, rules)
        if later != now:
            return "deferred", later
    if kind in DIARY_KINDS and p.phase not in planner.DIARY_PHASES:
        return "skipped", f"no daily diary in phase {p.phase}"
    return None


def _start(prompt: ScheduledPrompt, contexts: dict, conversation: Conversation, now: datetime) -> tuple[str, object]:
    """("sent", an unsaved message) | ("skipped", reason); moves the conversation on when sent."""
    kind = prompt.kind
    ctx = contexts[prompt.participant_id]
    if isinstance(ctx, Exception):
        raise ctx
    if kind == PromptKind.VISIT_REMINDER:
        ctx = replace(ctx, visit_date=prompt.diary_date)
    if kind in DIARY_KINDS and ctx.diary_date != prompt.diary_date:
        return "skipped", f"diary window of {prompt.diary_date} not open"
    result = chatbot.start(kind, ctx, state=conversation.state)
    if not result.reply:
        return "skipped", _why_nothing(kind, ctx)
    # The opted-out and withdrawn were skipped above, with consent and phase read under the lock.
    conversation.state = result.state
    message = OutboundMessage(participant=prompt.participant, kind=kind, body=result.reply, created_at=now,
                              updated_at=now, expires_at=prompt_deadline(prompt))
    return "sent", message


def prompt_deadline(prompt: ScheduledPrompt) -> datetime | None:
    """When the prompt stops making sense (its window closes): never delivered after that."""
    p = prompt.participant
    facts = planner.Facts(p.pk, p.zone, p.phase, p.runin_start, p.first_application_at, p.discontinued_on)
    return planner.expires_at(prompt.kind, prompt.diary_date, facts, p.study.rules)


# With push_then_sms every prompt's push gets an SMS fallback, skipped when it is no longer needed:
# for the prompts that wait for an answer, once any of that diary has arrived (by any channel);
# for the others (visit reminder, lesion check-in, stop-treatment prompt, whose push says only
# "open the app"), once the app has been used since the push (its token's last use, kept to
# within auth.LAST_USED_RESOLUTION: an app opened within minutes of an earlier use may still
# get the SMS, the safe side for "stop applying the cream today").
ANSWER_KINDS = frozenset({PromptKind.DIARY, PromptKind.REMINDER, PromptKind.H12})


def _answer_group(prompt: ScheduledPrompt) -> tuple:
    """What a prompt waits for: (participant, diary date, timepoint); a daily prompt and its reminder share one."""
    return prompt.participant_id, prompt.diary_date, Timepoint.H12 if prompt.kind == PromptKind.H12 else Timepoint.DAILY


@dataclass
class Reach:
    """What the batch's participants can be reached by, read in a few queries: their active app devices,
    the diaries already started, the SMS fallbacks already sent, the app's last use and when each push went.

    The rule for push_then_sms: a diary evening (and the 12-hour assessment) gets at most one SMS
    fallback. The prompt's push is followed by an SMS when nothing of that diary has arrived N
    minutes later; the reminder then goes by push alone (its fallback is skipped: "an SMS already
    went out"), so a patient who ignores everything gets exactly one SMS. Any answer, on any
    channel, skips the fallback; a complete diary cancels every pending prompt of the date. A prompt
    that waits for no answer (visit reminder, lesion check-in, stop-treatment) gets its one SMS
    unless the app was used after its push.
    """

    devices: dict
    started: set
    sms_sent: set
    app_used: dict = field(default_factory=dict)  # participant -> the app's last use (PatientToken.last_used_at)
    pushed_at: dict = field(default_factory=dict)  # the pushed prompt's id -> when it went out
    _routes: dict = field(default_factory=dict)

    @classmethod
    def of(cls, prompts: list[ScheduledPrompt]) -> Reach:
        ids = {p.participant_id for p in prompts}
        devices = defaultdict(list)
        for device in PushDevice.objects.filter(participant_id__in=ids, active=True).order_by("-last_registered_at"):
            devices[device.participant_id].append(device)
        fallbacks = [p for p in prompts if p.fallback_of_id is not None]
        started, sms_sent, app_used, pushed_at = set(), set(), {}, {}
        if fallbacks:
            fallback_ids = {p.participant_id for p in fallbacks}
            app_used = dict(PatientToken.objects.filter(participant_id__in=fallback_ids, last_used_at__isnull=False)
                            .order_by().values_list("participant_id").annotate(Max("last_used_at")))
            pushed_at = dict(ScheduledPrompt.objects.filter(pk__in=[p.fallback_of_id for p in fallbacks])
                             .values_list("pk", "updated_at"))
            dates = {p.diary_date for p in fallbacks}
            started = set(DiaryRecord.objects.filter(participant_id__in=fallback_ids, diary_date__in=dates)
                          .order_by().values_list("participant_id", "diary_date", "timepoint"))
            sms_sent = {_answer_group(p) for p in ScheduledPrompt.objects.filter(
                participant_id__in=fallback_ids, diary_date__in=dates, fallback_of__isnull=False,
                status=PromptStatus.SENT).only("participant_id", "diary_date", "kind")}
        return cls(devices, started, sms_sent, app_used, pushed_at)

    def route(self, prompt: ScheduledPrompt) -> channels.Route:
        if prompt.pk not in self._routes:
            p = prompt.participant
            can_text = not p.opted_out
            if prompt.fallback_of_id is not None:
                route = channels.Route(channels.Channel.SMS) if can_text else channels.Route(None, "opted out")
            else:
                rules = p.study.rules
                route = channels.route(p.channel_preference or rules.channel_default, can_text=can_text,
                                       can_push=bool(self.devices.get(p.pk)),
                                       fallback_after=timedelta(minutes=rules.fallback_after_minutes))
            self._routes[prompt.pk] = route
        return self._routes[prompt.pk]

    def fallback_not_needed(self, prompt: ScheduledPrompt) -> str:
        if prompt.kind not in ANSWER_KINDS:
            used, pushed = self.app_used.get(prompt.participant_id), self.pushed_at.get(prompt.fallback_of_id)
            return "app opened after the push" if used and pushed and used >= pushed else ""
        group = _answer_group(prompt)
        if group in self.started:
            return "diary started after the push"
        if group in self.sms_sent:
            return "an SMS already went out for this diary"
        return ""


def _push_contexts(contexts: dict, participant_id) -> dict:
    ctx = contexts[participant_id]
    return contexts if isinstance(ctx, Exception) else {participant_id: replace(ctx, opted_out=False)}


def _pushes(prompt: ScheduledPrompt, devices: list, now: datetime) -> list[OutboundMessage]:
    """The prompt as a push to each active device of the participant, expiring when the prompt stops being useful."""
    p = prompt.participant
    facts = planner.Facts(p.pk, p.zone, p.phase, p.runin_start, p.first_application_at, p.discontinued_on)
    expires = planner.expires_at(prompt.kind, prompt.diary_date, facts, p.study.rules) or now + timedelta(days=1)
    messages = []
    for device in devices:
        push = push_texts.build_push(kind=prompt.kind, language=p.language, token=device.token, slot=prompt.slot,
                                     diary_date=prompt.diary_date, expires_at=expires)
        messages.append(OutboundMessage(
            participant=p, kind=prompt.kind, body=push.body, channel=MessageChannel.PUSH, device=device,
            expires_at=expires, payload={"title": push.title, "link": push.link, "collapse_id": push.collapse_id},
            created_at=now, updated_at=now))
    return messages


def _fallback(prompt: ScheduledPrompt, due_at: datetime, now: datetime) -> ScheduledPrompt:
    return ScheduledPrompt(participant_id=prompt.participant_id, kind=prompt.kind, slot=prompt.slot,
                           diary_date=prompt.diary_date, due_at=due_at, fallback_of=prompt, created_at=now,
                           updated_at=now)


def _mark(prompts: list[ScheduledPrompt], outcomes: dict, now: datetime) -> int:
    """Record every outcome in one UPDATE, only where the prompt is still pending; the rows updated.

    Sent: status and message; skipped: status and reason; deferred: still pending, a new
    due time and the reason. On PostgreSQL the values travel as arrays (unnest): a CASE
    per field costs Django about a millisecond a prompt to build.
    """
    rows = []
    for prompt in prompts:
        outcome, value = outcomes[prompt.pk]
        if outcome == "sent":
            rows.append((prompt.pk, PromptStatus.SENT, "", value.pk, prompt.due_at))
        elif outcome == "skipped":
            rows.append((prompt.pk, PromptStatus.SKIPPED, value[:100], None, prompt.due_at))
        else:
            rows.append((prompt.pk, PromptStatus.PENDING, "deferred: quiet hours", None, value))
    if connection.vendor == "postgresql":
        table = ScheduledPrompt._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS p SET status = t.status, reason = t.reason, outbound_id = t.outbound,"
                " due_at = t.due, updated_at = %s"
                " FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::uuid[], %s::timestamptz[])"
                " AS t(id, status, reason, outbound, due)"
                " WHERE p.id = t.id AND p.status = %s",
                [now, *(list(col) for col in zip(*rows, strict=True)), PromptStatus.PENDING],
            )
            return cursor.rowcount
    field = ScheduledPrompt._meta.get_field

    def case(i: int, name: str) -> Case:
        return Case(*(When(pk=row[0], then=Value(row[i])) for row in rows), output_field=field(name))

    return ScheduledPrompt.objects.filter(pk__in=[row[0] for row in rows], status=PromptStatus.PENDING).update(
        status=case(1, "status"), reason=case(2, "reason"), outbound_id=case(3, "outbound"), due_at=case(4, "due_at"),
        updated_at=now,
    )


def _insert_messages(messages: list[OutboundMessage]) -> None:
    """The batch's messages in one INSERT; on PostgreSQL from arrays (unnest), as in _mark.

    A multi-row VALUES list costs Django and psycopg about 0.15 ms of CPU a message (a
    placeholder a field, quoted one by one, and a statement too long for psycopg to cache);
    here each column is one array, or one value when the whole batch shares it (kind,
    status, the time, the empty fields).
    """
    if connection.vendor != "postgresql" or not messages:
        OutboundMessage.objects.bulk_create(messages)
        return
    columns, selected, names, scalars, arrays = [], [], [], [], []
    for column in OutboundMessage._meta.concrete_fields:
        json_column = isinstance(column, JSONField)
        cast, wire = ("::jsonb", "text") if json_column else ("", column.db_type(connection))
        values = [column.pre_save(m, True) for m in messages]
        columns.append(connection.ops.quote_name(column.column))
        if not column.primary_key and all(v == values[0] for v in values):  # the key: at least one array
            selected.append(f"%s::{wire}{cast}")
            scalars.append(_db_value(column, values[0]))
        else:
            name = f"c{len(names)}"
            selected.append(f"t.{name}{cast}")
            names.append(name)
            arrays.append((f"%s::{wire}[]", [_db_value(column, v) for v in values]))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {OutboundMessage._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(selected)}"
            f" FROM unnest({', '.join(a for a, _ in arrays)}) AS t({', '.join(names)})",
            [*scalars, *(values for _, values in arrays)],
        )
    for message in messages:
        message._state.adding, message._state.db = False, connection.alias


def _db_value(column, value):
    if isinstance(column, JSONField):  # sent as text, cast to jsonb in the statement
        return None if value is None else json.dumps(value, cls=column.encoder)
    return column.get_db_prep_save(value, connection)


def _save_states(changed: list[Conversation]) -> None:
    """The conversations the prompts moved on, in one UPDATE (unnest on PostgreSQL, as in _mark)."""
    if not changed:
        return
    at = timezone.now()
    if connection.vendor != "postgresql":
        for conversation in changed:
            conversation.updated_at = at
        Conversation.objects.bulk_update(changed, ["state", "updated_at"])
        return
    encoder = Conversation._meta.get_field("state").encoder
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Conversation._meta.db_table} AS c SET state = t.state::jsonb, updated_at = %s"
            " FROM unnest(%s::bigint[], %s::text[]) AS t(id, state) WHERE c.id = t.id",
            [at, [c.pk for c in changed], [json.dumps(c.state, cls=encoder) for c in changed]],
        )


def _why_nothing(kind: str, ctx: chatbot.Context) -> str:
    if kind in DIARY_KINDS:
        return "diary already complete"
    if kind == PromptKind.H12:
        return "H12 already answered" if ctx.h12_done else "H12 window not open"
    if kind in (PromptKind.LESION_CHECKIN, PromptKind.STOP_TREATMENT) and ctx.phase != Phase.LONG_TERM:
        return "not in the long-term phase"
    return "nothing to send"
