"""Reads from the database: the DataFrames of the transfer contract (ENDPOINTS.md section 5), the
records of the sponsor API and the exports a user may see.

The computations of analysis/ take what this returns and never touch the ORM.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from django.db.models import Exists, F, OuterRef, Prefetch, Subquery

from analysis.access import can_see_arms, can_use_sponsor_api
from analysis.inputs import DIARY_COLUMNS, PARTICIPANT_COLUMNS, VISIT_COLUMNS, Inputs
from analysis.models import Export
from diaries.models import DiaryRecord, Participant, Randomization, Study, TreatmentEvent, Visit
from diaries.protocol.windows import day1 as windows_day1


def transfer_inputs(study: Study, *, unblinded: bool) -> Inputs:
    """participants, diary (current records, one row per item answer) and visits of a study.

    Arms and strata are read only for unblinded exports; otherwise ARM and STRATUM stay
    empty and every output is blinded.
    """
    frame = _participants_frame(study, unblinded=unblinded)
    records = (
        DiaryRecord.objects.current()
        .filter(participant__study=study)
        .values_list("participant__usubjid", "instrument", "timepoint", "diary_date", "answers", "submitted_at")
    )
    diary = pd.DataFrame(
        [
            (usubjid, instrument, timepoint, diary_date, answer["item"], answer["score"], submitted_at)
            for usubjid, instrument, timepoint, diary_date, answers, submitted_at in records.iterator(chunk_size=5000)
            for answer in answers
        ],
        columns=list(DIARY_COLUMNS),
    )
    diary["DIARY_DATE"] = pd.to_datetime(diary["DIARY_DATE"])
    diary["ITEM"] = diary["ITEM"].astype("int64")
    diary["SCORE"] = diary["SCORE"].astype("int64")
    diary["SUBMITTED_AT"] = pd.to_datetime(diary["SUBMITTED_AT"], utc=True).dt.floor("s")

    visits = pd.DataFrame(
        list(Visit.objects.filter(participant__study=study).values_list("participant__usubjid", "week", "visit_date")),
        columns=list(VISIT_COLUMNS),
    )
    visits["WEEK"] = visits["WEEK"].astype("int64")
    visits["VISIT_DATE"] = pd.to_datetime(visits["VISIT_DATE"])
    return Inputs(participants=frame, diary=diary, visits=visits)


def transfer_participants(study: Study, *, unblinded: bool) -> Inputs:
    """Only the participants of transfer_inputs (empty diary and visits): for checks before an export."""
    return Inputs(participants=_participants_frame(study, unblinded=unblinded),
                  diary=pd.DataFrame(columns=list(DIARY_COLUMNS)), visits=pd.DataFrame(columns=list(VISIT_COLUMNS)))


def _participants_frame(study: Study, *, unblinded: bool) -> pd.DataFrame:
    participants = list(
        Participant.objects.filter(study=study)
        .select_related("site")
        .prefetch_related(Prefetch("randomization", queryset=Randomization.objects.all()))
        .order_by("usubjid")
    )
    rows = []
    for p in participants:
        rand = getattr(p, "randomization", None) if unblinded else None
        rows.append({
            "USUBJID": p.usubjid,
            "SITEID": p.site.number,
            "TZ": p.zone,
            "FIRST_APPLICATION": p.first_application_at,
            "ARM": rand.arm if rand else "",
            "STRATUM": rand.stratum if rand else "",
            "DISCONTINUED_ON": p.discontinued_on,
        })
    frame = pd.DataFrame(rows, columns=list(PARTICIPANT_COLUMNS))
    frame["FIRST_APPLICATION"] = pd.to_datetime(frame["FIRST_APPLICATION"], utc=True).dt.floor("s")
    frame["DISCONTINUED_ON"] = pd.to_datetime(frame["DISCONTINUED_ON"])
    return frame


def qs_records(study: Study):
    """Current diary records with what SDTM QS needs beyond the input files, as tuples:
    USUBJID, zone, first application, instrument, timepoint, diary date, answers, submitted at."""
    return (
        DiaryRecord.objects.current()
        .filter(participant__study=study)
        .order_by("participant__usubjid", "submitted_at", "instrument")
        .values_list("participant__usubjid", "participant__zone", "participant__first_application_at", "instrument",
                     "timepoint", "diary_date", "answers", "submitted_at")
    )


def fhir_records(study: Study):
    """Every diary record of a study, superseded ones too, each with the id of its successor (None if current)."""
    successor = DiaryRecord.objects.filter(supersedes=OuterRef("pk")).values("id")[:1]
    return (
        DiaryRecord.objects.filter(participant__study=study)
        .annotate(successor_id=Subquery(successor), usubjid=F("participant__usubjid"))
        .order_by("participant__usubjid", "diary_date", "instrument", "timepoint", "submitted_at", "id")
        .values("id", "usubjid", "instrument", "timepoint", "diary_date", "answers", "submitted_at", "supersedes_id",
                "successor_id")
    )


def exports_for(user):
    """The exports a user may see: blinded users never see an unblinded export."""
    if not can_use_sponsor_api(user):
        return Export.objects.none()
    exports = Export.objects.select_related("study", "requested_by")
    return exports if can_see_arms(user) else exports.filter(unblinded=False)


def api_diary_records(*, include_superseded: bool = False, site: str | None = None, usubjid: str | None = None,
                      date_from=None, date_to=None):
    """Diary records for the sponsor API, in a stable order; current ones only unless asked."""
    records = DiaryRecord.objects.annotate(
        is_current=~Exists(DiaryRecord.objects.filter(supersedes=OuterRef("pk")))
    ).select_related("participant__site", "participant__study")
    if not include_superseded:
        records = records.filter(is_current=True)
    if site:
        records = records.filter(participant__site__number=site)
    if usubjid:
        records = records.filter(participant__usubjid=usubjid)
    if date_from:
        records = records.filter(diary_date__gte=date_from)
    if date_to:
        records = records.filter(diary_date__lte=date_to)
    return records.order_by("participant__usubjid", "diary_date", "instrument", "timepoint", "submitted_at", "id")


def treatment_events(study: Study) -> pd.DataFrame:
    """Long-term phase events of a study as they stand: superseded reports left out.

    A spread answer supersedes its recurrence report with the same kind and date, so
    the chain head carries the event.
    """
    events = (
        TreatmentEvent.objects.filter(participant__study=study, superseded_by__isnull=True)
        .values_list("participant__usubjid", "kind", "event_date", "reported_at", "id")
        .order_by("participant__usubjid", "reported_at", "id")
    )
    frame = pd.DataFrame([(*row[:4], str(row[4])) for row in events],
                         columns=["USUBJID", "KIND", "EVENT_DATE", "REPORTED_AT", "EVENT_ID"])
    frame["EVENT_DATE"] = pd.to_datetime(frame["EVENT_DATE"])
    frame["REPORTED_AT"] = pd.to_datetime(frame["REPORTED_AT"], utc=True)
    return frame


def longterm_starts(study: Study) -> pd.DataFrame:
    """Per participant with a Day 1: the local dates the long-term phase starts and ends.

    Start: the visit of the last vehicle-controlled week (Week 8) when recorded, else its
    nominal day (Day 57). End: the visit of the long-term end week (Week 52), else Day 365.
    """
    rules = study.rules
    start_week, end_week = rules.vehicle_controlled_weeks, rules.long_term_end_week
    visits = {(u, w): d for u, w, d in Visit.objects.filter(participant__study=study, week__in=[start_week, end_week])
              .values_list("participant__usubjid", "week", "visit_date")}
    rows = []
    for usubjid, first_application_at, zone, discontinued_on in (
        Participant.objects.filter(study=study, first_application_at__isnull=False)
        .values_list("usubjid", "first_application_at", "zone", "discontinued_on").order_by("usubjid")
    ):
        day1 = windows_day1(first_application_at, zone)
        rows.append((usubjid,
                     visits.get((usubjid, start_week)) or day1 + timedelta(days=7 * start_week),
                     visits.get((usubjid, end_week)) or day1 + timedelta(days=7 * end_week),
                     discontinued_on))
    frame = pd.DataFrame(rows, columns=["USUBJID", "LT_START", "LT_END", "DISCONTINUED_ON"])
    for column in ("LT_START", "LT_END", "DISCONTINUED_ON"):
        frame[column] = pd.to_datetime(frame[column])
    return frame
