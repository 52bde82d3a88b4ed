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


def completion_heatmap(grid, *, cell: int = 14, label_width: int = 150) -> SafeString:
    """One row per participant, one column per date; a cell's colour is its diary state."""
    if not grid:
        return mark_safe('<p>No participants.</p>')
    dates: list[date] = [d for d, _ in grid[0][1]]
    top = 40
    width = label_width + cell * len(dates) + 10
    height = top + cell * len(grid) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="Daily diary completion per participant" font-family="sans-serif" font-size="10">']
    for i, d in enumerate(dates):
        if d.day == 1 or i == 0 or d.weekday() == 0:
            x = label_width + i * cell + cell / 2
            parts.append(f'<text x="{x:.1f}" y="{top - 6}" transform="rotate(-60 {x:.1f} {top - 6})">'
                         f'{d:%d %b}</text>')
    for row, (participant, cells) in enumerate(grid):
        y = top + row * cell
        parts.append(f'<text x="{label_width - 4}" y="{y + cell - 3}" text-anchor="end">'
                     f'{escape(participant.usubjid)}</text>')
        for i, (d, state) in enumerate(cells):
            parts.append(
                f'<rect x="{label_width + i * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{COLOURS[state]}" data-state="{state}"><title>{escape(participant.usubjid)} '
                f'{d.isoformat()}: {LABELS[state]}</title></rect>'
            )
    y = top + cell * len(grid) + 16
    x = label_width
    for state in (DONE, MISSED, OPEN, NOT_EXPECTED, EXTRA):
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{COLOURS[state]}"/>'
                     f'<text x="{x + 14}" y="{y}">{LABELS[state]}</text>')
        x += 14 + 6 * len(LABELS[state]) + 12
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
    for i, (d, _) in enumerate(series):
        if i == 0 or i == n - 1 or d.weekday() == 0:
            parts.append(f'<text x="{x_of(i):.1f}" y="{height - 12}" text-anchor="middle">{d:%d %b}</text>')
    path = " ".join(f"{'M' if k == 0 else 'L'}{x_of(index[d]):.1f},{y_of(p):.1f}" for k, (d, p) in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="#1565c0" stroke-width="2"/>')
    for d, p in points:
        tally = series[index[d]][1]
        parts.append(f'<circle cx="{x_of(index[d]):.1f}" cy="{y_of(p):.1f}" r="2.5" fill="#1565c0">'
                     f'<title>{d.isoformat()}: {tally.completed}/{tally.expected} ({p}%)</title></circle>')
    parts.append("</svg>")
    return mark_safe("".join(parts))
