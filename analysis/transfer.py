"""The data-transfer files of ENDPOINTS.md section 5: computing the outputs and writing canonical CSV.

compute_endpoints (files) and export_transfer (database) must give byte-identical
files for identical data, so both write through `render_csv`: UTF-8, `\\n` line
ends, a header row, rows in a fixed order, numbers as Python's repr of the double
with integral values written as integers, dates YYYY-MM-DD, UTC timestamps to the
second, and an empty string for anything missing.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import endpoints
from analysis.adqs import ADQS_COLUMNS, adqs_rows
from analysis.compliance import COMPLIANCE_COLUMNS, compliance_rows
from analysis.derived import BLINDED_GROUP, MIN_DAYS, analysis_set, derive
from analysis.inputs import (
    DIARY_COLUMNS,
    DIARY_FILE,
    DIARY_KEY,
    PARTICIPANT_COLUMNS,
    PARTICIPANTS_FILE,
    VISIT_COLUMNS,
    VISIT_KEY,
    VISITS_FILE,
    Inputs,
)
from analysis.stats import SUMMARY_COLUMNS, endpoint_summary

DEFAULT_REFERENCE_ARM = "VEHICLE"

# name in the outputs dict -> (file name, columns, sort key). String keys sort by
# Unicode code point; AVISITN is an integer and sorts numerically (DAY 2 before DAY 10).
OUTPUT_FILES = {
    "adqs": ("adqs.csv", ADQS_COLUMNS, ["USUBJID", "PARAMCD", "AVISITN"]),
    "responders": ("responders.csv", endpoints.RESPONDER_COLUMNS, ["USUBJID", "ENDPOINT"]),
    "endpoint_summary": ("endpoint_summary.csv", SUMMARY_COLUMNS, ["ENDPOINT", "ARM"]),
    "compliance": ("compliance.csv", COMPLIANCE_COLUMNS, ["USUBJID", "PERIOD"]),
}
# Exported input files are sorted by their key columns (ITEM and WEEK numerically).
INPUT_FILES = {
    "participants": (PARTICIPANTS_FILE, list(PARTICIPANT_COLUMNS), ["USUBJID"]),
    "diary": (DIARY_FILE, list(DIARY_COLUMNS), list(DIARY_KEY)),
    "visits": (VISITS_FILE, list(VISIT_COLUMNS), list(VISIT_KEY)),
}


def compute_endpoints(
    inputs: Inputs,
    as_of=None,
    reference_arm: str = DEFAULT_REFERENCE_ARM,
    min_days: int = MIN_DAYS,
) -> dict[str, pd.DataFrame]:
    """adqs, responders, endpoint_summary and compliance, each sorted in file order.

    `as_of` is the data cut-off (a date; by default the latest DIARY_DATE of the diary):
    diary values and visits after it are ignored, and a participant counts for a time
    point only once its nominal last day is on or before it (ENDPOINTS.md section 4).
    """
    as_of = default_as_of(inputs) if as_of is None else as_of
    derived = derive(inputs.participants, inputs.diary, inputs.visits, min_days, as_of=as_of)
    subjects = derived.subjects
    binary = endpoints.binary_outcomes(derived)
    continuous = endpoints.continuous_outcomes(derived)

    groups = sorted(set(subjects["GROUP"]))
    # Blinded output has one group and nothing to compare.
    reference = None if derived.blinded else reference_arm
    summary = endpoint_summary(
        _with_subject_columns(binary, subjects),
        _with_subject_columns(continuous, subjects),
        groups,
        binary_endpoints=[e.name for e in endpoints.BINARY_ENDPOINTS],
        continuous_endpoints=[e.name for e in endpoints.CONTINUOUS_ENDPOINTS],
        reference=reference,
    )

    outputs = {
        "adqs": adqs_rows(derived),
        "responders": endpoints.responder_rows(derived, binary),
        "endpoint_summary": summary,
        "compliance": compliance_rows(inputs.diary, subjects, as_of),
    }
    return {name: sort_rows(frame, OUTPUT_FILES[name][2]) for name, frame in outputs.items()}


def default_as_of(inputs: Inputs):
    """The default data cut-off: the latest DIARY_DATE (None for an empty diary: no cut-off)."""
    if not len(inputs.diary):
        return None
    return pd.Timestamp(inputs.diary["DIARY_DATE"].max()).date()


def not_yet_reached(inputs: Inputs, as_of=None) -> list[str]:
    """Endpoints no participant of the analysis set is evaluable for at the cut-off (N = 0 in every arm)."""
    as_of = default_as_of(inputs) if as_of is None else as_of
    reached = analysis_set(inputs.participants, as_of)["REACHED"]
    latest = int(reached.max()) if len(reached) else None
    every = [*endpoints.BINARY_ENDPOINTS, *endpoints.CONTINUOUS_ENDPOINTS]
    return sorted(e.name for e in every if latest is None or latest < endpoints.last_study_day(e))


def arm_counts(outputs: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Participants of the analysis set per arm (ALL when blinded), from responders.csv."""
    per_subject = outputs["responders"].drop_duplicates("USUBJID")
    arms = per_subject["ARM"].astype(str).replace("", BLINDED_GROUP)
    return {arm: int(count) for arm, count in sorted(arms.value_counts().items())}


def summary_line(outputs: dict[str, pd.DataFrame], *, files: int, directory, as_of, not_reached: list[str]) -> str:
    """One line for the end of a run: participants per arm, endpoints, files written, the cut-off."""
    counts = arm_counts(outputs)
    arms = ", ".join(f"{arm} {n}" for arm, n in counts.items()) or "none"
    endpoint_count = outputs["endpoint_summary"]["ENDPOINT"].nunique()
    reached = f" ({len(not_reached)} not yet reached)" if not_reached else ""
    cutoff = as_of.isoformat() if as_of is not None else "none (empty diary)"
    return (f"{sum(counts.values())} participants ({arms}), {endpoint_count} endpoints{reached}, "
            f"{files} files written to {directory}, data cut-off {cutoff}")


def _with_subject_columns(outcomes: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    subj = outcomes["SUBJ"].to_numpy()
    return outcomes.assign(GROUP=subjects["GROUP"].to_numpy()[subj], STRATUM=subjects["STRATUM"].to_numpy()[subj])


def write_outputs(outputs: dict[str, pd.DataFrame], directory) -> None:
    """Write the output files of compute_endpoints into `directory` (created if needed)."""
    _write_files({OUTPUT_FILES[name][0]: render_csv(frame, *OUTPUT_FILES[name][1:]) for name, frame in outputs.items()},
                 directory)  # fmt: skip


def write_inputs(inputs: Inputs, directory) -> None:
    """Write the input files in canonical form: key order, timestamps in UTC to the second."""
    frames = {"participants": inputs.participants, "diary": inputs.diary, "visits": inputs.visits}
    _write_files({INPUT_FILES[name][0]: render_csv(frame, *INPUT_FILES[name][1:]) for name, frame in frames.items()},
                 directory)  # fmt: skip


def _write_files(texts: dict[str, str], directory) -> None:
    # Everything is rendered before the folder is touched; each file is replaced
    # whole, so a reader never sees a half-written file.
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        partial = directory / f".{name}.partial"
        partial.write_bytes(text.encode("utf-8"))
        os.replace(partial, directory / name)


# -- canonical CSV ------------------------------------------------------------------------


def sort_rows(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows ordered by `keys`: numbers numerically, text by Unicode code point, dates by date."""
    if frame.empty:
        return frame.reset_index(drop=True)
    ranks = [_sort_rank(frame[key]) for key in keys]
    order = np.lexsort(ranks[::-1])
    return frame.iloc[order].reset_index(drop=True)


def _sort_rank(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        codes, uniques = pd.factorize(column, sort=True)
        return codes
    codes, uniques = pd.factorize(column)
    # An object array sorts with Python's str comparison, i.e. by code point,
    # whatever the locale or the string dtype's backend.
    order = np.argsort(np.asarray(uniques, dtype=object), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes]


def render_csv(frame: pd.DataFrame, columns: list[str], sort_keys: list[str]) -> str:
    """The canonical CSV text of `frame`'s `columns`, rows sorted by `sort_keys`."""
    ordered = sort_rows(frame, sort_keys)
    cells = [format_values(ordered[column]) for column in columns]
    lines = [",".join(_quote(np.asarray(columns, dtype=object)))]
    lines.extend(",".join(row) for row in zip(*cells, strict=True))
    return "\n".join(lines) + "\n"


def format_values(column: pd.Series) -> np.ndarray:
    """Canonical text of each value (see the module docstring), CSV-quoted where needed.

    Each distinct value is formatted once: adqs has millions of cells but far
    fewer distinct values.
    """
    codes, uniques = pd.factorize(column)
    texts = _quote(_format_distinct(pd.Series(uniques, dtype=column.dtype)))
    # factorize codes missing values as -1, which picks the trailing "".
    return np.append(texts, "").astype(object)[codes]


def _format_distinct(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(values.dtype.categories.dtype)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
        return np.char.add(np.datetime_as_string(utc, unit="s"), "+00:00").astype(object)
    if pd.api.types.is_datetime64_any_dtype(values):
        return np.datetime_as_string(values.to_numpy().astype("datetime64[D]"), unit="D").astype(object)
    if pd.api.types.is_bool_dtype(values):
        raise TypeError(f"{values.name}: booleans have no canonical form; write Y/N")
    if pd.api.types.is_integer_dtype(values):
        return np.array([str(int(v)) for v in values], dtype=object)
    if pd.api.types.is_float_dtype(values):
        return format_numbers(values.to_numpy(dtype=float, na_value=np.nan))
    return np.array([neutralised(str(v)) for v in values], dtype=object)


# A text cell a spreadsheet would run as a formula ("CSV injection"): OWASP's leading "'".
# Only text: number columns are formatted above and never start so (their format is fixed).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def format_numbers(values: np.ndarray) -> np.ndarray:
    """Python's repr of each double; integral values as integers (7, not 7.0); NaN and inf as ""."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), "", dtype=object)
    finite = np.isfinite(values)
    integral = finite & (np.trunc(values) == values) & (np.abs(values) < 2.0**63)
    # int64 holds every integral double below 2**63 exactly; -0.0 becomes "0".
    out[integral] = [str(v) for v in values[integral].astype(np.int64).tolist()]
    rest = finite & ~integral
    out[rest] = [repr(v) for v in values[rest].tolist()]
    return out


def _quote(texts: np.ndarray) -> np.ndarray:
    """RFC 4180 quoting, only for the few values that need it."""
    needs = [i for i, text in enumerate(texts) if any(c in text for c in ',"\r\n')]
    for i in needs:
        texts[i] = '"' + texts[i].replace('"', '""') + '"'
    return texts
