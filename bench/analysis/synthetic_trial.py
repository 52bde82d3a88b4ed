"""A synthetic TRuE-AD-shaped trial written as the input files of ENDPOINTS.md section 5.

N participants randomised 2:2:1 (RUX15, RUX075, VEHICLE) within strata, a run-in
from Day -7 and daily itch NRS and PROMIS SD 8b answers through Day 56, the
12-hour itch record, Week 2/4/8 visits a few days off nominal, and realistic gaps:
screen failures without Day 1, participants who diary less reliably than others,
partial PROMIS records, and early discontinuations.

    python bench/analysis/synthetic_trial.py --participants 1249 --output /tmp/trial
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ARMS = np.array(["RUX15", "RUX15", "RUX075", "RUX075", "VEHICLE"])  # 2:2:1
# Mean itch reduction by Week 8 per arm, roughly as published (vehicle about 1.5 points).
ITCH_EFFECT = {"RUX15": 3.8, "RUX075": 3.3, "VEHICLE": 1.5}
STRATA = np.array(["IGA2-NA", "IGA2-EU", "IGA3-NA", "IGA3-EU"])
ZONES = {
    "NA": ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Toronto"],
    "EU": ["Europe/Warsaw", "Europe/Berlin", "Europe/Paris", "Europe/London", "Europe/Madrid"],
}
RUNIN_DAYS, LAST_DAY = 7, 56
PROMIS_ITEMS = 8


def generate_trial(participants: int, seed: int = 20260308) -> dict[str, pd.DataFrame]:
    """participants, diary and visits tables of a synthetic trial, as strings ready for CSV."""
    rng = np.random.default_rng(seed)
    n = participants
    usubjid = np.array([f"TRUE-AD-{i:06d}" for i in range(1, n + 1)])
    stratum = STRATA[rng.integers(0, len(STRATA), n)]
    region = np.where(np.char.endswith(stratum.astype(str), "NA"), "NA", "EU")
    zone = np.array([ZONES[r][k] for r, k in zip(region, rng.integers(0, 5, n), strict=True)])
    site = np.array([f"{1 if r == 'NA' else 5}{k:02d}" for r, k in zip(region, rng.integers(1, 70, n), strict=True)])
    arm = ARMS[rng.integers(0, len(ARMS), n)]

    # Day 1 spread over two years; first application at the clinic between 09:00 and 16:00 local.
    day1 = np.datetime64("2025-01-06") + rng.integers(0, 700, n).astype("timedelta64[D]")
    first_local = day1.astype("datetime64[s]") + rng.integers(9 * 3600, 16 * 3600, n).astype("timedelta64[s]")
    first_utc = _to_utc(first_local, zone)
    screen_failure = rng.random(n) < 0.02

    # About 6% stop early, somewhere in the VC period.
    stops = rng.random(n) < 0.06
    stop_day = rng.integers(3, LAST_DAY, n)
    discontinued = np.where(stops, (day1 + (stop_day - 1).astype("timedelta64[D]")).astype(str), "")

    participants_table = pd.DataFrame(
        {
            "USUBJID": usubjid,
            "SITEID": site,
            "TZ": zone,
            "FIRST_APPLICATION": np.where(screen_failure, "", _iso_utc(first_utc)),
            "ARM": arm,
            "STRATUM": stratum,
            "DISCONTINUED_ON": np.where(screen_failure, "", discontinued),
        }
    )

    # Daily diary: Days -7..-1 and 1..56 (no Day 0), fewer answers from some people.
    study_days = np.concatenate([np.arange(-RUNIN_DAYS, 0), np.arange(1, LAST_DAY + 1)])
    diligence = rng.beta(8, 1.6, n)
    subj = np.repeat(np.arange(n), len(study_days))
    days = np.tile(study_days, n)
    answered = rng.random(len(subj)) < diligence[subj]
    answered &= ~screen_failure[subj]
    answered &= ~stops[subj] | (days <= stop_day[subj])
    subj, days = subj[answered], days[answered]
    offset = np.where(days > 0, days - 1, days)
    diary_date = day1[subj] + offset.astype("timedelta64[D]")

    baseline_itch = rng.uniform(3, 9, n)
    progress = np.clip(days / LAST_DAY, 0, 1)
    effect = np.array([ITCH_EFFECT[a] for a in arm])
    itch_mean = baseline_itch[subj] - effect[subj] * np.sqrt(progress)
    itch = np.clip(np.rint(itch_mean + rng.normal(0, 1.2, len(subj))), 0, 10).astype(int)

    # Evening diary between 19:00 and 23:59 local.
    submitted_local = diary_date.astype("datetime64[s]") + rng.integers(19 * 3600, 24 * 3600, len(subj)).astype(
        "timedelta64[s]"
    )
    submitted = _iso_utc(_to_utc(submitted_local, zone[subj]))
    itch_rows = pd.DataFrame(
        {"USUBJID": usubjid[subj], "INSTRUMENT": "ITCH_NRS", "TIMEPOINT": "DAILY", "DIARY_DATE": diary_date.astype(str),
         "ITEM": 1, "SCORE": itch, "SUBMITTED_AT": submitted}
    )  # fmt: skip

    # PROMIS follows the itch item on most evenings; some records stop part-way.
    promis = rng.random(len(subj)) < 0.93
    items_answered = np.where(rng.random(len(subj)) < 0.9, PROMIS_ITEMS, rng.integers(2, PROMIS_ITEMS, len(subj)))
    p_subj = np.repeat(np.arange(len(subj))[promis], PROMIS_ITEMS)
    item = np.tile(np.arange(1, PROMIS_ITEMS + 1), promis.sum())
    keep = item <= items_answered[p_subj]
    p_subj, item = p_subj[keep], item[keep]
    sleep_level = 1.2 + 0.35 * itch[p_subj]  # worse itch, worse sleep
    score = np.clip(np.rint(sleep_level + rng.normal(0, 0.8, len(p_subj))), 1, 5).astype(int)
    promis_rows = pd.DataFrame(
        {"USUBJID": usubjid[subj][p_subj], "INSTRUMENT": "PROMIS_SD8B", "TIMEPOINT": "DAILY",
         "DIARY_DATE": diary_date.astype(str)[p_subj], "ITEM": item, "SCORE": score, "SUBMITTED_AT": submitted[p_subj]}
    )  # fmt: skip

    # The 12-hour itch record, answered 10..14 hours after first application by most.
    h12 = ~screen_failure & (rng.random(n) < 0.85)
    h12_at = first_utc[h12] + rng.integers(10 * 3600, 14 * 3600, h12.sum()).astype("timedelta64[s]")
    h12_rows = pd.DataFrame(
        {"USUBJID": usubjid[h12], "INSTRUMENT": "ITCH_NRS", "TIMEPOINT": "H12", "DIARY_DATE": day1[h12].astype(str),
         "ITEM": 1, "SCORE": np.clip(np.rint(baseline_itch[h12] - rng.normal(0.3, 1, h12.sum())), 0, 10).astype(int),
         "SUBMITTED_AT": _iso_utc(h12_at)}
    )  # fmt: skip

    # Week 2, 4 and 8 visits, most a day or two off the nominal day.
    v_subj = np.repeat(np.flatnonzero(~screen_failure), 3)
    week = np.tile([2, 4, 8], (~screen_failure).sum())
    attended = rng.random(len(v_subj)) < 0.9
    v_subj, week = v_subj[attended], week[attended]
    visit_day = 7 * week + 1 + rng.integers(-2, 3, len(v_subj))
    visits_table = pd.DataFrame(
        {"USUBJID": usubjid[v_subj], "WEEK": week,
         "VISIT_DATE": (day1[v_subj] + (visit_day - 1).astype("timedelta64[D]")).astype(str)}
    )  # fmt: skip

    diary_table = pd.concat([itch_rows, promis_rows, h12_rows], ignore_index=True)
    return {"participants": participants_table, "diary": diary_table, "visits": visits_table}


def _to_utc(local: np.ndarray, zones: np.ndarray) -> np.ndarray:
    """UTC instants (datetime64[s]) of local wall-clock times, one conversion per zone."""
    out = np.empty(len(local), dtype="datetime64[s]")
    for zone in np.unique(zones):
        mask = zones == zone
        # Generated wall times (09-16 h, 19-24 h) never fall in a DST gap or overlap.
        stamps = pd.DatetimeIndex(local[mask]).tz_localize(zone)
        out[mask] = stamps.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[s]")
    return out


def _iso_utc(instants: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(instants, unit="s"), "+00:00")


def write_trial(directory, participants: int, seed: int = 20260308) -> Path:
    """Write participants.csv, diary.csv and visits.csv of a synthetic trial into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, table in generate_trial(participants, seed).items():
        table.to_csv(directory / f"{name}.csv", index=False, lineterminator="\n")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1249)
    parser.add_argument("--seed", type=int, default=20260308)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    write_trial(args.output, args.participants, args.seed)


if __name__ == "__main__":
    main()
