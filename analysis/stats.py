"""Endpoint statistics (ENDPOINTS.md section 4): each arm against the reference arm.

Binary endpoints: responder rate, Newcombe hybrid score CI of the difference and a stratified
Cochran-Mantel-Haenszel test. Continuous endpoints: mean and SD of the change and
an ANCOVA (`change ~ arm + baseline`). Each comparison uses only the two arms'
participants.
"""

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import chi2
from statsmodels.stats.contingency_tables import StratifiedTable

Z_95 = 1.959963984540054
SUMMARY_COLUMNS = ["ENDPOINT", "ARM", "N", "RESPONDERS", "PCT", "MEAN", "SD", "REF_ARM", "DIFF", "CI_LOW",
                   "CI_HIGH", "P_VALUE"]  # fmt: skip
_NO_TEST = (np.nan, np.nan, np.nan)


def wilson_interval(responders: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion, without continuity correction."""
    z2 = Z_95**2
    centre = (responders + z2 / 2) / (n + z2)
    p = responders / n
    half = Z_95 * np.sqrt(n) / (n + z2) * np.sqrt(p * (1 - p) + z2 / (4 * n))
    return centre - half, centre + half


def newcombe_difference(responders: int, n: int, ref_responders: int, ref_n: int) -> tuple[float, float, float]:
    """Difference of responder percentages (percentage points) and its 95% Newcombe hybrid score CI.

    Newcombe (1998), method 10: each arm's Wilson limits combined by the square-and-add
    rule. Unlike Wald's interval it stays inside [-100, 100] and is not degenerate when
    both arms have 0% (or 100%) responders.
    """
    p1, p0 = responders / n, ref_responders / ref_n
    l1, u1 = wilson_interval(responders, n)
    l0, u0 = wilson_interval(ref_responders, ref_n)
    d = p1 - p0
    low = d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    # The difference itself is computed as in the PCT column, so DIFF = PCT - reference PCT exactly.
    diff = 100 * responders / n - 100 * ref_responders / ref_n
    return diff, float(max(100 * low, -100.0)), float(min(100 * high, 100.0))


def cmh_p_value(treated, responder, strata) -> float:
    """Two-sided CMH test of responder by arm stratified by `strata`, without continuity correction.

    Strata with fewer than 2 participants are dropped (their variance term divides
    by n - 1 = 0); NaN when the summed variance is 0, where the statistic is 0/0.
    """
    frame = pd.DataFrame({"stratum": np.asarray(strata), "treated": np.asarray(treated, dtype=bool),
                          "responder": np.asarray(responder, dtype=bool)})  # fmt: skip
    cells = pd.MultiIndex.from_product([[True, False], [True, False]], names=["treated", "responder"])
    counts = (
        frame.groupby(["stratum", "treated", "responder"]).size().unstack(["treated", "responder"], fill_value=0)
    ).reindex(columns=cells, fill_value=0)
    counts = counts[counts.sum(axis=1) >= 2]
    if counts.empty:
        return np.nan
    # (2, 2, K): rows treated/reference, columns responder/non-responder, one table per stratum.
    tables = counts.to_numpy(dtype=float).reshape(-1, 2, 2).transpose(1, 2, 0)
    rows, columns = tables.sum(axis=1), tables.sum(axis=0)
    n = tables.sum(axis=(0, 1))
    variance = (rows[0] * rows[1] * columns[0] * columns[1] / (n**2 * (n - 1))).sum()
    if variance == 0:
        return np.nan
    statistic = StratifiedTable(tables).test_null_odds(correction=False).statistic
    # statsmodels reports 1 - cdf, which loses tiny p-values; the SAP uses sf.
    return float(chi2.sf(statistic, 1))


def ancova(change, baseline, treated) -> tuple[float, float, float, float]:
    """Arm coefficient of the OLS fit change ~ arm + baseline: estimate, 95% t CI, two-sided p.

    NaN when the design is rank-deficient (e.g. one common baseline), where the
    coefficient is not identified.
    """
    change = np.asarray(change, dtype=float)
    design = np.column_stack([np.ones(len(change)), np.asarray(treated, dtype=float), np.asarray(baseline, float)])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        return np.nan, np.nan, np.nan, np.nan
    fit = sm.OLS(change, design).fit()
    low, high = fit.conf_int(alpha=0.05)[1]
    return float(fit.params[1]), float(low), float(high), float(fit.pvalues[1])


def endpoint_summary(
    binary: pd.DataFrame,
    continuous: pd.DataFrame,
    groups: list[str],
    *,
    binary_endpoints: list[str],
    continuous_endpoints: list[str],
    reference: str | None,
) -> pd.DataFrame:
    """One row per endpoint and group, with comparisons against `reference` (None: none).

    binary: GROUP, STRATUM, ENDPOINT, INPOP, RESPONDER per participant and endpoint.
    continuous: GROUP, ENDPOINT, CHANGE, BASE for the observed cases.
    """
    compare = reference in groups
    rows = []
    for endpoint in binary_endpoints:
        population = binary[(binary["ENDPOINT"] == endpoint) & binary["INPOP"]]
        by_group = {g: population[population["GROUP"] == g] for g in groups}
        for group in groups:
            members = by_group[group]
            n, responders = len(members), int(members["RESPONDER"].sum())
            row = _row(endpoint, group, N=n, RESPONDERS=responders, PCT=100 * responders / n if n else np.nan)
            if compare and group != reference and n and len(by_group[reference]):
                ref = by_group[reference]
                pair = pd.concat([members, ref])
                row["REF_ARM"] = reference
                row["DIFF"], row["CI_LOW"], row["CI_HIGH"] = newcombe_difference(
                    responders, n, int(ref["RESPONDER"].sum()), len(ref)
                )
                row["P_VALUE"] = cmh_p_value(pair["GROUP"] == group, pair["RESPONDER"], pair["STRATUM"])
            rows.append(row)
    for endpoint in continuous_endpoints:
        observed = continuous[continuous["ENDPOINT"] == endpoint]
        by_group = {g: observed[observed["GROUP"] == g] for g in groups}
        for group in groups:
            members = by_group[group]
            n = len(members)
            change = members["CHANGE"]
            row = _row(endpoint, group, N=n, MEAN=change.mean() if n else np.nan,
                       SD=change.std(ddof=1) if n >= 2 else np.nan)  # fmt: skip
            if compare and group != reference and n and len(by_group[reference]):
                ref = by_group[reference]
                row["REF_ARM"] = reference
                if n + len(ref) > 3:
                    pair = pd.concat([members, ref])
                    row["DIFF"], row["CI_LOW"], row["CI_HIGH"], row["P_VALUE"] = ancova(
                        pair["CHANGE"], pair["BASE"], pair["GROUP"] == group
                    )
            rows.append(row)
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return summary.astype({"N": "Int64", "RESPONDERS": "Int64"})


def _row(endpoint: str, group: str, **values) -> dict:
    row = dict.fromkeys(SUMMARY_COLUMNS, np.nan)
    row.update({"ENDPOINT": endpoint, "ARM": group, "REF_ARM": "", "RESPONDERS": pd.NA, **values})
    return row
