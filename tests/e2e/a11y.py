"""Accessibility checks run in the page: axe-core (vendored, MPL-2.0) plus the diary's own rules.

axe covers labels, roles, names, contrast and the lang attribute; the extra checks cover
what axe cannot judge alone: touch targets of at least 44 CSS px and radio groups inside
fieldsets with a legend.
"""

from __future__ import annotations

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

_TARGETS = """() => {
  const small = [];
  const targets = document.querySelectorAll(
    'button, a.button, a.change, .foot nav a, label.tile, label.option, .link-button');
  for (const el of targets) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.width < 44 || r.height < 44) small.push(`${el.outerHTML.slice(0, 80)} ${r.width}x${r.height}`);
  }
  return small;
}"""

_GROUPS = """() => {
  const problems = [];
  for (const radio of document.querySelectorAll('input[type=radio]')) {
    const fieldset = radio.closest('fieldset');
    if (!fieldset || !fieldset.querySelector('legend') || !fieldset.querySelector('legend').textContent.trim())
      problems.push(`radio ${radio.name}=${radio.value} is not in a fieldset with a legend`);
    if (!radio.labels || radio.labels.length === 0 || !radio.labels[0].textContent.trim())
      problems.push(`radio ${radio.name}=${radio.value} has no label`);
  }
  if (!['en', 'es'].includes(document.documentElement.lang)) problems.push('no lang on <html>');
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
  return problems;
}"""


def check_page(page) -> dict:
    """Run every check; returns the findings (the serious ones make the test fail)."""
    result = page.evaluate(
        "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }",
        AXE_TAGS,
    )
    serious = [v for v in result if v["impact"] in ("serious", "critical")]
    return {
        "serious": serious,
        "other": [v for v in result if v not in serious],
        "small_targets": page.evaluate(_TARGETS),
        "structure": page.evaluate(_GROUPS),
    }


def assert_accessible(page, name: str):
    found = check_page(page)
    failures = found["serious"] + found["small_targets"] + found["structure"]
    assert not failures, f"{name}: accessibility problems: {failures}"
    return found
