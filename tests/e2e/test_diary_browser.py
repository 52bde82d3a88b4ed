"""The patient web diary in a real browser on a 360x740 phone: the whole evening diary, corrections,
the closed window, bad links, another participant's data, and an accessibility check of each page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest

from diaries.models import Alert, DiaryRecord
from diaries.patient.web import links
from tests.e2e.a11y import assert_accessible
from tests.e2e.conftest import ARTIFACTS, screenshot, zone_where_local_time_is

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PROMIS = ["A little bit", "Quite a bit", "Somewhat", "Not at all", "Often", "Rarely", "Sometimes", "Good"]


def open_zone() -> str:
    """A zone where the diary window (17:00-03:00) is open now, with at least half an hour left."""
    return zone_where_local_time_is(20.0, earliest=17.0, latest=2.5)


def closed_zone() -> str:
    return zone_where_local_time_is(10.0, earliest=4.0, latest=16.0)


def path_of(link: str) -> str:
    return urlparse(link).path


def answer_diary(page, itch: str, promis: list[str], *, check=None):
    """Tap through the itch scale, the eight sleep items and the review, as a patient would."""
    page.get_by_role("link", name="Start today's diary").or_(page.get_by_role("link", name="Change my answers")).click()
    page.wait_for_url("**/diary/today/1/")
    if check:
        check(page, "02-itch")
    assert page.locator("input[type=radio]:checked").count() == 0
    page.get_by_role("radio", name=itch, exact=True).check()
    page.get_by_role("button", name="Next").click()
    for n, label in enumerate(promis, start=2):
        page.wait_for_url(f"**/diary/today/{n}/")
        if check and n == 2:
            check(page, "03-sleep-item")
        assert page.locator("input[type=radio]:checked").count() == 0, "nothing is pre-selected"
        page.get_by_role("radio", name=label, exact=True).check()
        page.get_by_role("button", name="Next").click()
    page.wait_for_url("**/diary/today/review/")
    if check:
        check(page, "04-review")
    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_url("**/diary/today/done/")


def test_a_patient_completes_the_whole_evening_diary(phone, participant_factory):
    p = participant_factory(open_zone())
    ph = phone()
    page = ph.page
    started = time.perf_counter()
    page.goto(path_of(links.make_link(p)))
    page.wait_for_url("**/diary/")
    answer_diary(page, "7", PROMIS)
    elapsed = time.perf_counter() - started
    confirmation = page.get_by_role("status").inner_text()
    diary_date = DiaryRecord.objects.get(participant=p, instrument="ITCH_NRS").diary_date
    assert "Your answers for" in confirmation and str(diary_date.year) in confirmation
    assert f"{diary_date.day}, {diary_date.year}" in confirmation
    screenshot(page, "05-done")
    itch = DiaryRecord.objects.current().get(participant=p, instrument="ITCH_NRS")
    promis = DiaryRecord.objects.current().get(participant=p, instrument="PROMIS_SD8B")
    assert itch.derived == {"itch": 7} and itch.channel == "web"
    assert [a["option"] for a in promis.answers] == [2, 4, 3, 1, 4, 2, 3, 4]
    ARTIFACTS.parent.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS.parent / "diary-timing.txt").write_text(
        f"full evening diary (link to confirmation, 9 items + review), automated: {elapsed:.2f} s\n")
    print(f"\nfull evening diary in the browser: {elapsed:.2f} s")
    assert elapsed < 60


def test_back_navigation_and_keyboard_only(phone, participant_factory):
    p = participant_factory(open_zone())
    page = phone().page
    page.goto(path_of(links.make_link(p)))
    page.get_by_role("link", name="Start today's diary").click()
    # Keyboard only: tab into the scale, arrow to a value, tab to Next, press Enter.
    radio0 = page.get_by_role("radio", name="0", exact=True)
    radio0.focus()
    page.keyboard.press("Space")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("radio", name="2", exact=True).is_checked()
    page.get_by_role("button", name="Next").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/diary/today/2/")
    # Next without an answer: stays, says why, stores nothing.
    page.get_by_role("button", name="Next").click()
    assert page.get_by_role("alert").inner_text() == "Please choose an answer."
    page.get_by_role("link", name="Back").click()
    page.wait_for_url("**/diary/today/1/")
    assert page.get_by_role("radio", name="2", exact=True).is_checked(), "back shows the patient's own answer"
    assert not DiaryRecord.objects.filter(participant=p).exists()


def test_correcting_inside_the_window_supersedes(phone, participant_factory):
    p = participant_factory(open_zone())
    page = phone().page
    page.goto(path_of(links.make_link(p)))
    answer_diary(page, "8", PROMIS)
    page.get_by_role("link", name="Home").first.click()
    assert "You already completed today's diary." in page.content()
    assert "You can change your answers until 3:00 AM." in page.content()
    screenshot(page, "06-home-already-done")
    answer_diary(page, "2", ["Very much", "Not at all", "A little bit", "Somewhat", "Never", "Always", "Often", "Poor"])
    assert "Your changed answers for" in page.get_by_role("status").inner_text()
    current = DiaryRecord.objects.current().get(participant=p, instrument="ITCH_NRS")
    assert current.derived == {"itch": 2} and current.supersedes.derived == {"itch": 8}
    assert DiaryRecord.objects.filter(participant=p).count() == 4


def test_outside_the_window_the_patient_is_told_when_it_opens(phone, participant_factory):
    zone = closed_zone()
    p = participant_factory(zone)
    page = phone().page
    page.goto(path_of(links.make_link(p)))
    text = page.locator("main").inner_text()
    assert "The diary is closed right now." in text and "The next diary opens on" in text and "5:00 PM" in text
    assert page.get_by_role("link", name="Start today's diary").count() == 0
    screenshot(page, "07-home-closed")
    page.goto("/diary/today/1/")
    page.wait_for_url("**/diary/today/")
    assert "The next diary opens on" in page.locator("main").inner_text()
    assert not DiaryRecord.objects.filter(participant=p).exists()


def test_an_expired_link_explains_how_to_get_a_new_one(phone, participant_factory):
    p = participant_factory(open_zone())
    page = phone().page
    old = links.make_link(p, now=datetime.now(UTC) - timedelta(hours=25))
    response = page.goto(path_of(old))
    assert response.status == 410
    assert "This link has expired" in page.locator("h1").inner_text()
    assert "text LINK" in page.locator("main").inner_text()
    screenshot(page, "08-link-expired")
    page.goto("/diary/")
    assert "Please open your diary link" in page.locator("h1").inner_text()


def test_another_participants_link_url_or_data_is_out_of_reach(phone, participant_factory):
    zone = open_zone()
    alice, bob = participant_factory(zone), participant_factory(zone)
    alice_phone, bob_phone = phone(), phone()
    alice_link = links.make_link(alice)
    alice_phone.page.goto(path_of(alice_link))
    answer_diary(alice_phone.page, "9", PROMIS)

    page = bob_phone.page
    page.goto(path_of(links.make_link(bob)))
    for url in ["/diary/history/", f"/diary/history/?participant={alice.pk}"]:
        page.goto(url)
        assert "No answers yet." in page.locator("main").inner_text(), "bob sees none of alice's answers"
    response = page.goto(f"/diary/{alice.pk}/")
    assert response.status == 404
    forged = path_of(alice_link)[:-3] + "xx/"
    response = page.goto(forged)
    assert response.status == 403 and "This diary link is not valid." in page.locator("main").inner_text()
    screenshot(page, "09-link-forged")

    # Alice logs out: her link and her session are dead everywhere, also copied to bob's phone.
    alice_phone.page.get_by_role("button", name="Log out").click()
    alice_phone.page.wait_for_url("**/diary/logged-out/")
    screenshot(alice_phone.page, "10-logged-out")
    response = page.goto(path_of(alice_link))
    assert response.status == 410 and "This link was closed" in page.locator("h1").inner_text()
    assert DiaryRecord.objects.filter(participant=bob).count() == 0


def test_every_page_passes_the_accessibility_checks(phone, participant_factory):
    """axe-core (serious and critical) plus touch targets, legends and labels, on each page; screenshots kept."""
    checked: dict[str, dict] = {}

    def check(page, name):
        screenshot(page, name)
        checked[name] = assert_accessible(page, name)

    p = participant_factory(open_zone())
    page = phone().page
    page.goto(path_of(links.make_link(p)))
    check(page, "01-home")
    page.get_by_role("link", name="Start today's diary").click()
    page.get_by_role("button", name="Next").click()
    check(page, "02b-itch-error")
    page.get_by_role("link", name="Back").click()
    answer_diary(page, "4", PROMIS, check=check)
    check(page, "05-done")
    page.goto("/diary/history/")
    check(page, "11-history")
    page.get_by_role("button", name="Ver en español").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "es"
    check(page, "12-history-es")
    page.goto("/diary/")
    check(page, "13-home-done-es")
    page.get_by_role("button", name="Cerrar sesión").click()
    page.wait_for_url("**/diary/logged-out/")
    check(page, "10-logged-out-es")

    closed = participant_factory(closed_zone())
    page.goto(path_of(links.make_link(closed)))
    check(page, "07-home-closed")
    page.goto("/diary/go/forged:token:x/")
    check(page, "09-link-forged")
    page.goto(path_of(links.make_link(closed, now=datetime.now(UTC) - timedelta(days=2))))
    check(page, "08-link-expired")

    carol = participant_factory(open_zone(), phase="long_term")
    page.goto(path_of(links.make_link(carol)))
    check(page, "14-home-long-term")
    page.get_by_role("link", name="My patches are back").click()
    page.get_by_role("button", name="Send").click()
    check(page, "15-patches-back-error")
    page.get_by_role("group", name="Are any patches in new areas?").get_by_role("radio", name="Yes").check()
    page.get_by_role("group", name="Are any patches extensive (covering a large area)?").get_by_role(
        "radio", name="No").check()
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/diary/skin/done/")
    assert "will call you" in page.get_by_role("status").inner_text()
    check(page, "16-patches-back-done")
    assert Alert.objects.filter(participant=carol).count() == 1
    page.goto("/diary/skin/clear/")
    check(page, "17-skin-clear")

    assert len(checked) >= 17
    assert all(Path(ARTIFACTS / f"{name}.png").exists() for name in checked)
