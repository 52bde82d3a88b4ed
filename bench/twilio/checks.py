"""What the evening peak wrote, checked against what the patients sent (PostgreSQL, after the run)."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import timedelta
from email.utils import parsedate_to_datetime

from diaries.models import AuditEvent, DiaryRecord
from notifications.models import InboundMessage, OutboundMessage, PromptKind, ReconciledText, ScheduledPrompt


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def p50_p99(values: list[float]) -> str:
    if not values:
        return "none"
    return f"p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 99):.1f} ms (n={len(values)})"


def texts_in(texts: list[dict], since) -> dict:
    """Texts in = records written + refusals, nothing lost, nothing twice; the SIDs the patients sent."""
    sent = {t["sid"] for t in texts}
    rows = InboundMessage.objects.filter(received_at__gte=since).exclude(outcome="floor")
    got = list(rows.values_list("message_sid", flat=True))
    outcomes = Counter(rows.values_list("outcome", flat=True))
    records = DiaryRecord.objects.filter(channel="sms", submitted_at__gte=since).count()
    refusals = AuditEvent.objects.filter(action="diary.refused", at__gte=since).count()
    return {
        "sent": len(texts), "rows": len(got), "distinct": len(set(got)),
        "lost": len(sent - set(got)), "unknown": len(set(got) - sent), "outcomes": dict(outcomes),
        "records": records, "refusals": refusals,
    }


def reconciled(outage_sids: set[str]) -> dict:
    """Every text of the outage recorded once, in the diary day of its DateSent (tonight's prompt's date)."""
    found = list(ReconciledText.objects.filter(inbound__message_sid__in=outage_sids)
                 .values_list("inbound__message_sid", "inbound__participant_id", "inbound__received_at"))
    tonight = dict(ScheduledPrompt.objects.filter(participant_id__in={p for _, p, _ in found}, kind=PromptKind.DIARY,
                                                  status="sent").values_list("participant_id", "diary_date"))
    right_day = wrong_day = refused = neither = 0
    for _sid, participant, at in found:
        dates = list(DiaryRecord.objects.filter(participant_id=participant, submitted_at=at)
                     .values_list("diary_date", flat=True))
        if dates:
            right_day += all(d == tonight.get(participant) for d in dates)
            wrong_day += any(d != tonight.get(participant) for d in dates)
        elif AuditEvent.objects.filter(action="diary.refused", object_id=str(participant), at=at).exists():
            refused += 1
        else:
            neither += 1
    return {"outage_texts": len(outage_sids), "reconciled": len(found), "distinct": len({s for s, _, _ in found}),
            "records_right_day": right_day, "records_wrong_day": wrong_day, "refusals": refused, "neither": neither,
            "reconciled_in_all": ReconciledText.objects.count()}


def late_validity(messages: list[dict]) -> tuple[int, int]:
    """(messages, of them with a ValidityPeriod reaching past their window's close)."""
    expires = dict(OutboundMessage.objects.filter(provider_sid__in=[m["sid"] for m in messages])
                   .values_list("provider_sid", "expires_at"))
    late = 0
    for m in messages:
        handed = parsedate_to_datetime(m["date_created"])
        deadline = expires.get(m["sid"])
        if deadline is not None and handed + timedelta(seconds=int(m["validity_period"] or 36_000)) > (
                deadline + timedelta(seconds=1)):
            late += 1  # Twilio could still deliver it after the window closed
    return len(messages), late
