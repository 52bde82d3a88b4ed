"""Server-side SVG charts for the site compliance page: no JavaScript, no plotting library.

Every text that reaches the SVG goes through `escape`; numbers are formatted here.
"""

from __future__ import annotations

from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from diaries.selectors import DONE, EXTRA, MISSED, NOT_EXPECTED, OPEN, Tally

COLOURS = {DONE: "#2e7d32", MISSED: "#c62828", OPEN: "#90caf9", NOT_EXPECTED: "#eeeeee", EXTRA: "#a5d6a7"}
LABELS = {DONE: "done", MISSED: "missed", OPEN: "window not closed yet", NOT_EXPECTED: "no diary due",
          EXTRA: "entry outside the compliance periods"}


# Estimated advance of a character at font-size 10 in a sans-serif face (generous: labels must fit).
CHAR_WIDTH = 6.2
MIN_LABEL_GAP = 3  # cells between two date labels: rotated labels closer than this overlap


def _text_width(text: str) -> float:
    return CHAR_WIDTH * len(text)


def completion_heatmap(grid, *, cell: int = 14, label_width: int = 150) -> SafeString:
    """One row per participant, one column per date; a cell's colour is its diary state.

    Date labels are rotated and kept at least MIN_LABEL_GAP cells apart; the legend wraps
    into rows within the chart's width; each cell is labelled for screen readers.
    """
    if not grid:
        return mark_safe('<p>No participants.</p>')
    dates: list[date] = [d for d, _ in grid[0][1]]
    top, right = 44, 28  # room for the rotated dates above, and for the last one reaching right
    legend = [(state, LABELS[state]) for state in (DONE, MISSED, OPEN, NOT_EXPECTED, EXTRA)]
    widest_item = max(14 + _text_width(text) for _, text in legend)
    width = max(label_width + cell * len(dates) + right, int(widest_item) + 8)
    rows: list[list[tuple[float, str, str]]] = [[]]
    x = 4.0
    for state, text in legend:
        item = 14 + _text_width(text)
        if rows[-1] and x + item > width - 4:
            rows.append([])
            x = 4.0
        rows[-1].append((x, state, text))
        x += item + 12
    legend_top = top + cell * len(grid) + 8
    height = legend_top + 16 * len(rows) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="group" '
             f'aria-label="Daily diary completion per participant" font-family="sans-serif" font-size="10">']
    shown = -MIN_LABEL_GAP
    for i, d in enumerate(dates):
        if (d.day == 1 or i == 0 or d.weekday() == 0) and i - shown >= MIN_LABEL_GAP:
            shown = i
            x = label_width + i * cell + cell / 2
            parts.append(f'<text x="{x:.1f}" y="{top - 6}" transform="rotate(-60 {x:.1f} {top - 6})" '
                         f'aria-hidden="true">{d:%d %b}</text>')
    for row, (participant, cells) in enumerate(grid):
        y = top + row * cell
        usubjid = escape(participant.usubjid)
        parts.append(f'<text x="{label_width - 4}" y="{y + cell - 3}" text-anchor="end">{usubjid}</text>')
        for i, (d, state) in enumerate(cells):
            label = f"{usubjid} {d.isoformat()}: {LABELS[state]}"
            parts.append(
                f'<rect x="{label_width + i * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{COLOURS[state]}" data-state="{state}" role="img" aria-label="{label}">'
                f'<title>{label}</title></rect>'
            )
    for r, items in enumerate(rows):
        y = legend_top + 16 * r + 10
        for x, state, text in items:
            parts.append(f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{COLOURS[state]}"/>'
                         f'<text x="{x + 14:.1f}" y="{y}">{text}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


def compliance_line(series: list[tuple[date, Tally]], *, width: int = 640, height: int = 220) -> SafeString:
    """Site compliance per date (completed / due diary days, %), with an 80% reference line."""
    points = [(d, t.pct) for d, t in series if t.pct is not None]
    if not points:
        return mark_safe("<p>No diary days due in this range yet.</p>")
    left, right, top, bottom = 40, 10, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(series)

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_of(pct: float) -> float:
        return top + plot_h * (1 - pct / 100)

    index = {d: i for i, (d, _) in enumerate(series)}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="Site compliance over time" font-family="sans-serif" font-size="10">']
    for pct in (0, 50, 80, 100):
        y = y_of(pct)
        dash = ' stroke-dasharray="4 3"' if pct == 80 else ""
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#bbb"{dash}/>'
                     f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{pct}%</text>')
    # The first and last dates are anchored inside the plot's ends; Mondays between them are
    # dropped when they would touch a label already placed.
    label_w = _text_width("00 Mmm")
    placed = [(x_of(0), x_of(0) + label_w)]
    labels = [(x_of(0), "start", series[0][0])]
    last = (x_of(n - 1) - label_w, x_of(n - 1))
    for i, (d, _) in enumerate(series[1:n - 1], start=1):
        x = x_of(i)
        box = (x - label_w / 2, x + label_w / 2)
        if d.weekday() == 0 and box[0] > placed[-1][1] + 4 and box[1] < last[0] - 4:
            placed.append(box)
            labels.append((x, "middle", d))
    if n > 1:
        labels.append((x_of(n - 1), "end", series[-1][0]))
    for x, anchor, d in labels:
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="{anchor}">{d:%d %b}</text>')
    path = " ".join(f"{'M' if k == 0 else 'L'}{x_of(index[d]):.1f},{y_of(p):.1f}" for k, (d, p) in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    for d, p in points:
        tally = series[index[d]][1]
        parts.append(f'<circle cx="{x_of(index[d]):.1f}" cy="{y_of(p):.1f}" r="2.5" fill="#1565c0">'
                     f'<title>{d.isoformat()}: {tally.completed}/{tally.expected} ({p}%)</title></circle>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
