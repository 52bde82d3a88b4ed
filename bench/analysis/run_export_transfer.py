"""Wall time and peak memory of `manage.py export_transfer` with every format on a seed-size trial.

A fresh SQLite database in --var (default /tmp/eprp-bench-export) is loaded once with the
synthetic trial of bench/analysis/synthetic_trial.py (1,249 participants: enrolled with
import_participants, their Day 1, randomization and visits; one diary record per
submission, bulk-inserted, since the patient paths are not what is measured here). Then
each run is a fresh process, measured with os.wait4 as run_compute_endpoints.py does, with
the floor (`manage.py check`) in the same run.

    .venv/bin/python bench/analysis/run_export_transfer.py --repeat 3
"""

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_compute_endpoints import ROOT, TRIAL_SIZE, measure  # noqa: E402

FORMATS = "csv,datasetjson,fhir,parquet,xlsx,xpt"

LOAD = r'''
import sys
from datetime import date, timedelta
import django
django.setup()
import pandas as pd
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from analysis.randomization import import_randomization
from diaries import roles, studies
from diaries.demo import STUDY_FILE
from diaries.importing import import_participants
from diaries.models import DiaryRecord, Participant, Visit

sys.path.insert(0, "bench/analysis")
from synthetic_trial import generate_trial

tables = generate_trial(int(sys.argv[1]))
people, diary, visits = tables["participants"], tables["diary"], tables["visits"]
study, _ = studies.load_study(text=STUDY_FILE.read_text(encoding="utf-8"), actor="system:bench")
sites = [s.number for s in study.sites.order_by("number")]
rows = ["USUBJID,SITE,PHONE,TZ,LANGUAGE,RUNIN_START,FIRST_APPLICATION"]
for i, p in enumerate(people.to_dict("records")):
    first = p["FIRST_APPLICATION"] or "2025-01-06T12:00:00+00:00"
    runin = (date.fromisoformat(first[:10]) - timedelta(days=8)).isoformat()
    rows.append(f"{p['USUBJID']},{sites[i % len(sites)]},+1312555{i:04d},{p['TZ']},en,{runin},{p['FIRST_APPLICATION']}")
import_participants(text="\n".join(rows) + "\n", study=study, actor="system:bench")
roles.setup_roles()
stat = get_user_model().objects.create_user("bench-stat")
stat.groups.add(Group.objects.get(name=roles.STATISTICIAN))
stat = get_user_model().objects.get(pk=stat.pk)
randomized = people[people["FIRST_APPLICATION"] != ""]
import_randomization(study=study, text="USUBJID,ARM,STRATUM\n" + "".join(
    f"{u},{a},{s}\n" for u, a, s in zip(randomized.USUBJID, randomized.ARM, randomized.STRATUM)), user=stat)
ids = dict(Participant.objects.filter(study=study).values_list("usubjid", "id"))
REVERSED = {2, 3, 7, 8}
records = []
diary["ITEM"] = diary["ITEM"].astype(int)
diary["SCORE"] = diary["SCORE"].astype(int)
for (usubjid, instrument, timepoint, day, at), group in diary.groupby(
        ["USUBJID", "INSTRUMENT", "TIMEPOINT", "DIARY_DATE", "SUBMITTED_AT"], sort=False):
    answers = [{"item": i, "option": 6 - s if instrument == "PROMIS_SD8B" and i in REVERSED else s, "score": s}
               for i, s in zip(group["ITEM"], group["SCORE"])]
    records.append(DiaryRecord(participant_id=ids[usubjid], instrument=instrument, timepoint=timepoint,
                               diary_date=date.fromisoformat(day), answers=answers, derived={}, channel="sms",
                               submitted_at=pd.Timestamp(at).to_pydatetime()))
with transaction.atomic():
    DiaryRecord.objects.bulk_create(records, batch_size=5000)
    Visit.objects.bulk_create([Visit(participant_id=ids[u], week=int(w), visit_date=date.fromisoformat(d))
                               for u, w, d in zip(visits.USUBJID, visits.WEEK, visits.VISIT_DATE)])
print(f"loaded {len(ids)} participants, {len(records)} diary records")
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--participants", type=int, default=TRIAL_SIZE)
    parser.add_argument("--var", default="/tmp/eprp-bench-export")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(EPRP_VAR_DIR=args.var, DJANGO_SETTINGS_MODULE="eprp.settings", LOG_LEVEL="WARNING")
    os.environ.clear()
    os.environ.update(env)
    python = sys.executable
    if not (Path(args.var) / "eprp.sqlite3").exists():
        subprocess.run([python, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
        subprocess.run([python, "-c", LOAD, str(args.participants)], cwd=ROOT, check=True)
    floor = [measure([python, "manage.py", "check"]) for _ in range(args.repeat)]
    print(f"floor (manage.py check): {statistics.median(w for w, _ in floor):.2f} s, "
          f"{statistics.median(m for _, m in floor):.0f} MiB")  # fmt: skip
    out = Path(args.var) / "transfer"
    runs = [measure([python, "manage.py", "export_transfer", "--output", str(out), "--format", FORMATS,
                     "--unblinded-as", "bench-stat"]) for _ in range(args.repeat)]  # fmt: skip
    sizes = sorted((p.stat().st_size, p.name) for p in out.iterdir())
    print(f"export_transfer --format {FORMATS}: {statistics.median(w for w, _ in runs):.1f} s, "
          f"{statistics.median(m for _, m in runs):,.0f} MiB (medians of {args.repeat})")
    print("largest files: " + ", ".join(f"{name} {size / 2**20:.0f} MiB" for size, name in sizes[::-1][:5]))


if __name__ == "__main__":
    main()
