"""What is open now: the day's and the 12-hour diary's state, the open questionnaires with their
items and any answers already recorded (by any channel), what still waits, the skin reports on offer.
"""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response

from diaries import treatment
from diaries.diary import current_record, next_opening
from diaries.models import Participant, Phase, Timepoint
from diaries.patient.app.base import LANG_PARAM, TAG, PatientAPIView, _day, _iso, _localized
from diaries.patient.app.errors import _common
from diaries.patient.app.serializers import PatientToday
from diaries.patient.texts import t
from diaries.protocol import windows
from diaries.today import FLOWS, daily_status, h12_status


def _answer_set(p: Participant, code: str, timepoint: str, diary_date: date, closes_at, lang: str) -> dict:
    inst = p.study.rules.instrument(code)
    current = current_record(p, code, timepoint, diary_date)
    items = []
    for item in inst.items:
        options = ([{"number": k, "label": str(k)} for k in item.choices] if item.kind == "nrs" else
                   [{"number": o.number, "label": _localized(o.labels, lang)} for o in item.options])
        items.append({
            "number": item.number, "id": item.id, "kind": item.kind, "text": item.question(lang, timepoint),
            "min": item.choices.start, "max": item.choices.stop - 1,
            "anchor_low": _localized(item.anchor_low, lang), "anchor_high": _localized(item.anchor_high, lang),
            "options": options,
        })
    return {
        "instrument": code, "name": inst.name, "timepoint": timepoint, "diary_date": diary_date.isoformat(),
        "study_day": windows.study_day(diary_date, p.day1) if p.day1 else None, "closes_at": _iso(closes_at, p.zone),
        "language_validated": lang not in inst.not_validated, "items": items,
        "current": None if current is None else {
            "record_id": str(current.pk), "submitted_at": _iso(current.submitted_at, p.zone),
            "channel": current.channel, "answers": {str(a["item"]): a["option"] for a in current.answers},
        },
    }


def _reports_state(p: Participant, lang: str) -> dict | None:
    if p.phase != Phase.LONG_TERM:
        return None
    questions = [{"field": "new_areas", "text": t(lang, "q_new_areas")},
                 {"field": "extensive", "text": t(lang, "q_extensive")}]
    return {
        "kinds": [{"kind": "cleared", "label": t(lang, "skin_clear"), "questions": []},
                  {"kind": "recurred", "label": t(lang, "skin_back"), "questions": questions},
                  {"kind": "spread", "label": t(lang, "skin_back"), "questions": questions}],
        "spread_answer_pending": treatment.spread_answer_pending(p),
    }


def today_for(p: Participant, now: datetime, lang: str) -> dict:
    """What is open now, by the rules the web diary shows and `submit_diary` enforces."""
    daily = daily_status(p, now)
    h12 = h12_status(p, now)
    open_sets = []
    if daily.state in ("open", "done"):
        open_sets += [_answer_set(p, code, Timepoint.DAILY, daily.diary_date, daily.closes_at, lang)
                      for code in FLOWS["today"].instruments]
    if h12 is not None and h12.state in ("open", "done"):
        open_sets += [_answer_set(p, code, Timepoint.H12, p.day1, h12.closes_at, lang)
                      for code in FLOWS["12h"].instruments]
    return {
        "server_time": _iso(now, p.zone), "language": lang, "zone": p.zone,
        "daily": {"state": daily.state,
                  "diary_date": _day(daily.diary_date) if daily.state in ("open", "done") else None,
                  "closes_at": _iso(daily.closes_at, p.zone)},
        "h12": None if h12 is None else {"state": h12.state, "opens_at": _iso(h12.opens_at, p.zone),
                                         "closes_at": _iso(h12.closes_at, p.zone)},
        "open": open_sets,
        "next_window_opens": _iso(next_opening(p, Timepoint.DAILY, now), p.zone),
        "pending": _pending(p, daily, h12),
        "reports": _reports_state(p, lang),
    }


def _pending(p: Participant, daily, h12) -> list[dict]:
    """What still waits for an answer now, and until when (what a push reminds of)."""
    pending = []
    if daily.state == "open":
        pending.append({"kind": "diary", "timepoint": Timepoint.DAILY, "diary_date": _day(daily.diary_date),
                        "until": _iso(daily.closes_at, p.zone)})
    if h12 is not None and h12.state == "open":
        pending.append({"kind": "h12", "timepoint": Timepoint.H12, "diary_date": _day(p.day1),
                        "until": _iso(h12.closes_at, p.zone)})
    return pending


class TodayView(PatientAPIView):
    query_parameters = {"GET": {"lang"}}

    @extend_schema(
        tags=[TAG], operation_id="patient_today", parameters=[LANG_PARAM], responses=_common({200: PatientToday}),
        summary="What is open now, with the questionnaires to show",
        description="Each open answer set comes with its items, texts, options (the numbers to send back) and "
                    "anchors in the chosen language, straight from the study configuration, and with the answers "
                    "already recorded for this diary date by any channel. Times carry the participant's offset.",
        examples=[OpenApiExample("Evening, diary open", value={
            "server_time": "2026-03-09T19:02:00-05:00", "language": "en", "zone": "America/Chicago",
            "daily": {"state": "open", "diary_date": "2026-03-09", "closes_at": "2026-03-10T03:00:00-05:00"},
            "h12": None,
            "open": [{"instrument": "ITCH_NRS", "name": "Worst itch NRS", "timepoint": "DAILY",
                      "diary_date": "2026-03-09", "study_day": 2, "closes_at": "2026-03-10T03:00:00-05:00",
                      "language_validated": True,
                      "items": [{"number": 1, "id": "ITCH01", "kind": "nrs", "min": 0, "max": 10,
                                 "text": "On a scale of 0 to 10, how bad was your itch at its worst in the past "
                                         "24 hours? 0 = no itch, 10 = worst itch imaginable.",
                                 "anchor_low": "No itch", "anchor_high": "Worst itch imaginable",
                                 "options": [{"number": 0, "label": "0"}, {"number": 10, "label": "10"}]}],
                      "current": None}],
            "next_window_opens": "2026-03-10T17:00:00-05:00",
            "pending": [{"kind": "diary", "timepoint": "DAILY", "diary_date": "2026-03-09",
                         "until": "2026-03-10T03:00:00-05:00"}],
            "reports": None})],
    )
    def get(self, request):
        return Response(today_for(self.participant, timezone.now(), self.lang))
