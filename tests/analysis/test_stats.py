"""Statistics checked against independent textbook computations written out with numpy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from analysis.stats import Z_95, ancova, cmh_p_value, endpoint_summary, newcombe_difference, wilson_interval


def textbook_cmh(treated, responder, strata):
    """Mantel-Haenszel chi-square without continuity correction, strata of n < 2 dropped."""
    numerator = variance = 0.0
    for stratum in set(strata):
        inside = np.array([s == stratum for s in strata])
        t, r = np.asarray(treated)[inside], np.asarray(responder)[inside]
        n = inside.sum()
        if n < 2:
            continue
        a = np.sum(t & r)
        n1, m1 = t.sum(), r.sum()
        numerator += a - n1 * m1 / n
        variance += n1 * (n - n1) * m1 * (n - m1) / (n**2 * (n - 1))
    if variance == 0:
        return np.nan
    return scipy_stats.chi2.sf(numerator**2 / variance, 1)


def test_cmh_matches_the_textbook_formula_with_degenerate_and_singleton_strata():
    rng = np.random.default_rng(7)
    n = 60
    strata = rng.choice(["IGA2", "IGA3", ""], n).tolist()
    treated = rng.random(n) < 0.6
    responder = rng.random(n) < np.where(treated, 0.5, 0.2)
    strata += ["LONE", "ONLY-TREATED", "ONLY-TREATED"]  # dropped; no variance
    treated = np.append(treated, [True, True, True])
    responder = np.append(responder, [True, True, False])
    expected = textbook_cmh(treated, responder, strata)
    assert 0 < expected < 1
    assert cmh_p_value(treated, responder, strata) == pytest.approx(expected, rel=1e-12)


def test_cmh_is_empty_when_the_summed_variance_is_zero():
    # Everyone responded: every stratum has a zero margin.
    assert np.isnan(cmh_p_value([True, False, True, False], [True] * 4, ["A", "A", "B", "B"]))
    # Only singleton strata: all dropped.
    assert np.isnan(cmh_p_value([True, False], [True, False], ["A", "B"]))


def test_cmh_keeps_tiny_p_values_that_one_minus_cdf_would_round_to_zero():
    treated = [True] * 200 + [False] * 200
    responder = [True] * 200 + [False] * 200
    p = cmh_p_value(treated, responder, ["A"] * 400)
    assert 0 < p < 1e-80


# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score, no
# continuity correction): the published limits of the difference, to 4 decimals.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "published"), NEWCOMBE_TABLE_II)
def test_newcombe_interval_matches_the_published_worked_examples(counts, published):
    diff, low, high = newcombe_difference(*counts)
    x1, n1, x0, n0 = counts
    assert diff == pytest.approx(100 * x1 / n1 - 100 * x0 / n0)
    assert (round(low / 100, 4), round(high / 100, 4)) == published


def test_56_of_70_against_48_of_80_is_5_24_to_33_39_points():
    diff, low, high = newcombe_difference(56, 70, 48, 80)
    assert diff == pytest.approx(20) and f"{low:.2f} to {high:.2f}" == "5.24 to 33.39"


def test_zero_responders_in_both_arms_is_not_a_degenerate_interval():
    diff, low, high = newcombe_difference(0, 12, 0, 9)
    assert diff == 0 and low < -20 and high > 20
    assert low == pytest.approx(-100 * wilson_interval(0, 9)[1]) and high == pytest.approx(100 * wilson_interval(0, 12)[1])


def test_newcombe_interval_stays_within_minus_and_plus_100():
    for counts in [(10, 10, 0, 10), (0, 10, 10, 10), (1, 1, 0, 1), (0, 1, 1, 1)]:
        diff, low, high = newcombe_difference(*counts)
        assert -100 <= low <= diff <= high <= 100


def test_wilson_interval_against_the_closed_form():
    low, high = wilson_interval(3, 10)
    z = Z_95
    centre, half = (3 + z * z / 2) / (10 + z * z), z * np.sqrt(10) / (10 + z * z) * np.sqrt(0.21 + z * z / 40)
    assert (low, high) == pytest.approx((centre - half, centre + half), rel=1e-12)


def textbook_ancova(change, baseline, treated):
    design = np.column_stack([np.ones(len(change)), treated, baseline]).astype(float)
    beta, rss, *_ = np.linalg.lstsq(design, change, rcond=None)
    df = len(change) - 3
    sigma2 = rss[0] / df
    se = np.sqrt(sigma2 * np.linalg.inv(design.T @ design)[1, 1])
    t_crit = scipy_stats.t.ppf(0.975, df)
    p = 2 * scipy_stats.t.sf(abs(beta[1] / se), df)
    return beta[1], beta[1] - t_crit * se, beta[1] + t_crit * se, p


def test_ancova_matches_least_squares_and_the_t_distribution():
    rng = np.random.default_rng(11)
    baseline = rng.uniform(4, 9, 40)
    treated = rng.random(40) < 0.5
    change = -0.3 * baseline - 2.0 * treated + rng.normal(0, 1, 40)
    assert ancova(change, baseline, treated) == pytest.approx(textbook_ancova(change, baseline, treated), rel=1e-9)


def test_ancova_is_empty_when_the_arm_effect_is_not_identified():
    # Baseline separates the arms exactly: arm and baseline are collinear with the intercept.
    result = ancova([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 7.0, 7.0], [True, True, False, False])
    assert all(np.isnan(result))


def summary(binary_rows, continuous_rows, groups, reference="VEHICLE"):
    binary = pd.DataFrame(binary_rows, columns=["GROUP", "STRATUM", "ENDPOINT", "INPOP", "RESPONDER"])
    continuous = pd.DataFrame(continuous_rows, columns=["GROUP", "ENDPOINT", "CHANGE", "BASE"])
    frame = endpoint_summary(binary, continuous, groups, binary_endpoints=["B"], continuous_endpoints=["C"],
                             reference=reference)  # fmt: skip
    return {(r["ENDPOINT"], r["ARM"]): r for r in frame.to_dict("records")}


def test_summary_rows_for_arms_without_observations_and_reference_rules():
    out = summary(
        [("RUX15", "A", "B", True, True), ("RUX15", "A", "B", True, False), ("VEHICLE", "A", "B", True, False),
         ("RUX075", "A", "B", False, False)],
        [("RUX15", "C", -3.0, 7.0), ("RUX15", "C", -1.0, 6.0), ("VEHICLE", "C", 0.0, 8.0)],
        ["RUX075", "RUX15", "VEHICLE"],
    )  # fmt: skip
    empty = out[("B", "RUX075")]
    assert (empty["N"], empty["RESPONDERS"], empty["REF_ARM"]) == (0, 0, "") and pd.isna(empty["PCT"])
    rux = out[("B", "RUX15")]
    assert (rux["N"], rux["RESPONDERS"], rux["PCT"], rux["REF_ARM"], rux["DIFF"]) == (2, 1, 50, "VEHICLE", 50)
    ref = out[("B", "VEHICLE")]
    assert ref["REF_ARM"] == "" and pd.isna(ref["DIFF"]) and pd.isna(ref["P_VALUE"])
    c = out[("C", "RUX15")]
    # N = 3 in total: REF_ARM is carried, the ANCOVA is not fitted.
    assert (c["N"], c["MEAN"], c["SD"], c["REF_ARM"]) == (2, -2, np.sqrt(2), "VEHICLE") and pd.isna(c["DIFF"])
    assert pd.isna(c["RESPONDERS"]) and pd.isna(out[("C", "VEHICLE")]["SD"])
    assert pd.isna(out[("C", "RUX075")]["MEAN"]) and out[("C", "RUX075")]["N"] == 0


def test_no_comparisons_without_the_reference_arm():
    out = summary([("RUX15", "A", "B", True, True)], [("RUX15", "C", -1.0, 5.0)] * 5, ["RUX15"])
    assert out[("B", "RUX15")]["REF_ARM"] == "" and out[("C", "RUX15")]["REF_ARM"] == ""
