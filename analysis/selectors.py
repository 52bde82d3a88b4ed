"""Reads from the database into the DataFrames of the transfer contract (ENDPOINTS.md section 5).

The only place in analysis/ that touches the ORM: the computations take what this returns.
"""

from __future__ import annotations

import pandas as pd
from django.db.models import Prefetch

from analysis.inputs import DIARY_COLUMNS, PARTICIPANT_COLUMNS, VISIT_COLUMNS, Inputs
from diaries.models import DiaryRecord, Participant, Randomization, Study, Visit


def transfer_inputs(study: Study, *, unblinded: bool) -> Inputs:
    """participants, diary (current records, one row per item answer) and visits of a study.

    Arms and strata are read only for unblinded exports; otherwise ARM and STRATUM stay
    empty and every output is blinded.
    """
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


def qs_records(study: Study):
    """Current diary records with what SDTM QS needs beyond the input files."""
    return (
        DiaryRecord.objects.current()
        .filter(participant__study=study)
        .select_related("participant")
        .order_by("participant__usubjid", "submitted_at", "instrument")
    )
