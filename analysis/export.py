"""export_transfer: the whole data transfer of a study from the database (ENDPOINTS.md section 5).

The input files are written from the database, read back through the same validation
as compute_endpoints, and the outputs computed from what was read: so compute_endpoints
on the exported inputs reproduces the exported outputs byte for byte.
audited_export_transfer is the same write recorded in the audit trail: what the command,
the simulator and the API's export jobs (export_jobs.py) call.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from analysis import fhir, selectors, standards
from analysis.inputs import Inputs, describe_participant, read_inputs
from analysis.longterm import derive_cycles, summarize_cycles, write_cycles
from analysis.report import ReportContext, write_report
from analysis.scoring import local_dates, promis_raw, promis_tscore
from analysis.transfer import (
    arm_counts,
    compute_endpoints,
    format_numbers,
    neutralised,
    not_yet_reached,
    render_csv,
    write_inputs,
    write_outputs,
)
from diaries import audit
from diaries.models import Study
from diaries.protocol.windows import study_day

# datasetjson: CDISC Dataset-JSON 1.1 of qs and adqs with their Define-XML 2.1; fhir: FHIR R4
# Questionnaires and QuestionnaireResponses in one Bundle.
FORMATS = ("csv", "datasetjson", "fhir", "parquet", "xlsx", "xpt")
QS_COLUMNS = [
    "STUDYID", "DOMAIN", "USUBJID", "QSSEQ", "QSTESTCD", "QSTEST", "QSCAT", "QSORRES", "QSSTRESC", "QSSTRESN",
    "QSDRVFL", "QSEVLINT", "QSDTC", "QSDY", "QSTPT",
]
# SAS transport (v5) keeps names to 8 characters: only these tables go to XPT.
XPT_TABLES = ("adqs", "qs")
# The item-level tables (a row per answer or per derived value) outgrow a spreadsheet at
# trial scale (qs has over a million rows, Excel's sheet limit, for the pooled trial) and
# take minutes in openpyxl: they come as CSV, Parquet, XPT and Dataset-JSON, not xlsx.
NOT_XLSX = ("adqs", "diary", "qs")
# Character variables that may look numeric ("7"): they stay text in every format.
TEXT_COLUMNS = {"QSORRES", "QSSTRESC", "STRATUM", "ARM"}
DERIVED_TESTS = {"PSDSB998": "PROMIS SD 8b raw score", "PSDSB999": "PROMIS SD 8b T-score"}


class UnrandomizedParticipants(ValueError):
    """An unblinded export whose analysis set has participants without a randomization: never pooled."""

    def __init__(self, participants: list[dict]):
        self.participants = participants
        listed = "; ".join(describe_participant(p) for p in participants)
        super().__init__(f"{len(participants)} participant(s) of the analysis set have no randomization: {listed}. "
                         f"Import their randomization, or exclude them explicitly (--exclude-unrandomized)")


def unrandomized_participants(inputs: Inputs) -> list[dict]:
    """USUBJID, SITEID and DAY1 of each analysis-set participant without an arm, in USUBJID order."""
    participants = inputs.participants
    chosen = participants[participants["FIRST_APPLICATION"].notna() & (participants["ARM"] == "")]
    day1 = local_dates(pd.to_datetime(chosen["FIRST_APPLICATION"], utc=True), chosen["TZ"])
    return [{"USUBJID": u, "SITEID": str(s), "DAY1": pd.Timestamp(d).date().isoformat()}
            for u, s, d in sorted(zip(chosen["USUBJID"], chosen["SITEID"], day1, strict=True))]


def without_participants(inputs: Inputs, usubjids) -> Inputs:
    """The inputs without these participants (their diary and visits too)."""
    out = set(usubjids)
    return Inputs(
        participants=inputs.participants[~inputs.participants["USUBJID"].isin(out)].reset_index(drop=True),
        diary=inputs.diary[~inputs.diary["USUBJID"].isin(out)].reset_index(drop=True),
        visits=inputs.visits[~inputs.visits["USUBJID"].isin(out)].reset_index(drop=True),
    )


def export_transfer(
    *, study: Study, directory, unblinded: bool, formats=("csv",), as_of=None, now: datetime | None = None,
    exclude_unrandomized: bool = False, requested_by: str = "",
) -> dict:
    """Write the transfer into `directory` (replacing it whole); returns the manifest.

    `as_of` is the data cut-off (default: the export's date in UTC), written into the
    manifest: compute_endpoints on the exported inputs with it reproduces the outputs.
    An unblinded export is refused (UnrandomizedParticipants) when analysis-set participants
    have no randomization, unless `exclude_unrandomized`: then they are left out of the
    analysis inputs and outputs, and the manifest and the report list them.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {', '.join(sorted(unknown))}; known: {', '.join(FORMATS)}")
    now = now or datetime.now(UTC)
    as_of = as_of or now.astimezone(UTC).date()
    inputs = selectors.transfer_inputs(study, unblinded=unblinded)
    excluded = unrandomized_participants(inputs) if unblinded else []
    if excluded and not exclude_unrandomized:
        raise UnrandomizedParticipants(excluded)
    if excluded:
        inputs = without_participants(inputs, [p["USUBJID"] for p in excluded])
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    # Staged beside the target, so the final rename is atomic and never crosses file systems.
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=directory.parent))
    try:
        write_inputs(inputs, staging)
        inputs = read_inputs(staging)
        outputs = compute_endpoints(inputs, as_of=as_of, reference_arm=study.rules.reference_arm,
                                    min_days=study.rules.min_days)
        write_outputs(outputs, staging)
        (staging / "qs.csv").write_bytes(render_csv(qs_table(study), QS_COLUMNS, ["USUBJID", "QSSEQ"]).encode())
        _write_longterm(study, staging, as_of)
        _write_tables(staging, formats)
        if "datasetjson" in formats:
            _write_cdisc(study, staging, now)
        if "fhir" in formats:
            _write_fhir(study, staging)
        context = ReportContext(
            study=study.code, study_name=study.name, configuration=study.config_hash[:12],
            as_of=as_of, generated_at=now.astimezone(UTC), unblinded=unblinded, requested_by=requested_by,
            excluded=excluded, not_yet_reached=not_yet_reached(inputs, as_of),
        )
        write_report(outputs, staging, context)
        manifest = _manifest(study, staging, context)
        manifest["summary"] = {"participants_per_arm": arm_counts(outputs),
                               "endpoints": int(outputs["endpoint_summary"]["ENDPOINT"].nunique()),
                               "not_yet_reached": context.not_yet_reached}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def audited_export_transfer(*, study: Study, directory, formats, unblinded: bool, actor: Any, as_of=None,
                            exclude_unrandomized: bool = False) -> dict:
    """export_transfer, and who exported what in the audit trail, with every file's SHA-256.

    Raises UnrandomizedParticipants for an unblinded export whose analysis set is not all
    randomized, unless `exclude_unrandomized` (then the manifest lists who was left out).
    """
    requested_by = actor.get_username() if hasattr(actor, "get_username") else str(actor)
    manifest = export_transfer(study=study, directory=directory, unblinded=unblinded, formats=formats, as_of=as_of,
                               exclude_unrandomized=exclude_unrandomized, requested_by=requested_by)
    audit.log(actor=actor, action="export.transfer", obj=study,
              after={"unblinded": unblinded, "formats": list(formats), "as_of": manifest["as_of"],
                     "excluded_unrandomized": [p["USUBJID"] for p in manifest["excluded_unrandomized"]],
                     "files": _audited_files(manifest["files"], unblinded)})
    return manifest


def _audited_files(files: list[dict], unblinded: bool) -> list:
    """The files as the audit trail keeps them: an unblinded file's checksum and row count depend on
    the arms (a blinded reader could rebuild the file and try arm combinations), so only its name."""
    return [f["name"] for f in files] if unblinded else files


def _write_longterm(study: Study, directory: Path, as_of) -> None:
    """cycles.csv and cycles_summary.csv: the long-term phase to `as_of` (default: the export's date)."""
    cycles = derive_cycles(selectors.treatment_events(study), selectors.longterm_starts(study),
                           stop_after_days=study.rules.stop_treatment_after_days, as_of=as_of)
    write_cycles(cycles, summarize_cycles(cycles), directory)


def qs_table(study: Study) -> pd.DataFrame:
    """SDTM QS-like rows: one per item answer, plus derived PROMIS raw and T-score rows.

    Built column by column (a million rows for the pooled trial): labels come from lookups
    made once per item and option, the derived scores are computed for all records at once.
    """
    rules = study.rules
    items = {(code, item.number): item for code in ("ITCH_NRS", "PROMIS_SD8B")
             for item in rules.instrument(code).items}
    tests = {key: (item.id.upper(), _test_name(item.text["en"])) for key, item in items.items()}
    labels: dict[tuple, str] = {}
    zones: dict[str, ZoneInfo] = {}
    columns = {name: [] for name in ("USUBJID", "QSCAT", "QSDTC", "_AT", "QSDY", "QSTPT", "QSTESTCD", "QSTEST",
                                     "QSORRES", "QSSTRESN", "QSDRVFL")}
    promis = {name: [] for name in ("USUBJID", "QSCAT", "QSDTC", "_AT", "QSDY", "QSTPT", "SUM", "ANSWERED")}
    for usubjid, zone, first_application_at, instrument, timepoint, diary_date, answers, submitted_at in (
            selectors.qs_records(study).iterator(chunk_size=5000)):
        tz = zones.get(zone) or zones.setdefault(zone, ZoneInfo(zone))
        day1 = first_application_at.astimezone(tz).date() if first_application_at else None
        common = (usubjid, rules.instrument(instrument).category,
                  submitted_at.astimezone(tz).isoformat(timespec="seconds"), submitted_at,
                  study_day(diary_date, day1) if day1 else None, "HOUR 12" if timepoint == "H12" else "EVENING")
        for answer in answers:
            key = (instrument, answer["item"])
            label_key = (*key, answer["option"])
            label = labels.get(label_key)
            if label is None:
                label = labels[label_key] = items[key].label_of(answer["option"], "en")
            for name, value in zip(("USUBJID", "QSCAT", "QSDTC", "_AT", "QSDY", "QSTPT"), common, strict=True):
                columns[name].append(value)
            testcd, test = tests[key]
            columns["QSTESTCD"].append(testcd)
            columns["QSTEST"].append(test)
            columns["QSORRES"].append(label)
            columns["QSSTRESN"].append(float(answer["score"]))
            columns["QSDRVFL"].append("")
        if instrument == "PROMIS_SD8B":
            for name, value in zip(("USUBJID", "QSCAT", "QSDTC", "_AT", "QSDY", "QSTPT"), common, strict=True):
                promis[name].append(value)
            promis["SUM"].append(sum(a["score"] for a in answers))
            promis["ANSWERED"].append(len(answers))
    frame = pd.DataFrame(columns)
    derived = pd.DataFrame(promis)
    raw = promis_raw(derived["SUM"].to_numpy(dtype=np.int64), derived["ANSWERED"].to_numpy(dtype=np.int64))
    scored = derived[np.isfinite(raw)].drop(columns=["SUM", "ANSWERED"])
    raw = raw[np.isfinite(raw)]
    for code, value in (("PSDSB998", raw), ("PSDSB999", promis_tscore(raw))):
        rows = scored.assign(QSTESTCD=code, QSTEST=DERIVED_TESTS[code], QSORRES=format_numbers(value),
                             QSSTRESN=np.asarray(value, dtype=float), QSDRVFL="Y")
        frame = pd.concat([frame, rows], ignore_index=True)
    if frame.empty:
        return pd.DataFrame(columns=QS_COLUMNS)
    frame["STUDYID"], frame["DOMAIN"], frame["QSEVLINT"] = study.code, "QS", "-PT24H"
    frame["QSSTRESC"] = format_numbers(frame["QSSTRESN"].to_numpy(dtype=float))
    frame["QSDY"] = frame["QSDY"].astype("Int64")
    # QSSEQ: 1.. per subject in order of submission time, then QSTESTCD (code point).
    frame = frame.sort_values(["USUBJID", "_AT", "QSTESTCD"], kind="stable")
    frame["QSSEQ"] = frame.groupby("USUBJID").cumcount().astype("int64") + 1
    return frame[QS_COLUMNS].reset_index(drop=True)


def _test_name(text: str) -> str:
    """The item stem without the recall period prefix (QSEVLINT carries it)."""
    for prefix in ("In the past 24 hours, ",):
        if text.startswith(prefix):
            text = text[len(prefix):]
            return text[0].upper() + text[1:]
    return text


def _write_cdisc(study: Study, directory: Path, now: datetime) -> None:
    metadata_version = f"MDV.{study.code}.{study.config_hash[:12]}"
    created = now.astimezone(UTC)
    standards.write_dataset_json(directory, study=study.code, metadata_version=metadata_version, created_at=created,
                                 source_version=study.config_hash[:12])
    standards.write_define_xml(directory, study=study.code, study_name=study.name, metadata_version=metadata_version,
                               created_at=created)


def _write_fhir(study: Study, directory: Path) -> None:
    """The Bundle, written entry by entry: a trial has a QuestionnaireResponse per diary submission."""
    with (directory / fhir.BUNDLE_FILE).open("w", encoding="utf-8") as out:
        head = fhir.bundle(study, [])
        entries = head.pop("entry")
        out.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "entry": [')
        first = True
        for entry in [*entries, *_response_entries(study)]:
            out.write(("" if first else ",") + "\n" + json.dumps(entry, ensure_ascii=False))
            first = False
        out.write("\n]}\n")


def _response_entries(study: Study):
    writer = fhir.Responses(study)
    for record in selectors.fhir_records(study).iterator(chunk_size=5000):
        yield fhir.entry(writer.response(record))


def _write_tables(directory: Path, formats) -> None:
    """Each CSV of the transfer in the requested table formats, read and typed once for all of them."""
    formats = [fmt for fmt in formats if fmt in ("parquet", "xlsx", "xpt")]
    for csv_path in sorted(directory.glob("*.csv")):
        name = csv_path.stem
        wanted = [fmt for fmt in formats
                  if not ((fmt == "xpt" and name not in XPT_TABLES) or (fmt == "xlsx" and name in NOT_XLSX))]
        if not wanted:
            continue
        frame = _typed(pd.read_csv(csv_path, dtype=str, keep_default_na=False, engine="pyarrow"))
        for fmt in wanted:
            target = directory / f"{name}.{fmt}"
            if fmt == "parquet":
                frame.to_parquet(target, index=False)
            elif fmt == "xlsx":
                neutralised_frame(frame).to_excel(target, index=False, sheet_name=name[:31])
            else:
                import pyreadstat

                pyreadstat.write_xport(frame, str(target), table_name=name.upper()[:8], file_format_version=5)


def neutralised_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula get a leading "'", as OWASP recommends; numbers are left alone.

    openpyxl stores any string that starts with "=" as a formula: with this, the XLSX holds text only.
    """
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = [neutralised(v) if isinstance(v, str) else v for v in out[column]]
    return out


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as numbers (empty = missing; int64 when every value is an integer), the rest as text.

    Each column is judged and converted on its distinct values (qs has a million rows and a few
    hundred distinct values per column). Text stays Python str objects: pyreadstat writes
    those several times faster than pandas' string dtype.
    """
    typed = {}
    for column in frame.columns:
        codes, uniques = pd.factorize(frame[column].to_numpy(dtype=object))
        uniques = np.asarray(uniques, dtype=object)
        present = uniques != ""
        numbers = pd.to_numeric(pd.Series(uniques[present], dtype=object), errors="coerce")
        text = column in TEXT_COLUMNS or column.endswith(("ID", "CD"))
        if present.any() and not numbers.isna().any() and not text:
            values = np.full(len(uniques), np.nan)
            values[present] = numbers.to_numpy(dtype=float)
            integral = present.all() and pd.api.types.is_integer_dtype(numbers.infer_objects().dtype)
            typed[column] = values[codes].astype(np.int64) if integral else values[codes]
        else:
            typed[column] = uniques[codes] if len(codes) else np.array([], dtype=object)
    out = pd.DataFrame(typed, columns=frame.columns)
    text_columns = [c for c in out.columns if not pd.api.types.is_numeric_dtype(out[c])]
    return out.astype(dict.fromkeys(text_columns, object))


def _manifest(study: Study, directory: Path, context: ReportContext) -> dict:
    files = []
    for path in sorted(directory.iterdir(), key=lambda p: p.name):
        if path.name == "manifest.json" or path.name.startswith("."):
            continue
        data = path.read_bytes()
        files.append({"name": path.name, "rows": _rows(path, data), "sha256": hashlib.sha256(data).hexdigest()})
    return {
        "study": study.code,
        "configuration": study.config_hash,
        "generated_at": context.generated_at.isoformat(timespec="seconds"),
        # compute_endpoints --as-of AS_OF on the exported inputs reproduces the outputs byte for byte.
        "as_of": context.as_of.isoformat(),
        "unblinded": context.unblinded,
        "requested_by": context.requested_by,
        "excluded_unrandomized": context.excluded,
        "files": files,
    }


def _rows(path: Path, data: bytes) -> int | None:
    if path.suffix == ".csv":
        return max(data.count(b"\n") - 1, 0)
    csv_twin = path.with_suffix(".csv")
    if csv_twin.exists():
        return max(csv_twin.read_bytes().count(b"\n") - 1, 0)
    return None
