"""report.html of the transfer: the endpoint table per arm and three PNG plots.

Plain HTML (no JavaScript, no external resources), images by relative path. The PNGs
are drawn with matplotlib's Agg canvas at a fixed size and dpi and without the
"Software" text chunk, so the same outputs give the same bytes (their checksums go in
the manifest). Blinded outputs have a single group, ALL.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.endpoints import BLINDED_GROUP

REPORT_FILE = "report.html"
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


def write_report(outputs: dict[str, pd.DataFrame], directory) -> list[str]:
    """Write report.html and its PNGs into `directory`; returns the file names written."""
    directory = Path(directory)
    adqs, summary = outputs["adqs"], outputs["endpoint_summary"]
    groups = _groups(summary)
    plots = {
        PLOT_ITCH: ("Mean change from baseline in worst itch NRS by study day", itch_change_figure(adqs, groups)),
        PLOT_RESPONDERS: ("Itch NRS \u2265 4-point responders (NRI) at Weeks 2, 4 and 8",
                          responders_figure(summary, groups)),
        PLOT_PROMIS: ("PROMIS SD 8b raw score by week (mean)", promis_figure(adqs, groups)),
    }
    for name, (_, figure) in plots.items():
        save_png(figure, directory / name)
    (directory / REPORT_FILE).write_text(_html(summary, groups, plots), encoding="utf-8")
    return [REPORT_FILE, *plots]


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
    """Mean CHG of the daily itch NRS by study day, with the 12-hour value at Day 1 hour 12."""
    figure, axes = _figure("Worst itch NRS: mean change from baseline", "Study day (H12 = 12 hours after first "
                           "application)", "Mean change from baseline")
    frame = adqs.assign(GROUP=_group_column(adqs), X=pd.to_numeric(adqs["AVISITN"]).astype(float),
                        CHG=pd.to_numeric(adqs["CHG"], errors="coerce"))
    daily = frame[(frame["PARAMCD"] == "ITCHNRS") & frame["X"].between(1, LAST_VC_DAY)]
    h12 = frame[(frame["PARAMCD"] == "ITCHH12") & (frame["AVISIT"] != "BASELINE")].assign(X=H12_X)
    means = pd.concat([h12, daily]).dropna(subset=["CHG"]).groupby(["GROUP", "X"])["CHG"].mean()
    for group in groups:
        if group in means.index.get_level_values(0):
            series = means.loc[group]
            axes.plot(series.index, series.to_numpy(), marker="o", markersize=2.5, linewidth=1.2, label=group)
    axes.axhline(0, color="#888888", linewidth=0.8)
    axes.set_xticks([H12_X, 1, 8, 15, 22, 29, 36, 43, 50, 57], ["H12", "1", "8", "15", "22", "29", "36", "43",
                                                               "50", "57"])
    _legend(axes)
    return figure


def responders_figure(summary: pd.DataFrame, groups: list[str]) -> Figure:
    figure, axes = _figure("Itch NRS \u2265 4-point improvement (NRI)", "Week", "Responders (%)")
    pct = pd.to_numeric(summary["PCT"], errors="coerce")
    width = 0.8 / len(groups)
    x = np.arange(len(RESPONDER_WEEKS), dtype=float)
    for i, group in enumerate(groups):
        values = []
        for week in RESPONDER_WEEKS:
            hit = pct[(summary["ENDPOINT"] == f"ITCH_NRS4_W{week}") & (summary["ARM"].astype(str) == group)]
            values.append(float(hit.iloc[0]) if len(hit) and not math.isnan(hit.iloc[0]) else 0.0)
        bars = axes.bar(x + (i - (len(groups) - 1) / 2) * width, values, width, label=group)
        axes.bar_label(bars, fmt="%.0f%%", fontsize=7)
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


def _html(summary: pd.DataFrame, groups: list[str], plots: dict) -> str:
    blinded = groups == [BLINDED_GROUP]
    rows = []
    for record in summary.to_dict("records"):
        endpoint = str(record["ENDPOINT"])
        ci = ""
        if _present(record.get("CI_LOW")) and _present(record.get("CI_HIGH")):
            ci = f"{_num(record['CI_LOW'], 2)} to {_num(record['CI_HIGH'], 2)}"
        cells = [
            f'<td title="{html.escape(endpoint)}">{html.escape(ENDPOINT_LABELS.get(endpoint, endpoint))}</td>',
            f"<td>{html.escape(str(record['ARM']))}</td>",
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
    note = ("Blinded: arms are not shown; every participant of the analysis set is in one group, ALL, "
            "and there are no comparisons." if blinded else
            "Differences are against the reference arm: percentage points with a 95% Wald CI and a CMH p-value "
            "stratified by STRATUM (binary endpoints), or the ANCOVA arm effect adjusted for baseline with its "
            "95% CI and p-value (continuous endpoints).")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Diary endpoints report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ margin: 2em 0; }}
</style>
</head>
<body>
<h1>Diary endpoints report</h1>
<p>Groups: {html.escape(", ".join(groups))}. {html.escape(note)} Missing responses are non-responders (NRI);
continuous endpoints are observed cases. Definitions: ENDPOINTS.md.</p>
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
