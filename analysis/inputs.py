"""Read and validate the input files of the data-transfer contract (ENDPOINTS.md section 5).

Bad input is refused as a whole: every problem of every file is collected and
raised together in one InputError, each as `FILE: line N: reason` (line 1 is the
header), so a data manager can fix a transfer in one round trip.

Validation works on the distinct values of a column where it can (a diary of
millions of item answers has a few hundred dates and eleven scores), and maps the
verdicts back to rows.
"""

import csv
import mmap
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.scoring import ITCH_NRS, PROMIS_ITEMS, PROMIS_SD8B, local_dates

PARTICIPANTS_FILE = "participants.csv"
DIARY_FILE = "diary.csv"
VISITS_FILE = "visits.csv"

PARTICIPANT_COLUMNS = ("USUBJID", "SITEID", "TZ", "FIRST_APPLICATION", "ARM", "STRATUM", "DISCONTINUED_ON")
DIARY_COLUMNS = ("USUBJID", "INSTRUMENT", "TIMEPOINT", "DIARY_DATE", "ITEM", "SCORE", "SUBMITTED_AT")
DIARY_KEY = ("USUBJID", "INSTRUMENT", "TIMEPOINT", "DIARY_DATE", "ITEM")
VISIT_COLUMNS = ("USUBJID", "WEEK", "VISIT_DATE")
VISIT_KEY = ("USUBJID", "WEEK")

DAILY = "DAILY"
H12 = "H12"


@dataclass(frozen=True)
class Instrument:
    items: range
    scores: range
    timepoints: tuple[str, ...]


INSTRUMENTS = {
    ITCH_NRS: Instrument(items=range(1, 2), scores=range(0, 11), timepoints=(DAILY, H12)),
    PROMIS_SD8B: Instrument(items=range(1, PROMIS_ITEMS + 1), scores=range(1, 6), timepoints=(DAILY,)),
}
TIMEPOINTS = (DAILY, H12)

DATE_DTYPE = "datetime64[s]"
TIMESTAMP_DTYPE = "datetime64[us, UTC]"

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")
# ISO 8601 date and time; the offset is checked separately so that a missing one
# gets its own message.
_TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?"
_OFFSET = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)"


class InputError(Exception):
    """The input files were refused; `problems` lists every reason as `FILE: line N: reason`."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the input files:\n" + "\n".join(self.problems))


@dataclass(frozen=True)
class Inputs:
    """The validated input files with parsed types.

    participants: USUBJID, SITEID, TZ, ARM, STRATUM (str, "" when empty),
        FIRST_APPLICATION (datetime64 UTC, NaT when empty), DISCONTINUED_ON (local
        date as datetime64, NaT when empty), DAY1 (local date of FIRST_APPLICATION in TZ).
    diary: USUBJID, INSTRUMENT, TIMEPOINT (str), DIARY_DATE (datetime64), ITEM, SCORE
        (int64), SUBMITTED_AT (datetime64 UTC).
    visits: USUBJID (str), WEEK (int64), VISIT_DATE (datetime64); empty without visits.csv.
    """

    participants: pd.DataFrame
    diary: pd.DataFrame
    visits: pd.DataFrame


class _Problems:
    """Problems found so far, kept per file and line so they print in file order."""

    def __init__(self):
        self._found: list[tuple[int, int, int, str]] = []

    def add(self, file: str, line: int, reason: str) -> None:
        line = int(line)
        self._found.append((_FILE_ORDER.get(file, 99), line, len(self._found), f"{file}: line {line}: {reason}"))

    def add_rows(self, file: str, mask, template: str, frame: pd.DataFrame) -> None:
        """One problem per flagged row of `frame` (indexed by line), `template` formatted with its columns.

        Only flagged rows are formatted: a good diary of millions of rows costs nothing here.
        """
        flagged = frame[np.asarray(mask, dtype=bool)]
        for line, row in zip(flagged.index.tolist(), flagged.to_dict("records"), strict=True):
            self.add(file, line, template.format(**row))

    def raise_if_any(self) -> None:
        if self._found:
            raise InputError([text for *_, text in sorted(self._found)])


_FILE_ORDER = {PARTICIPANTS_FILE: 0, DIARY_FILE: 1, VISITS_FILE: 2}


def read_inputs(directory) -> Inputs:
    """The three input files of `directory`, parsed; raises InputError listing every problem."""
    directory = Path(directory)
    problems = _Problems()
    participants_raw = _read_csv(directory, PARTICIPANTS_FILE, PARTICIPANT_COLUMNS, problems)
    diary_raw = _read_csv(directory, DIARY_FILE, DIARY_COLUMNS, problems)
    visits_raw = _read_csv(directory, VISITS_FILE, VISIT_COLUMNS, problems, optional=True)

    participants = subjects = None
    if participants_raw is not None:
        participants = _parse_participants(participants_raw, problems)
        _check_arms(participants, participants_raw.index, problems)
        subjects = pd.Index(participants["USUBJID"].unique())
    diary = _parse_diary(diary_raw, subjects, problems) if diary_raw is not None else None
    visits = _parse_visits(visits_raw, subjects, problems) if visits_raw is not None else None
    problems.raise_if_any()
    return Inputs(participants=participants, diary=diary, visits=visits)


def _read_csv(directory: Path, name: str, columns, problems: _Problems, optional=False) -> pd.DataFrame | None:
    """The file's contract columns as strings, indexed by line number (header = line 1)."""
    path = directory / name
    if not path.is_file():
        if optional:
            return pd.DataFrame({column: pd.Series([], dtype=str) for column in columns})
        problems.add(name, 1, "missing file")
        return None
    if path.stat().st_size == 0:
        problems.add(name, 1, "empty file, no header")
        return None
    frame = _read_plain_csv(path) if _is_plain(path) else None
    if frame is None:
        frame = _read_any_csv(path, name, problems)
    if frame is None:
        return None
    missing = [column for column in columns if column not in frame.columns]
    for column in missing:
        problems.add(name, 1, f"missing column {column}")
    return None if missing else frame[list(columns)]


def _is_plain(path: Path) -> bool:
    """No quotes and no blank lines: every record is one line, so row i is line i + 2."""
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b'"') < 0 and data.find(b"\n\n") < 0 and data.find(b"\n\r\n") < 0


def _read_plain_csv(path: Path) -> pd.DataFrame | None:
    """Fast path (pyarrow's multi-threaded reader); None if the file needs the careful reader."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, engine="pyarrow")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return None  # the careful reader finds the line and says what is wrong
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame


def _read_any_csv(path: Path, name: str, problems: _Problems) -> pd.DataFrame | None:
    """Careful path: quoted fields, blank lines and ragged rows, with exact line numbers."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if not header:
                problems.add(name, 1, "empty file, no header")
                return None
            lines, rows, ragged = [], [], False
            first_line = reader.line_num + 1
            for row in reader:
                if row and any(row):  # a blank line is not a record
                    if len(row) != len(header):
                        problems.add(name, first_line, f"expected {len(header)} fields, found {len(row)}")
                        ragged = True
                    else:
                        lines.append(first_line)
                        rows.append(row)
                first_line = reader.line_num + 1
    except UnicodeDecodeError as error:
        problems.add(name, 1, f"not UTF-8 ({error.reason} at byte {error.start})")
        return None
    except csv.Error as error:
        problems.add(name, reader.line_num, f"cannot read CSV: {error}")
        return None
    if ragged:
        return None
    return pd.DataFrame(rows, columns=header, index=pd.Index(lines), dtype=str)


# -- parsing distinct values ------------------------------------------------------------


def _categorical(column: pd.Series, categories) -> pd.Series:
    """`column` as a categorical over `categories` (NaN outside them), hashing each string once."""
    codes, uniques = pd.factorize(column)
    positions = pd.Index(categories).get_indexer(pd.Index(uniques))
    mapped = np.append(positions, -1)[codes] if len(codes) else np.array([], dtype=np.int64)
    return pd.Series(pd.Categorical.from_codes(mapped, categories=categories), index=column.index)


def _by_value(column: pd.Series, parse) -> pd.Series:
    """parse() applied to the distinct values of `column`, spread back over its rows."""
    codes, uniques = pd.factorize(column)
    parsed = pd.Series(parse(pd.Series(np.asarray(uniques, dtype=object), dtype=object)))
    return pd.Series(parsed.array.take(codes), index=column.index)


def _parse_integers(values: pd.Series) -> np.ndarray:
    """Plain integers as float, NaN where the text is not one (" 7", "7.0" and "seven" are not)."""
    return np.array([float(v) if _INTEGER.fullmatch(v) else np.nan for v in values], dtype=float)


def _parse_dates(values: pd.Series) -> pd.Series:
    """YYYY-MM-DD local dates; NaT where the text is not one (including 2026-02-30)."""
    shaped = values.where(values.str.fullmatch(_DATE.pattern), "")
    return pd.to_datetime(shaped, format="%Y-%m-%d", errors="coerce").astype(DATE_DTYPE)


def _check_integer(raw, column, file, problems) -> pd.Series:
    values = _by_value(raw[column], _parse_integers).astype(float)
    problems.add_rows(file, values.isna(), f"{column} '{{{column}}}' is not an integer", raw)
    return values


def _check_date(raw, column, file, problems, required=True) -> pd.Series:
    dates = _by_value(raw[column], _parse_dates).astype(DATE_DTYPE)
    bad = dates.isna() & ((raw[column] != "") | required)
    problems.add_rows(file, bad, f"bad date {column} '{{{column}}}' (want YYYY-MM-DD)", raw)
    return dates


def _check_timestamp(raw, column, file, problems, required=True) -> pd.Series:
    """UTC instants of ISO 8601 timestamps with an offset; an offset-less one gets its own message."""
    text = raw[column]
    codes, uniques = pd.factorize(text)
    uniques = pd.Series(np.asarray(uniques, dtype=object), dtype=str)
    with_offset = uniques.str.fullmatch(_TIMESTAMP + _OFFSET)
    instants = pd.to_datetime(uniques.where(with_offset, None), format="ISO8601", utc=True, errors="coerce")
    no_offset = uniques.str.fullmatch(_TIMESTAMP).to_numpy(dtype=bool)[codes]
    instants = pd.Series(instants.astype(TIMESTAMP_DTYPE).array.take(codes), index=text.index)
    bad = instants.isna().to_numpy() & ((text != "").to_numpy() | required)
    problems.add_rows(file, bad & no_offset, f"timestamp {column} '{{{column}}}' has no offset", raw)
    problems.add_rows(file, bad & ~no_offset, f"bad timestamp {column} '{{{column}}}' (want ISO 8601 with offset)", raw)
    return instants


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_subjects(raw, subjects, file, problems) -> pd.Series:
    """USUBJID as a categorical over the participants (NaN for an unknown subject, reported)."""
    if subjects is None:  # participants.csv is unreadable; its own problems say so
        return raw["USUBJID"].astype("category")
    usubjid = _categorical(raw["USUBJID"], subjects)
    problems.add_rows(file, usubjid.isna(), "unknown subject '{USUBJID}'", raw)
    return usubjid


def _check_duplicates(key_values, raw, valid, file, problems, what) -> None:
    """Flag every repeat of a key after its first line; rows with an invalid key part are skipped.

    Keys are compared parsed (ITEM 1 and 01 are the same item) and shown as written.
    """
    candidates = key_values[np.asarray(valid, dtype=bool)]
    repeated = candidates.duplicated(keep=False)
    if not repeated.any():
        return
    group = candidates[repeated]
    lines = pd.Series(group.index, index=group.index)
    first_line = lines.groupby([group[c] for c in group.columns], sort=False, observed=True).transform("min")
    later = first_line[first_line != lines]
    shown = raw.loc[later.index, list(key_values.columns)].astype(str).agg(", ".join, axis=1)
    rows = pd.DataFrame({"key": shown, "first": later})
    problems.add_rows(file, pd.Series(True, index=rows.index), f"duplicate {what} ({{key}}), first on line {{first}}",
                      rows)  # fmt: skip


# -- the three files --------------------------------------------------------------------


def _parse_participants(raw: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    file = PARTICIPANTS_FILE
    problems.add_rows(file, raw["USUBJID"] == "", "missing USUBJID", raw)
    _check_duplicates(raw[["USUBJID"]], raw, raw["USUBJID"] != "", file, problems, "USUBJID")

    zones = raw["TZ"]
    known_zone = _by_value(zones, lambda values: values.map(_known_zone)).astype(bool)
    problems.add_rows(file, ~known_zone, "unknown time zone '{TZ}'", raw)

    first_application = _check_timestamp(raw, "FIRST_APPLICATION", file, problems, required=False)
    discontinued_on = _check_date(raw, "DISCONTINUED_ON", file, problems, required=False)

    # Day 1 is the wall-clock date in the participant's zone, whatever offset was written.
    usable = known_zone & first_application.notna()
    day1 = local_dates(first_application[usable], zones[usable]).reindex(raw.index)
    return pd.DataFrame(
        {
            "USUBJID": raw["USUBJID"].astype(str),
            "SITEID": raw["SITEID"].astype(str),
            "TZ": zones.astype(str),
            "FIRST_APPLICATION": first_application,
            "ARM": raw["ARM"].astype(str),
            "STRATUM": raw["STRATUM"].astype(str),
            "DISCONTINUED_ON": discontinued_on,
            "DAY1": day1.astype(DATE_DTYPE),
        }
    ).reset_index(drop=True)


def unrandomized(participants: pd.DataFrame) -> pd.DataFrame:
    """Analysis-set participants without an ARM when others have one (an input that would be pooled).

    Empty when every participant of the analysis set has an arm, or none has (blinded).
    """
    chosen = participants[participants["FIRST_APPLICATION"].notna()]
    without = chosen["ARM"] == ""
    if without.all() or not without.any():
        return chosen.iloc[:0]
    return chosen[without]


def describe_participant(row) -> str:
    """USUBJID, site and Day 1 (a date, or its text): what a data manager needs to find the participant."""
    day1 = row["DAY1"]
    if not isinstance(day1, str):
        day1 = pd.Timestamp(day1).date().isoformat() if pd.notna(day1) else "?"
    return f"{row['USUBJID']} (site {row['SITEID']}, Day 1 {day1})"


def _check_arms(participants: pd.DataFrame, lines: pd.Index, problems: _Problems) -> None:
    """An analysis is never silently pooled: a mix of randomized and unrandomized participants is refused."""
    missing = unrandomized(participants)
    for position, row in zip(missing.index, missing.to_dict("records"), strict=True):
        problems.add(PARTICIPANTS_FILE, lines[position],
                     f"ARM is empty for {describe_participant(row)} while other participants of the "
                     f"analysis set have one: randomize or exclude them")  # fmt: skip


def _parse_diary(raw: pd.DataFrame, subjects, problems: _Problems) -> pd.DataFrame:
    file = DIARY_FILE
    usubjid = _check_subjects(raw, subjects, file, problems)

    instrument = _categorical(raw["INSTRUMENT"], list(INSTRUMENTS))
    known_instrument = instrument.notna()
    problems.add_rows(file, ~known_instrument, "unknown instrument '{INSTRUMENT}'", raw)

    timepoint = _categorical(raw["TIMEPOINT"], list(TIMEPOINTS))
    allowed = pd.Series(False, index=raw.index)
    for name, spec in INSTRUMENTS.items():
        allowed |= (instrument == name) & timepoint.isin(list(spec.timepoints))
    # With an unknown instrument, only a timepoint that no instrument has is reported.
    bad_timepoint = (known_instrument & ~allowed) | (~known_instrument & timepoint.isna())
    problems.add_rows(file, bad_timepoint & known_instrument, "unknown timepoint '{TIMEPOINT}' for {INSTRUMENT}", raw)
    problems.add_rows(file, bad_timepoint & ~known_instrument, "unknown timepoint '{TIMEPOINT}'", raw)

    numbers = {}
    for column in ("ITEM", "SCORE"):
        value = _check_integer(raw, column, file, problems)
        out_of_range = pd.Series(False, index=raw.index)
        for name, spec in INSTRUMENTS.items():
            span = spec.items if column == "ITEM" else spec.scores
            outside = (instrument == name) & value.notna() & ~value.between(span.start, span.stop - 1)
            problems.add_rows(file, outside, f"{column} {{{column}}} out of range {span.start}..{span.stop - 1} "
                                             f"for {name}", raw)  # fmt: skip
            out_of_range |= outside
        numbers[column] = value.where(~out_of_range)

    diary_date = _check_date(raw, "DIARY_DATE", file, problems)
    submitted_at = _check_timestamp(raw, "SUBMITTED_AT", file, problems)

    key = pd.DataFrame({"USUBJID": usubjid, "INSTRUMENT": instrument, "TIMEPOINT": timepoint,
                        "DIARY_DATE": diary_date, "ITEM": numbers["ITEM"]})  # fmt: skip
    key_valid = key.notna().all(axis=1) & ~bad_timepoint
    _check_duplicates(key, raw, key_valid, file, problems, "key " + "/".join(DIARY_KEY))
    _check_one_h12(key, key_valid, problems)

    return pd.DataFrame(
        {
            "USUBJID": usubjid,
            "INSTRUMENT": instrument,
            "TIMEPOINT": timepoint,
            "DIARY_DATE": diary_date,
            "ITEM": numbers["ITEM"].fillna(0).astype(np.int64),
            "SCORE": numbers["SCORE"].fillna(0).astype(np.int64),
            "SUBMITTED_AT": submitted_at,
        }
    ).reset_index(drop=True)


def _check_one_h12(key: pd.DataFrame, valid: pd.Series, problems: _Problems) -> None:
    """At most one H12 record per participant: every later-dated one is a problem."""
    h12 = key[valid & (key["TIMEPOINT"] == H12) & (key["INSTRUMENT"] == ITCH_NRS)]
    records = h12.drop_duplicates(["USUBJID", "DIARY_DATE"])
    extra = records[records.duplicated("USUBJID", keep="first")]
    if extra.empty:
        return
    firsts = records.drop_duplicates("USUBJID")
    first_line = dict(zip(firsts["USUBJID"], firsts.index, strict=True))
    for line, subject in zip(extra.index, extra["USUBJID"], strict=True):
        problems.add(DIARY_FILE, line, f"more than one H12 record for '{subject}', first on line {first_line[subject]}")


def _parse_visits(raw: pd.DataFrame, subjects, problems: _Problems) -> pd.DataFrame:
    file = VISITS_FILE
    usubjid = _check_subjects(raw, subjects, file, problems)
    week = _by_value(raw["WEEK"], _parse_integers).astype(float)
    bad_week = week.isna() | (week < 1)
    problems.add_rows(file, bad_week, "WEEK '{WEEK}' is not an integer >= 1", raw)
    visit_date = _check_date(raw, "VISIT_DATE", file, problems)
    key = pd.DataFrame({"USUBJID": usubjid, "WEEK": week})
    _check_duplicates(key, raw, key.notna().all(axis=1) & ~bad_week, file, problems, "key " + "/".join(VISIT_KEY))
    return pd.DataFrame(
        {
            "USUBJID": usubjid,
            "WEEK": week.where(~bad_week).fillna(0).astype(np.int64),
            "VISIT_DATE": visit_date,
        }
    ).reset_index(drop=True)
