"""What the chatbot knows about a participant at an instant, read under the conversation's lock.

`build_context` for one participant (an inbound text, a prompt sent on request), and
`build_contexts` for a dispatch batch in a few queries; both assemble it in `_context`.
"""

from __future__ import annotations

from datetime import date, datetime

from diaries.diary import LockedDiary, diary_date_for
from diaries.errors import ServiceError
from diaries.models import DiaryRecord, Participant, Phase, Timepoint
from diaries.protocol import cycles, windows
from diaries.treatment import cycle_events

from . import chatbot
from .models import Conversation


def locked_conversation(sender_hash: str) -> Conversation | None:
    """The sender's conversation and participant, row-locked, with site and study, in one query.

    The conversation lock serialises this participant's texts: two quick replies are
    handled one after the other, never interleaved. The participant lock is the one
    `diaries` takes for every write (`lock_diary` relies on it), so a web diary waits too.
    """
    query = Conversation.objects.select_for_update(of=("self", "participant")).select_related(
        "participant__site", "participant__study"
    )
    try:  # phone_hash is unique and a participant has one conversation: no ordering needed
        return query.get(participant__phone_hash=sender_hash)
    except Conversation.DoesNotExist:
        pass
    participant = Participant.objects.filter(phone_hash=sender_hash).first()
    if participant is None:
        return None
    # A first text before any prompt made the conversation: one INSERT that does nothing if a
    # concurrent text or dispatch made it first (get_or_create took a SELECT and a savepoint more).
    Conversation.objects.bulk_create([Conversation(participant=participant)], ignore_conflicts=True)
    return query.get(participant=participant)


def diary_date_now(participant: Participant, now: datetime) -> date | None:
    """The daily diary date a text at this instant answers, or None when no daily diary is open."""
    try:
        return diary_date_for(participant, Timepoint.DAILY, now)
    except ServiceError:
        return None


def build_context(participant: Participant, now: datetime, *, locked: LockedDiary | None = None,
                  **extra) -> chatbot.Context:
    """What the chatbot needs to know about this participant at this instant.

    `locked` is the caller's `lock_diary` of this instant's diary date (the inbound path
    reads the current records once, for the context and the writes).
    """
    if locked is None:
        diary_date = diary_date_now(participant, now)
        records = (
            DiaryRecord.objects.current().filter(participant=participant, timepoint=Timepoint.DAILY,
                                                 diary_date=diary_date).order_by("submitted_at")
            if diary_date is not None else []
        )
        current_records = {rec.instrument: rec for rec in records}
    else:
        diary_date, current_records = locked.diary_date, locked.records
    h12_open = h12_done = False
    if participant.first_application_at:
        h12_open = windows.h12_window(participant.first_application_at, participant.study.rules).is_open(now)
        h12_done = h12_open and DiaryRecord.objects.filter(participant=participant, timepoint=Timepoint.H12).exists()
    cleared_on = None
    if participant.phase == Phase.LONG_TERM:
        cleared_on = cycles.open_cycle_cleared_on(cycle_events([participant.pk]).get(participant.pk, []),
                                                  participant.study.rules.stop_treatment_after_days)
    return _context(participant, now, diary_date=diary_date, current=_answers_of(current_records.values()),
                    h12_open=h12_open, h12_done=h12_done, cleared_on=cleared_on, **extra)


def build_contexts(participants: list[Participant], now: datetime) -> dict[object, chatbot.Context | Exception]:
    """`build_context` for a batch of participants (with site and study loaded) in a few queries.

    {participant id: context}, or the exception building it raised (that participant's
    prompts are skipped, everyone else's go on).
    """
    diary_dates: dict = {}
    h12_open: set = set()
    for p in participants:
        try:
            diary_dates[p.pk] = diary_date_for(p, Timepoint.DAILY, now)
        except ServiceError:
            diary_dates[p.pk] = None
        except Exception as exc:  # noqa: BLE001 - reported for this participant by the caller
            diary_dates[p.pk] = exc
        if p.first_application_at and windows.h12_window(p.first_application_at, p.study.rules).is_open(now):
            h12_open.add(p.pk)
    h12_done = set(
        DiaryRecord.objects.filter(participant_id__in=list(h12_open), timepoint=Timepoint.H12)
        .values_list("participant_id", flat=True).distinct()
    ) if h12_open else set()
    records: dict = {pk: [] for pk, d in diary_dates.items() if isinstance(d, date)}
    if records:
        for rec in DiaryRecord.objects.current().filter(
            participant_id__in=list(records), timepoint=Timepoint.DAILY,
            diary_date__in={diary_dates[pk] for pk in records},
        ).order_by("submitted_at"):
            if diary_dates[rec.participant_id] == rec.diary_date:
                records[rec.participant_id].append(rec)
    long_term = [p.pk for p in participants if p.phase == Phase.LONG_TERM]
    events = cycle_events(long_term) if long_term else {}
    contexts: dict = {}
    for p in participants:
        diary_date = diary_dates[p.pk]
        if isinstance(diary_date, Exception):
            contexts[p.pk] = diary_date
            continue
        cleared_on = cycles.open_cycle_cleared_on(events.get(p.pk, []), p.study.rules.stop_treatment_after_days)
        contexts[p.pk] = _context(p, now, diary_date=diary_date, current=_answers_of(records.get(p.pk, [])),
                                  h12_open=p.pk in h12_open, h12_done=p.pk in h12_done, cleared_on=cleared_on)
    return contexts


def _answers_of(records) -> dict[str, dict[int, int]]:
    """{instrument: {item: option as typed}} of the current records, the latest one per instrument."""
    return {rec.instrument: {a["item"]: a["option"] for a in rec.answers} for rec in records}


def _context(p: Participant, now: datetime, *, diary_date, current, h12_open: bool, h12_done: bool,
             cleared_on: date | None, **extra) -> chatbot.Context:
    rules = p.study.rules
    return chatbot.Context(
        rules=rules,
        language=p.language,
        phase=p.phase,
        opted_out=p.opted_out,
        now_local=windows.local(now, p.zone),
        diary_date=diary_date,
        next_window_opens=windows.local(windows.next_window_opens(now, p.zone, windows.Window.of(rules)), p.zone),
        h12_open=h12_open,
        h12_done=h12_done,
        current=current,
        site_name=p.site.name,
        site_phone=p.site.phone,
        site_hours=p.site.hours,
        cleared_on=cleared_on,
        **extra,
    )
