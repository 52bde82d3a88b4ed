"""report.html of the transfer: its context, the endpoint table per arm and three PNG plots.

The report says what it is before any number: study and configuration version, data
cut-off, when it was generated, blinded or unblinded and for whom, N per arm, who was
left out, the method of each statistic (linked to definitions.md, shipped beside it),
and "not yet reached" for time points nobody has reached at the cut-off (never 0%).
Plain HTML (no JavaScript, no external resources), images by relative path. The PNGs
are drawn with matplotlib's Agg canvas at a fixed size and dpi and without the
"Software" text chunk, so the same outputs give the same bytes (their checksums go in
the manifest). Blinded outputs have a single group, ALL.
"""

from __future__ import annotations

import html
import math
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy.stats import t as t_distribution

from analysis.derived import BLINDED_GROUP
from analysis.inputs import describe_participant
from analysis.stats import wilson_interval
from analysis.transfer import arm_counts

REPORT_FILE = "report.html"
DEFINITIONS_FILE = "definitions.md"
DEFINITIONS_SOURCE = Path(__file__).with_name("definitions.md")
NOT_YET_REACHED = "not yet reached"
METHODS = [
    ("Binary endpoints", "missing values are non-responders (non-responder imputation, NRI)", "binary-endpoints"),
    ("Responder difference", "percentage points with the 95% Newcombe hybrid score interval (method 10, no "
     "continuity correction)", "newcombe-hybrid-score-interval"),
    ("Responder p-value", "two-sided Cochran-Mantel-Haenszel test stratified by STRATUM, no continuity correction",
     "cochran-mantel-haenszel-test"),
    ("Continuous endpoints", "observed cases; ANCOVA of the change on arm and baseline (OLS), the arm effect with "
     "its 95% t-interval and two-sided p-value", "ancova-on-baseline"),
    ("Data cut-off", "values and visits after it are ignored; a participant counts for a time point once its "
     "nominal last day is reached", "data-cut-off-and-evaluability"),
]


@dataclass(frozen=True)
class ReportContext:
    """What the report says about itself (also written into manifest.json)."""

    study: str
    as_of: date | None
    generated_at: datetime
    unblinded: bool
    study_name: str = ""
    configuration: str = ""
    requested_by: str = ""
    excluded: list[dict] = field(default_factory=list)  # USUBJID, SITEID, DAY1 of those left out
    not_yet_reached: list[str] = field(default_factory=list)

PLOT_ITCH = "report_itch_change.png"
PLOT_RESPONDERS = "report_nrs4_responders.png"
PLOT_PROMIS = "report_promis_raw.png"
FIGSIZE, DPI = (8.0, 4.5), 100
LAST_VC_DAY = 56  # the vehicle-controlled period: Days 1..56
H12_X = -2  # the 12-hour point, drawn a little left of Day 1 so its label stays readable
RESPONDER_WEEKS = (2, 4, 8)
ENDPOINT_LABELS = {
    "ITCH_CHG_H12": "Itch NRS change from baseline, 12 hours after first application",
    "ITCH_CHG_W2": "Itch NRS change from baseline, Week 2",
    "ITCH_CHG_W4": "Itch NRS change from baseline, Week 4",
    "ITCH_CHG_W8": "Itch NRS change from baseline, Week 8",
    "ITCH_NRS4_D2": "Itch NRS \u2265 4-point improvement, Day 2",
    "ITCH_NRS4_D7": "Itch NRS \u2265 4-point improvement, Day 7",
    "ITCH_NRS4_W2": "Itch NRS \u2265 4-point improvement, Week 2",
    "ITCH_NRS4_W4": "Itch NRS \u2265 4-point improvement, Week 4",
    "ITCH_NRS4_W8": "Itch NRS \u2265 4-point improvement, Week 8",
    "PROMIS_CHG_W8": "PROMIS SD 8b raw change from baseline, Week 8",
    "PROMIS_SD6_W2": "PROMIS SD 8b raw \u2265 6-point improvement, Week 2",
    "PROMIS_SD6_W4": "PROMIS SD 8b raw \u2265 6-point improvement, Week 4",
    "PROMIS_SD6_W8": "PROMIS SD 8b raw \u2265 6-point improvement, Week 8",
}
SUMMARY_HEADERS = ["Endpoint", "Arm", "N", "Responders", "%", "Mean", "SD", "Reference", "Difference",
                   "95% CI", "p-value"]  # fmt: skip


def write_report(outputs: dict[str, pd.DataFrame], directory, context: ReportContext) -> list[str]:
    """Write report.html, its PNGs and definitions.md into `directory`; returns the file names written."""
    directory = Path(directory)
    adqs, summary = outputs["adqs"], outputs["endpoint_summary"]
    groups = _groups(summary)
    plots = {
        PLOT_ITCH: ("Mean change from baseline in worst itch NRS by study day, with 95% CI bands",
                    itch_change_figure(adqs, groups)),
        PLOT_RESPONDERS: ("Itch NRS \u2265 4-point responders (NRI) at Weeks 2, 4 and 8, with 95% Wilson CIs",
                          responders_figure(summary, groups, context.not_yet_reached)),
        PLOT_PROMIS: ("PROMIS SD 8b raw score by week (mean)", promis_figure(adqs, groups)),
    }
    for name, (_, figure) in plots.items():
        save_png(figure, directory / name)
    shutil.copyfile(DEFINITIONS_SOURCE, directory / DEFINITIONS_FILE)
    arms = arm_counts(outputs)
    (directory / REPORT_FILE).write_text(_html(summary, groups, plots, context, arms), encoding="utf-8")
    return [REPORT_FILE, DEFINITIONS_FILE, *plots]


def save_png(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    # No "Software" chunk and no time stamp: the bytes depend on the data only.
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _groups(summary: pd.DataFrame) -> list[str]:
    groups = sorted({str(a) for a in summary["ARM"].astype(str) if a and a != "nan"})
    return groups or [BLINDED_GROUP]


def _group_column(adqs: pd.DataFrame) -> pd.Series:
    arm = adqs["ARM"].astype(object).where(adqs["ARM"].notna(), "").astype(str)
    return arm.where(arm != "", BLINDED_GROUP)


def _figure(title: str, xlabel: str, ylabel: str):
    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, color="#dddddd", linewidth=0.6)
    return figure, axes


def _legend(axes) -> None:
    if axes.get_legend_handles_labels()[0]:  # nothing to label when there are no data yet
        axes.legend(loc="best", fontsize=8)


def itch_change_figure(adqs: pd.DataFrame, groups: list[str]) -> Figure:
    """Mean CHG of the daily itch NRS by study day with its 95% t-interval band, and the 12-hour value."""
    figure, axes = _figure("Worst itch NRS: mean change from baseline (95% CI)", "Study day (H12 = 12 hours after "
                           "first application)", "Mean change from baseline")
    frame = adqs.assign(GROUP=_group_column(adqs), X=pd.to_numeric(adqs["AVISITN"]).astype(float),
                        CHG=pd.to_numeric(adqs["CHG"], errors="coerce"))
    daily = frame[(frame["PARAMCD"] == "ITCHNRS") & frame["X"].between(1, LAST_VC_DAY)]
    h12 = frame[(frame["PARAMCD"] == "ITCHH12") & (frame["AVISIT"] != "BASELINE")].assign(X=H12_X)
    stats = pd.concat([h12, daily]).dropna(subset=["CHG"]).groupby(["GROUP", "X"])["CHG"].agg(["mean", "std", "size"])
    for group in groups:
        if group in stats.index.get_level_values(0):
            series = stats.loc[group]
            line = axes.plot(series.index, series["mean"].to_numpy(), marker="o", markersize=2.5, linewidth=1.2,
                             label=group)[0]
            low, high = mean_ci(series["mean"], series["std"], series["size"])
            axes.fill_between(series.index, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    axes.axhline(0, color="#888888", linewidth=0.8)
    axes.set_xticks([H12_X, 1, 8, 15, 22, 29, 36, 43, 50, 57], ["H12", "1", "8", "15", "22", "29", "36", "43",
                                                               "50", "57"])
    _legend(axes)
    return figure


def mean_ci(mean: pd.Series, sd: pd.Series, n: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """95% t-interval of a mean (NaN where n < 2: a single value has no spread)."""
    n = n.to_numpy(dtype=float)
    half = np.full(len(n), np.nan)
    enough = n >= 2
    half[enough] = t_distribution.ppf(0.975, n[enough] - 1) * sd.to_numpy(dtype=float)[enough] / np.sqrt(n[enough])
    return mean.to_numpy(dtype=float) - half, mean.to_numpy(dtype=float) + half


def responders_figure(summary: pd.DataFrame, groups: list[str], not_reached=()) -> Figure:
    """Responder percentage per arm at Weeks 2, 4 and 8 with each arm's 95% Wilson interval.

    A Week nobody has reached has no bar but the words "not yet reached": never a 0% bar.
    """
    figure, axes = _figure("Itch NRS \u2265 4-point improvement (NRI), 95% CI", "Week", "Responders (%)")
    width = 0.8 / len(groups)
    x = np.arange(len(RESPONDER_WEEKS), dtype=float)
    for i, group in enumerate(groups):
        values, errors = [], [[], []]
        for week in RESPONDER_WEEKS:
            hit = summary[(summary["ENDPOINT"] == f"ITCH_NRS4_W{week}") & (summary["ARM"].astype(str) == group)]
            n = int(hit["N"].iloc[0]) if len(hit) and _present(hit["N"].iloc[0]) else 0
            if not n:
                values.append(np.nan)
                errors[0].append(0.0)
                errors[1].append(0.0)
                continue
            responders = int(hit["RESPONDERS"].iloc[0])
            low, high = wilson_interval(responders, n)
            pct = 100 * responders / n
            values.append(pct)
            # Clipped at 0: at 0% or 100% a Wilson limit can miss the estimate by a rounding error.
            errors[0].append(max(pct - 100 * low, 0.0))
            errors[1].append(max(100 * high - pct, 0.0))
        bars = axes.bar(x + (i - (len(groups) - 1) / 2) * width, values, width, label=group, yerr=errors,
                        capsize=3, error_kw={"linewidth": 0.8})
        axes.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.0f}%" for v in values], fontsize=7,
                       label_type="center")
    for position, week in enumerate(RESPONDER_WEEKS):
        if f"ITCH_NRS4_W{week}" in not_reached:
            axes.text(x[position], 50, NOT_YET_REACHED, ha="center", va="center", fontsize=9, color="#666666")
    axes.set_xticks(x, [f"Week {w}" for w in RESPONDER_WEEKS])
    axes.set_ylim(0, 100)
    _legend(axes)
    return figure


def promis_figure(adqs: pd.DataFrame, groups: list[str]) -> Figure:
    figure, axes = _figure("PROMIS SD 8b raw score (weekly mean)", "Week (0 = baseline)", "Mean raw score (8-40)")
    frame = adqs[adqs["PARAMCD"] == "PSDSB98W"]
    frame = frame.assign(GROUP=_group_column(frame), X=pd.to_numeric(frame["AVISITN"]).astype(float),
                         AVAL=pd.to_numeric(frame["AVAL"], errors="coerce"))
    means = frame.dropna(subset=["AVAL"]).groupby(["GROUP", "X"])["AVAL"].mean()
    for group in groups:
        if group in means.index.get_level_values(0):
            series = means.loc[group]
            axes.plot(series.index, series.to_numpy(), marker="o", markersize=3, linewidth=1.2, label=group)
    axes.set_xticks(range(0, 9))
    _legend(axes)
    return figure


def _html(summary: pd.DataFrame, groups: list[str], plots: dict, context: ReportContext,
          arms: dict[str, int]) -> str:
    blinded = groups == [BLINDED_GROUP]
    rows = []
    for record in summary.to_dict("records"):
        endpoint = str(record["ENDPOINT"])
        label = f'<td title="{html.escape(endpoint)}">{html.escape(ENDPOINT_LABELS.get(endpoint, endpoint))}</td>'
        arm = f"<td>{html.escape(str(record['ARM']))}</td>"
        if endpoint in context.not_yet_reached:
            rows.append(f'<tr class="not-reached">{label}{arm}<td class="n">0</td>'
                        f'<td colspan="{len(SUMMARY_HEADERS) - 3}">{NOT_YET_REACHED} at the data cut-off</td></tr>')
            continue
        ci = ""
        if _present(record.get("CI_LOW")) and _present(record.get("CI_HIGH")):
            ci = f"{_num(record['CI_LOW'], 2)} to {_num(record['CI_HIGH'], 2)}"
        cells = [
            label, arm,
            *(f'<td class="n">{value}</td>' for value in (
                _num(record.get("N"), 0), _num(record.get("RESPONDERS"), 0), _num(record.get("PCT"), 1),
                _num(record.get("MEAN"), 2), _num(record.get("SD"), 2))),
            f"<td>{html.escape(_text(record.get('REF_ARM')))}</td>",
            f'<td class="n">{_num(record.get("DIFF"), 2)}</td>',
            f'<td class="n">{ci}</td>',
            f'<td class="n">{_p_value(record.get("P_VALUE"))}</td>',
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in SUMMARY_HEADERS)
    figures = "\n".join(
        f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}" width="{int(FIGSIZE[0] * DPI)}" '
        f'height="{int(FIGSIZE[1] * DPI)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        for name, (caption, _) in plots.items()
    )
    methods = "\n".join(
        f'<li><strong>{html.escape(name)}</strong>: {html.escape(text)} '
        f'(<a href="{DEFINITIONS_FILE}#{anchor}">definition</a>)</li>'
        for name, text, anchor in METHODS if not (blinded and name in ("Responder difference", "Responder p-value"))
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Diary endpoints report: {html.escape(context.study)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.not-reached td {{ color: #777; font-style: italic; }}
dl#context {{ display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }}
dl#context dt {{ font-weight: bold; }}
figure {{ margin: 2em 0; }}
</style>
</head>
<body>
<h1>Diary endpoints report: {html.escape(context.study)}</h1>
{_context_list(context, arms, blinded)}
<h2>Methods</h2>
<ul id="methods">
{methods}
</ul>
<p>Every rule is defined in <a href="{DEFINITIONS_FILE}">definitions.md</a>, shipped with this report.</p>
<h2>Endpoint summary</h2>
<table id="endpoint-summary">
<thead><tr>{header}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<h2>Plots</h2>
{figures}
</body>
</html>
"""


def _context_list(context: ReportContext, arms: dict[str, int], blinded: bool) -> str:
    """The report's header: which study, which data, for whom."""
    if blinded:
        blinding = "Blinded: arms are not shown; the analysis set is one group, ALL, with no comparisons"
    else:
        blinding = "Unblinded"
    if context.requested_by:
        blinding += f", requested by {context.requested_by}"
    per_arm = ", ".join(f"{arm}: {n}" for arm, n in arms.items()) or "none"
    items = [
        ("Study", f"{context.study} {context.study_name}".strip()),
        ("Configuration version", context.configuration or "unknown"),
        ("Data cut-off", context.as_of.isoformat() if context.as_of else "none"),
        ("Generated at", context.generated_at.isoformat(timespec="seconds")),
        ("Blinding", blinding),
        ("Analysis set (N per arm)", f"{sum(arms.values())} participants; {per_arm}"),
        ("Not yet reached", ", ".join(context.not_yet_reached) or "none: every endpoint has been reached"),
    ]
    if context.excluded:
        listed = "; ".join(describe_participant(p) for p in context.excluded)
        items.append(("Excluded (no randomization)", f"{len(context.excluded)} excluded on request: {listed}"))
    body = "\n".join(f'<dt>{html.escape(k)}</dt><dd id="context-{_slug(k)}">{html.escape(v)}</dd>'
                      for k, v in items)
    return f'<dl id="context">\n{body}\n</dl>'


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-").replace("--", "-")


def _present(value) -> bool:
    if value is None or value is pd.NA:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return str(value) != ""


def _text(value) -> str:
    return str(value) if _present(value) else ""


def _num(value, decimals: int) -> str:
    if not _present(value):
        return ""
    number = float(value)
    return f"{number:.{decimals}f}" if decimals else f"{number:.0f}"


def _p_value(value) -> str:
    if not _present(value):
        return ""
    number = float(value)
    return "&lt;0.0001" if number < 0.0001 else f"{number:.4f}"
