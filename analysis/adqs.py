"""adqs.csv (ENDPOINTS.md section 5): one row per parameter and analysis visit with a value, from the
derived values (derived.py), as a pure function over DataFrames.
"""

import numpy as np
import pandas as pd

from analysis.derived import MEASURES, PARAMETERS, TSCORE, Derived

ADQS_COLUMNS = ["USUBJID", "SITEID", "ARM", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY", "AVAL", "BASE",
                "CHG", "PCHG", "ABLFL", "DTYPE", "NVALS"]  # fmt: skip


def adqs_rows(derived: Derived) -> pd.DataFrame:
    """The rows of adqs.csv (unsorted), one per parameter and analysis visit with a value.

    Text columns are categoricals built from codes: adqs has millions of rows at
    trial scale and only a few hundred distinct labels.
    """
    base, weekly, h12 = derived.baseline, derived.weekly, derived.h12
    daily = derived.daily[derived.daily["STUDY_DAY"] >= 1]
    parts = []
    for index, parameter in enumerate(PARAMETERS):
        measure = parameter.measure
        b = base[base["MEASURE"] == measure]
        parts.append(_visits(index, _BASELINE, b["SUBJ"], 0, _MISSING, b["BASE"], b["NVALS"]))
        if parameter.kind == "daily":
            d = daily[daily["MEASURE"] == measure]
            parts.append(_visits(index, _DAY, d["SUBJ"], d["STUDY_DAY"], d["STUDY_DAY"], d["AVAL"], 1))
        elif parameter.kind == "weekly":
            w = weekly[weekly["MEASURE"] == measure]
            parts.append(_visits(index, _WEEK, w["SUBJ"], w["WEEK"], w["VISIT_DAY"], w["AVAL"], w["NVALS"]))
        else:
            parts.append(_visits(index, _HOUR12, h12["SUBJ"], 1, h12["STUDY_DAY"], h12["AVAL"], 1))
    rows = {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}

    subj, parameter, kind = rows["SUBJ"], rows["PARAMETER"], rows["KIND"]
    measure = np.array([MEASURES.index(p.measure) for p in PARAMETERS])[parameter]
    baseline_of = np.full((len(derived.subjects), len(MEASURES)), np.nan)
    baseline_of[base["SUBJ"].to_numpy(), base["MEASURE"].cat.codes.to_numpy()] = base["BASE"].to_numpy()
    base_value = baseline_of[subj, measure]
    post = kind != _BASELINE
    chg = np.where(post, rows["AVAL"] - base_value, np.nan)
    # PCHG is undefined for a zero baseline and not meaningful on the T-score scale.
    pchg_ok = post & (base_value != 0) & np.isfinite(base_value) & (measure != MEASURES.index(TSCORE))
    pchg = np.full(len(chg), np.nan)
    np.divide(100 * chg, base_value, out=pchg, where=pchg_ok)

    subjects = derived.subjects
    arm = np.full(len(subjects), "", dtype=object) if derived.blinded else subjects["ARM"].to_numpy()
    avisit_codes, avisit_labels = _avisit_labels(kind, rows["AVISITN"])
    return pd.DataFrame(
        {
            "USUBJID": _labels(subj, subjects["USUBJID"].to_numpy()),
            "SITEID": _labels(subj, subjects["SITEID"].to_numpy()),
            "ARM": _labels(subj, arm),
            "PARAMCD": _labels(parameter, [p.paramcd for p in PARAMETERS]),
            "PARAM": _labels(parameter, [p.param for p in PARAMETERS]),
            "AVISIT": _labels(avisit_codes, avisit_labels),
            "AVISITN": pd.array(rows["AVISITN"], dtype="Int64"),
            "ADY": pd.arrays.IntegerArray(rows["ADY"], mask=rows["ADY"] == _MISSING),
            "AVAL": rows["AVAL"],
            "BASE": base_value,
            "CHG": chg,
            "PCHG": pchg,
            "ABLFL": _labels(post.astype(np.int8), ["Y", ""]),
            "DTYPE": _labels(np.isin(kind, [_BASELINE, _WEEK]).astype(np.int8), ["", "AVERAGE"]),
            "NVALS": pd.array(rows["NVALS"], dtype="Int64"),
        }
    )


# Kinds of analysis visit in adqs.
_BASELINE, _DAY, _HOUR12, _WEEK = range(4)
_MISSING = np.iinfo(np.int64).min


def _visits(parameter, kind, subj, avisitn, ady, aval, nvals) -> dict[str, np.ndarray]:
    n = len(subj)
    return {
        "SUBJ": np.asarray(subj, dtype=np.int64),
        "PARAMETER": np.full(n, parameter, dtype=np.int64),
        "KIND": np.full(n, kind, dtype=np.int64),
        "AVISITN": np.broadcast_to(np.asarray(avisitn, dtype=np.int64), (n,)),
        "ADY": np.broadcast_to(np.asarray(ady, dtype=np.int64), (n,)),
        "AVAL": np.asarray(aval, dtype=float),
        "NVALS": np.broadcast_to(np.asarray(nvals, dtype=np.int64), (n,)),
    }


def _avisit_labels(kind: np.ndarray, avisitn: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """AVISIT as codes into its few distinct labels (BASELINE, DAY d, DAY 1 HOUR 12, WEEK w)."""
    codes, pairs = pd.factorize(kind * 1_000_000 + avisitn)  # study days stay far below a million
    names = {_BASELINE: "BASELINE", _DAY: "DAY {}", _HOUR12: "DAY 1 HOUR 12", _WEEK: "WEEK {}"}
    return codes, [names[p // 1_000_000].format(p % 1_000_000) for p in pairs.tolist()]


def _labels(codes, labels) -> pd.Categorical:
    """A categorical column from integer codes; labels may repeat (e.g. the empty ARM)."""
    unique, inverse = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    return pd.Categorical.from_codes(inverse[np.asarray(codes)], categories=unique)

