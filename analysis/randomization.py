"""Import of the randomization (USUBJID, ARM, STRATUM): unblinded users only, all rows or none."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.db import transaction
from django.utils import timezone

from diaries import audit
from diaries.models import Participant, Randomization, Study

PERMISSION = "diaries.import_randomization"


class RandomizationRefused(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@transaction.atomic
def import_randomization(*, study: Study, text: str, user: Any) -> int:
    """Record each participant's arm and stratum; a recorded arm never changes. Returns rows imported."""
    if not (user and user.is_active and user.has_perm(PERMISSION)):
        raise PermissionError("only unblinded users (permission import_randomization) may import the randomization")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in ("USUBJID", "ARM") if c not in (reader.fieldnames or [])]
    if missing:
        raise RandomizationRefused([f"line 1: missing column(s) {', '.join(missing)}"])
    arms = set(study.rules.arms)
    participants = {p.usubjid: p for p in Participant.objects.filter(study=study)}
    existing = {r.participant_id: r for r in Randomization.objects.filter(participant__study=study)}
    problems, rows, seen = [], [], {}
    for line, row in enumerate(reader, start=2):
        usubjid, arm = (row.get("USUBJID") or "").strip(), (row.get("ARM") or "").strip()
        stratum = (row.get("STRATUM") or "").strip()
        p = participants.get(usubjid)
        if p is None:
            problems.append(f"line {line}: unknown subject {usubjid!r}")
        elif usubjid in seen:
            problems.append(f"line {line}: duplicate subject {usubjid} (also on line {seen[usubjid]})")
        if arm not in arms:
            problems.append(f"line {line}: unknown arm {arm!r} (known: {', '.join(sorted(arms))})")
        if p is not None and p.pk in existing and (existing[p.pk].arm, existing[p.pk].stratum) != (arm, stratum):
            problems.append(f"line {line}: {usubjid} is already randomized to another arm or stratum")
        seen.setdefault(usubjid, line)
        if p is not None and p.pk not in existing:
            rows.append((p, arm, stratum))
    if problems:
        raise RandomizationRefused(problems)
    now = timezone.now()
    for p, arm, stratum in rows:
        rand = Randomization.objects.create(participant=p, arm=arm, stratum=stratum, imported_at=now)
        # The arm itself stays out of the audit trail that blinded staff can read.
        audit.log(actor=user, action="randomization.import", obj=rand, after={"usubjid": p.usubjid})
    return len(rows)
