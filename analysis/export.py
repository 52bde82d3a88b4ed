"""export_transfer: the whole data transfer of a study from the database (ENDPOINTS.md section 5).

The input files are written from the database, read back through the same validation
as compute_endpoints, and the outputs computed from what was read: so compute_endpoints
on the exported inputs reproduces the exported outputs byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from analysis import selectors
from analysis.inputs import read_inputs
from analysis.longterm import derive_cycles, summarize_cycles, write_cycles
from analysis.report import write_report
from analysis.scoring import promis_raw, promis_tscore
from analysis.transfer import compute_endpoints, format_numbers, render_csv, write_inputs, write_outputs
from diaries.models import Study
from diaries.protocol.windows import study_day

FORMATS = ("csv", "parquet", "xlsx", "xpt")
QS_COLUMNS = [
    "STUDYID", "DOMAIN", "USUBJID", "QSSEQ", "QSTESTCD", "QSTEST", "QSCAT", "QSORRES", "QSSTRESC", "QSSTRESN",
    "QSDRVFL", "QSEVLINT", "QSDTC", "QSDY", "QSTPT",
]
# SAS transport (v5) keeps names to 8 characters: only these tables go to XPT.
XPT_TABLES = ("adqs", "qs")
# Character variables that may look numeric ("7"): they stay text in every format.
TEXT_COLUMNS = {"QSORRES", "QSSTRESC", "STRATUM", "ARM"}
DERIVED_TESTS = {"PSDSB998": "PROMIS SD 8b raw score", "PSDSB999": "PROMIS SD 8b T-score"}


def export_transfer(
    *, study: Study, directory, unblinded: bool, formats=("csv",), as_of=None, now: datetime | None = None
) -> dict:
    """Write the transfer into `directory` (replacing it whole); returns the manifest."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(sorted(unknown))}; known: {', '.join(FORMATS)}")
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Staged beside the target, so the final rename is atomic and never crosses file systems.
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory.parent))
    try:
        write_inputs(selectors.transfer_inputs(study, unblinded=unblinded), staging)
        inputs = read_inputs(staging)
        outputs = compute_endpoints(inputs, as_of=as_of, reference_arm=study.rules.reference_arm,
                                    min_days=study.rules.min_days)
        write_outputs(outputs, staging)
        (staging / "qs.csv").write_bytes(render_csv(qs_table(study), QS_COLUMNS, ["USUBJID", "QSSEQ"]).encode())
        now = now or datetime.now(UTC)
        _write_longterm(study, staging, as_of or now.date())
        for fmt in formats:
            if fmt != "csv":
                _write_format(staging, fmt)
        write_report(outputs, staging)
        manifest = _manifest(study, staging, now)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def _write_longterm(study: Study, directory: Path, as_of) -> None:
    """cycles.csv and cycles_summary.csv: the long-term phase to `as_of` (default: the export's date)."""
    cycles = derive_cycles(selectors.treatment_events(study), selectors.longterm_starts(study),
                           stop_after_days=study.rules.stop_treatment_after_days, as_of=as_of)
    write_cycles(cycles, summarize_cycles(cycles), directory)


def qs_table(study: Study) -> pd.DataFrame:
    """SDTM QS-like rows: one per item answer, plus derived PROMIS raw and T-score rows."""
    rules = study.rules
    rows = []
    for record in selectors.qs_records(study):
        p = record.participant
        inst = rules.instrument(record.instrument)
        local = record.submitted_at.astimezone(ZoneInfo(p.zone))
        common = {
            "USUBJID": p.usubjid, "QSCAT": inst.category, "QSEVLINT": "-PT24H",
            "QSDTC": local.isoformat(timespec="seconds"), "_AT": record.submitted_at,
            "QSDY": study_day(record.diary_date, p.day1) if p.day1 else None,
            "QSTPT": "HOUR 12" if record.timepoint == "H12" else "EVENING",
        }
        for answer in record.answers:
            item = inst.item(answer["item"])
            rows.append(common | {
                "QSTESTCD": item.id.upper(), "QSTEST": _test_name(item.text["en"]),
                "QSORRES": item.label_of(answer["option"], "en"), "QSSTRESN": float(answer["score"]), "QSDRVFL": "",
            })
        if record.instrument == "PROMIS_SD8B":
            answered = len(record.answers)
            raw = promis_raw(np.array([sum(a["score"] for a in record.answers)]), np.array([answered]))[0]
            if not np.isnan(raw):
                for code, value in (("PSDSB998", raw), ("PSDSB999", promis_tscore(np.array([raw]))[0])):
                    text = format_numbers(np.array([value]))[0]
                    rows.append(common | {"QSTESTCD": code, "QSTEST": DERIVED_TESTS[code], "QSORRES": text,
                                          "QSSTRESN": float(value), "QSDRVFL": "Y"})
    frame = pd.DataFrame(rows, columns=[*QS_COLUMNS, "_AT"])
    if frame.empty:
        return frame.drop(columns="_AT")
    frame["STUDYID"], frame["DOMAIN"] = study.code, "QS"
    frame["QSSTRESC"] = format_numbers(frame["QSSTRESN"].to_numpy(dtype=float))
    frame["QSDY"] = frame["QSDY"].astype("Int64")
    # QSSEQ: 1.. per subject in order of submission time, then QSTESTCD (code point).
    frame = frame.sort_values(["USUBJID", "_AT", "QSTESTCD"], kind="stable")
    frame["QSSEQ"] = frame.groupby("USUBJID").cumcount().astype("int64") + 1
    return frame.drop(columns="_AT").reset_index(drop=True)


def _test_name(text: str) -> str:
    """The item stem without the recall period prefix (QSEVLINT carries it)."""
    for prefix in ("In the past 24 hours, ",):
        if text.startswith(prefix):
            text = text[len(prefix):]
            return text[0].upper() + text[1:]
    return text


def _write_format(directory: Path, fmt: str) -> None:
    for csv_path in sorted(directory.glob("*.csv")):
        name = csv_path.stem
        if fmt == "xpt" and name not in XPT_TABLES:
            continue
        frame = _typed(pd.read_csv(csv_path, dtype=str, keep_default_na=False))
        target = directory / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(target, index=False)
        elif fmt == "xlsx":
            frame.to_excel(target, index=False, sheet_name=name[:31])
        elif fmt == "xpt":
            import pyreadstat

            pyreadstat.write_xport(frame, str(target), table_name=name.upper()[:8], file_format_version=5)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as numbers (empty = missing), everything else as text."""
    for column in frame.columns:
        values = frame[column]
        present = values[values != ""]
        numbers = pd.to_numeric(present, errors="coerce")
        text = column in TEXT_COLUMNS or column.endswith(("ID", "CD"))
        if len(present) and not numbers.isna().any() and not text:
            frame[column] = pd.to_numeric(values.replace("", np.nan))
    return frame


def _manifest(study: Study, directory: Path, now: datetime) -> dict:
    files = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name == "manifest.json" or path.name.startswith("."):
            continue
        data = path.read_bytes()
        files.append({"name": path.name, "rows": _rows(path, data), "sha256": hashlib.sha256(data).hexdigest()})
    return {"study": study.code, "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"), "files": files}


def _rows(path: Path, data: bytes) -> int | None:
    if path.suffix == ".csv":
        return max(data.count(b"\n") - 1, 0)
    csv_twin = path.with_suffix(".csv")
    if csv_twin.exists():
        return max(csv_twin.read_bytes().count(b"\n") - 1, 0)
    return None
