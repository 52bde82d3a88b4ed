"""The study admin in a real browser on a laptop (1366x768) and a desktop (1920x1080) screen.

Signed in as the coordinator of demo site 101 after the demo a newcomer gets (`load_demo`
and a short `simulate_trial`), every page a coordinator uses is measured: the page never
scrolls sideways and no table inside it does either, no table column is narrower than
48 px, every text label of a chart lies inside its chart, and axe-core finds nothing
serious (folded sections are opened before they are measured). The participant page
starts with its summary band above the fold, its actions and "History" work in the browser,
and an alert's buttons each mean one thing. Screenshots of every page are kept in
EPRP_VAR_DIR/artifacts/console/ (e.g. var/ci/artifacts/console/ in CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db.models import Count
from playwright.sync_api import expect

from analysis import demo as analysis_demo
from diaries import roles
from diaries.models import Alert, AlertStatus, Participant, Site, Study
from tests.e2e.a11y import check_page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SCREENS = {"laptop": {"width": 1366, "height": 768}, "desktop": {"width": 1920, "height": 1080}}
PASSWORD = "correct-horse-battery-9"
MIN_COLUMN = 48


def artifacts() -> Path:
    folder = Path(settings.VAR_DIR) / "artifacts" / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Findings on the page, each "check: where: what". A column is a table cell of its own
# (colspan 1); the row-selection checkbox column of a changelist is not a column of data.
MEASURE = """(minColumn) => {
  const found = [];
  const visible = (el) => el.checkVisibility({visibilityProperty: true}) && el.getClientRects().length > 0;
  const name = (el) => {
    const id = el.closest('[id]');
    return (id ? '#' + id.id + ' ' : '') + el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  };
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1)
    found.push(`page-overflow: html: ${root.scrollWidth} px wide in a ${window.innerWidth} px window`);
  for (const el of document.querySelectorAll('body *')) {
    if (!visible(el)) continue;
    const style = getComputedStyle(el);
    if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1)
      found.push(`sideways-scroll: ${name(el)}: ${el.scrollWidth} px of content in ${el.clientWidth} px`);
  }
  for (const table of document.querySelectorAll('table')) {
    if (!visible(table)) continue;
    const narrowest = new Map();
    for (const row of table.rows) {
      for (const cell of row.cells) {
        if (cell.colSpan !== 1 || !visible(cell) || !cell.textContent.trim()) continue;
        if (cell.classList.contains('action-checkbox') || cell.classList.contains('action-checkbox-column')) continue;
        const width = cell.getBoundingClientRect().width;
        if (!narrowest.has(cell.cellIndex) || width < narrowest.get(cell.cellIndex)[0])
          narrowest.set(cell.cellIndex, [width, cell.textContent.trim().slice(0, 30)]);
      }
    }
    for (const [index, [width, text]] of narrowest) {
      if (width < minColumn)
        found.push(`narrow-column: ${name(table)} column ${index + 1} ("${text}"): ${width.toFixed(1)} px`);
    }
  }
  for (const svg of document.querySelectorAll('svg')) {
    if (!visible(svg) || svg.closest('a, button')) continue;
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')];
    const boxes = texts.map((t) => t.getBoundingClientRect());
    texts.forEach((t, i) => {
      const r = boxes[i];
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        found.push(`svg-label-outside: ${name(svg)}: "${t.textContent}" at ${r.left.toFixed(0)}..${r.right.toFixed(0)}`
                   + ` x ${r.top.toFixed(0)}..${r.bottom.toFixed(0)}, chart ${box.left.toFixed(0)}..${box.right.toFixed(0)}`
                   + ` x ${box.top.toFixed(0)}..${box.bottom.toFixed(0)}`);
      for (let j = i + 1; j < texts.length; j++) {
        const o = boxes[j];
        const w = Math.min(r.right, o.right) - Math.max(r.left, o.left);
        const h = Math.min(r.bottom, o.bottom) - Math.max(r.top, o.top);
        if (w > 1 && h > 1)
          found.push(`svg-label-overlap: ${name(svg)}: "${t.textContent}" and "${texts[j].textContent}"`);
      }
    });
  }
  return found;
}"""


@pytest.fixture
def demo(tmp_path, django_user_model):
    """The demo of `make run` (load_demo, then a short simulated trial) and a coordinator of site 101."""
    call_command("load_demo")
    # As `make run` does: every demo participant with a Day 1 is randomized, so its export is never pooled.
    analysis_demo.randomize_demo(Study.objects.get(code="TRUE-AD"))
    call_command("simulate_trial", participants=8, weeks=1, seed=19, quiet=True, output=tmp_path / "transfer")
    roles.setup_roles()
    site = Site.objects.get(study=Study.objects.get(code="TRUE-AD"), number="101")
    user = django_user_model.objects.create_user("coordinator", "coordinator@example.org", PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.SITE_STAFF))
    site.staff.add(user)
    # The participant with an open alert and the most diary records: the fullest page.
    alert = (Alert.objects.filter(site=site, status=AlertStatus.OPEN, participant__isnull=False)
             .annotate(n=Count("participant__diary_records")).order_by("-n", "-created_at").first())
    assert alert is not None, "the demo has an open alert at site 101"
    busiest = (Participant.objects.filter(site=site).annotate(n=Count("diary_records"))
               .order_by("-n", "usubjid").first())
    return {"site": site, "participant": alert.participant, "busiest": busiest, "alert": alert}


def sign_in(browser, base_url: str, screen: dict):
    context = browser.new_context(viewport=screen, base_url=base_url)
    context.add_init_script(path=str(Path(__file__).parent / "vendor" / "axe.min.js"))
    page = context.new_page()
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")
    return context, page


def console_pages(page, demo) -> dict[str, str]:
    """The home page, every list the home page offers this coordinator, the participant and compliance pages."""
    lists = page.eval_on_selector_all(
        "#content-main .module table a[href$='/']:not(.addlink)",
        "links => [...new Set(links.map(a => new URL(a.href).pathname))]",
    )
    assert len(lists) >= 8, lists
    pages = {"home": "/admin/"}
    pages.update({path.strip("/").replace("admin/", "").replace("/", "-"): path for path in lists})
    pages["participant"] = f"/admin/diaries/participant/{demo['participant'].pk}/change/"
    pages["participant-records"] = f"/admin/diaries/participant/{demo['busiest'].pk}/change/"
    pages["compliance"] = f"/admin/diaries/site/{demo['site'].pk}/compliance/"
    pages["alert"] = f"/admin/diaries/alert/{demo['alert'].pk}/change/"
    return pages


@pytest.mark.parametrize("screen", SCREENS)
def test_every_console_page_fits_the_screen_and_passes_axe(browser, live_server, demo, screen):
    context, page = sign_in(browser, live_server.url, SCREENS[screen])
    try:
        problems = []
        for name, path in console_pages(page, demo).items():
            response = page.goto(path)
            assert response.status == 200, (path, response.status)
            page.screenshot(path=str(artifacts() / f"{screen}-{name}.png"), full_page=True)
            page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
            problems += [f"{name}: {finding}" for finding in page.evaluate(MEASURE, MIN_COLUMN)]
            problems += [f"{name}: axe {v['id']} ({v['impact']}): {v['help']} {v['nodes']}"
                         for v in check_page(page)["serious"]]
    finally:
        context.close()
    assert not problems, f"{screen}:\n" + "\n".join(problems)


def test_the_participant_page_starts_with_its_summary_band_and_its_actions_work(browser, live_server, demo):
    p, alert = demo["participant"], demo["alert"]
    context, page = sign_in(browser, live_server.url, SCREENS["laptop"])
    try:
        page.goto(f"/admin/diaries/participant/{p.pk}/change/")
        band = page.locator("#summary")
        box = band.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= SCREENS["laptop"]["height"], box
        text = band.inner_text()
        for expected in ["Phase", "Diaries, last 7 closed days", "Missed in a row", "Last diary", "Next prompt",
                         "SMS", "Opted in", alert.detail]:
            assert expected in text, expected
        page.screenshot(path=str(artifacts() / "laptop-participant-above-the-fold.png"))

        # "History" opens the audit trail of this page, folded until then.
        assert not page.locator("#audit-trail").evaluate("d => d.open")
        page.get_by_role("link", name="History", exact=True).click()
        expect(page.locator("#history table")).to_be_visible()
        assert page.locator("#audit-trail").evaluate("d => d.open")
        assert page.locator("#history").get_by_text("participant.enroll").count() >= 1

        # The band's buttons post the site's action (they are not swallowed by the record's form).
        page.get_by_role("button", name="Pause SMS").click()
        expect(page.get_by_text("SMS paused for 1 participant(s).")).to_be_visible()
        p.refresh_from_db()
        assert p.opted_out
        page.goto(f"/admin/diaries/participant/{p.pk}/change/")
        assert "Opted out" in page.locator("#summary").inner_text()
        page.get_by_role("button", name="Resume SMS").click()
        expect(page.get_by_text("SMS resumed for 1 participant(s).")).to_be_visible()
        p.refresh_from_db()
        assert not p.opted_out
    finally:
        context.close()


def test_an_alert_page_has_one_meaning_per_button(browser, live_server, demo):
    alert = demo["alert"]
    context, page = sign_in(browser, live_server.url, SCREENS["laptop"])
    try:
        page.goto(f"/admin/diaries/alert/{alert.pk}/change/")
        # The navigation sidebar starts collapsed; opened, it stays open from page to page.
        assert "shifted" not in page.locator("#main").get_attribute("class")
        assert not page.locator("#nav-sidebar").is_visible()
        page.locator("#toggle-nav-sidebar").click()
        expect(page.locator("#nav-sidebar")).to_be_visible()
        page.reload()
        expect(page.locator("#nav-sidebar")).to_be_visible()
        page.locator("#toggle-nav-sidebar").click()
        main = page.locator("#content")
        assert main.get_by_role("link", name="Close", exact=True).count() == 0
        assert main.get_by_role("button", name="Close", exact=True).count() == 0
        assert main.get_by_role("link", name="Close with a note").count() == 1
        assert main.get_by_role("link", name="Back to alerts").get_attribute("href") == "/admin/diaries/alert/"

        page.get_by_role("button", name="Acknowledge").click()
        expect(main.get_by_role("button", name="Acknowledge")).to_have_count(0)
        alert.refresh_from_db()
        assert alert.status == AlertStatus.ACKNOWLEDGED

        # "History" is the alert's audit trail, not Django's empty change history.
        page.get_by_role("link", name="History", exact=True).click()
        page.wait_for_url("**/admin/diaries/auditevent/?**")
        results = page.locator("#result_list").inner_text()
        assert "alert opened: " + alert.detail in results and "coordinator\talert acknowledged" in results, results
    finally:
        context.close()


def test_a_new_coordinator_finds_who_missed_yesterday_why_alerts_fired_and_who_changed_what(browser, live_server,
                                                                                         demo):
    site = demo["site"]
    context, page = sign_in(browser, live_server.url, SCREENS["laptop"])
    try:
        today = page.locator("#site-shortcuts")
        expect(today.get_by_text("Today, per site")).to_be_visible()
        row = today.locator("tbody tr", has_text=str(site))
        missed = int(row.locator("td").nth(0).inner_text())
        row.locator("td").nth(0).get_by_role("link").click()
        page.wait_for_url("**compliance=missed1**")
        assert page.locator("#result_list tbody tr").count() == missed
        page.screenshot(path=str(artifacts() / "laptop-who-missed-yesterday.png"))

        page.goto("/admin/")
        today.locator("tbody tr", has_text=str(site)).locator("ul.alert-counts a").first.click()
        page.wait_for_url("**/admin/diaries/alert/**")  # the list has loaded before its headers are read
        page.locator("#result_list thead th").first.wait_for()
        headers = page.locator("#result_list thead th").all_text_contents()
        assert [h.strip() for h in headers if h.strip()][:2] == ["Why", "Participant"], headers
        page.locator("#result_list tbody tr th a").first.click()
        assert page.locator(".field-what_to_do .readonly").inner_text().strip(), "each alert says what to do"
        page.screenshot(path=str(artifacts() / "laptop-why-and-what-to-do.png"))

        page.goto("/admin/diaries/auditevent/")
        headers = [h.strip() for h in page.locator("#result_list thead th").all_text_contents()]
        assert headers == ["When", "Participant", "Who", "What", "Reason"], headers
        assert "enrolled at site 101" in page.locator("#result_list").inner_text()
        page.screenshot(path=str(artifacts() / "laptop-who-changed-what.png"))
    finally:
        context.close()
