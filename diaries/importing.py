"""Enrollment from a CSV file (EDC or IRT exports): all rows or none.

Header: USUBJID,SITE,PHONE,TZ,LANGUAGE,RUNIN_START with optional FIRST_APPLICATION
(ISO 8601 with offset) and PHASE. Every bad row is reported with its line number
(line 1 is the header) before anything is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction

from . import participants, phones
from .models import Participant, Phase, Site, Study

REQUIRED = ["USUBJID", "SITE", "PHONE", "TZ", "LANGUAGE", "RUNIN_START"]


class ImportRefused(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class EnrollmentRow:
    line: int
    usubjid: str
    site: str
    phone: str
    zone: str
    language: str
    runin_start: date
    first_application_at: datetime | None
    phase: str | None


def parse_participants(text: str, study: Study) -> list[EnrollmentRow]:
    """Validate every row against the study and the existing participants; ImportRefused lists all problems."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportRefused([f"line 1: missing column(s) {', '.join(missing)}"])
    rules = study.rules
    sites = set(Site.objects.filter(study=study).values_list("number", flat=True))
    known_subjects = set(Participant.objects.filter(study=study).values_list("usubjid", flat=True))
    known_phones = set(Participant.objects.values_list("phone_hash", flat=True))
    zones = participants.known_zones()
    problems: list[str] = []
    rows: list[EnrollmentRow] = []
    seen_subjects: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        row = {k: (v or "").strip() for k, v in raw.items() if k}

        def bad(reason: str, line=line):
            problems.append(f"line {line}: {reason}")

        usubjid = row["USUBJID"]
        if not usubjid:
            bad("USUBJID is empty")
        elif problem := participants.usubjid_problem(usubjid):
            bad(problem)
        elif usubjid in known_subjects:
            bad(f"subject {usubjid} is already enrolled")
        elif usubjid in seen_subjects:
            bad(f"duplicate subject {usubjid} (also on line {seen_subjects[usubjid]})")
        seen_subjects.setdefault(usubjid, line)
        if row["SITE"] not in sites:
            bad(f"unknown site {row['SITE']!r}")
        e164 = ""
        try:
            e164 = phones.normalize(row["PHONE"])
        except phones.InvalidPhone as exc:
            bad(f"PHONE: {exc}")
        if e164:
            h = phones.lookup_hash(e164)
            if h in known_phones:
                bad(f"PHONE: {participants.PHONE_UNUSABLE}")
            elif h in seen_phones:
                bad(f"duplicate PHONE (also on line {seen_phones[h]})")
            seen_phones.setdefault(h, line)
        if row["TZ"] not in zones:
            bad(f"unknown time zone {row['TZ']!r}")
        if row["LANGUAGE"] not in rules.languages:
            bad(f"LANGUAGE {row['LANGUAGE']!r} is not one of {', '.join(rules.languages)}")
        runin = _date(row["RUNIN_START"], "RUNIN_START", bad)
        first = None
        if row.get("FIRST_APPLICATION"):
            try:
                first = datetime.fromisoformat(row["FIRST_APPLICATION"])
                if first.tzinfo is None:
                    bad("FIRST_APPLICATION needs a UTC offset (e.g. 2026-03-02T09:30:00-06:00)")
                    first = None
            except ValueError:
                bad(f"FIRST_APPLICATION is not an ISO 8601 timestamp: {row['FIRST_APPLICATION']!r}")
        phase = row.get("PHASE") or None
        if phase is not None and phase not in Phase.values:
            bad(f"unknown PHASE {phase!r} (known: {', '.join(Phase.values)})")
        if not problems or problems[-1].split(":")[0] != f"line {line}":
            rows.append(EnrollmentRow(line, usubjid, row["SITE"], e164, row["TZ"], row["LANGUAGE"], runin,
                                      first, phase))
    if problems:
        raise ImportRefused(problems)
    if not rows:
        raise ImportRefused(["the file has no participant rows"])
    return rows


def _date(value: str, column: str, bad) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        bad(f"{column} is not a date YYYY-MM-DD: {value!r}")
        return None


@transaction.atomic
def import_participants(*, text: str, study: Study, actor: Any) -> list[Participant]:
    """Enroll every row of the file in one transaction, or none."""
    rows = parse_participants(text, study)
    return [
        participants.enroll_participant(
            study=study, site_number=r.site, usubjid=r.usubjid, phone=r.phone, zone=r.zone,
            language=r.language, runin_start=r.runin_start, first_application_at=r.first_application_at,
            phase=r.phase, actor=actor,
        )
        for r in rows
    ]
