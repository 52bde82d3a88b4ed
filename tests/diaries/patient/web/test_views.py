"""The patient web diary through Django's test client: links, flows, windows, isolation, headers, audit."""

import re
from datetime import date, datetime, timedelta
from urllib.parse import urlparse

import pytest
import time_machine
from django.test import Client

from diaries.models import Alert, AlertKind, AuditEvent, DiaryRecord, TreatmentEvent
from diaries.patient.web import links
from tests.conftest import CHICAGO, WARSAW, enroll

pytestmark = pytest.mark.django_db

PROMIS_OPTIONS = {1: 2, 2: 4, 3: 3, 4: 1, 5: 5, 6: 2, 7: 1, 8: 4}


def travel(*args, tz=CHICAGO):
    return time_machine.travel(datetime(*args, tzinfo=tz), tick=False)


def open_diary(client, participant):
    """Open a fresh signed link like a patient tapping it in a text message."""
    response = client.get(urlparse(links.make_link(participant)).path)
    assert response.status_code == 302 and response["Location"] == "/diary/"
    return response


def complete_diary(client, itch=7, promis=PROMIS_OPTIONS, flow="today"):
    """Answer every screen in order, check the review, submit; returns the confirmation page."""
    answers = [itch] + ([promis[i] for i in range(1, 9)] if flow == "today" else [])
    for n, value in enumerate(answers, start=1):
        page = client.get(f"/diary/{flow}/{n}/")
        assert page.status_code == 200
        assert "checked" not in page.content.decode(), "an ePRO screen must not pre-select an answer"
        response = client.post(f"/diary/{flow}/{n}/", {"answer": value})
        expected = f"/diary/{flow}/review/" if n == len(answers) else f"/diary/{flow}/{n + 1}/"
        assert response.status_code == 302 and response["Location"] == expected
    review = client.get(f"/diary/{flow}/review/")
    assert review.status_code == 200
    response = client.post(f"/diary/{flow}/submit/")
    assert response.status_code == 302 and response["Location"] == f"/diary/{flow}/done/"
    return client.get(response["Location"])


def text(response):
    return response.content.decode()


def current(participant, instrument, timepoint="DAILY"):
    return DiaryRecord.objects.current().filter(participant=participant, instrument=instrument, timepoint=timepoint)


@pytest.fixture
def carol(study):
    """Long-term phase at site A, Chicago."""
    return enroll(study, "TRUE-AD-101-0003", phone="+13125550133", zone="America/Chicago", phase="long_term",
                  first_application_at=datetime(2026, 1, 5, 9, 0, tzinfo=CHICAGO))


# --- the evening diary -----------------------------------------------------------------------


def test_full_diary_is_recorded_once_per_instrument_with_the_evening_date(alice, client):
    with travel(2026, 3, 10, 20, 15):
        open_diary(client, alice)
        home = client.get("/diary/")
        assert "Diary for Tuesday, March 10, 2026" in text(home)
        page = client.get("/diary/today/1/")
        html = text(page)
        assert html.count('type="radio"') == 11
        assert "No itch" in html and "Worst itch imaginable" in html
        assert "<legend>" in html and "Question 1 of 9" in html
        done = complete_diary(client, itch=7)
    assert "Your answers for Tuesday, March 10, 2026 are saved." in text(done)
    assert "You can change your answers until 3:00 AM." in text(done)
    itch = current(alice, "ITCH_NRS").get()
    promis = current(alice, "PROMIS_SD8B").get()
    assert itch.derived == {"itch": 7} and itch.channel == "web" and itch.diary_date == date(2026, 3, 10)
    assert promis.diary_date == date(2026, 3, 10) and promis.channel == "web"
    scores = {a["item"]: a["score"] for a in promis.answers}
    # Items 2, 3, 7 and 8 are reverse-scored: option k is stored as 6 - k.
    assert scores == {1: 2, 2: 2, 3: 3, 4: 1, 5: 5, 6: 2, 7: 5, 8: 2}
    assert DiaryRecord.objects.filter(participant=alice).count() == 2


def test_review_shows_every_answer_and_change_returns_to_the_review(alice, client):
    with travel(2026, 3, 10, 20, 15):
        open_diary(client, alice)
        for n, value in enumerate([4, 1, 2, 3, 4, 5, 1, 2, 3], start=1):
            client.post(f"/diary/today/{n}/", {"answer": value})
        review = text(client.get("/diary/today/review/"))
        assert "my sleep was restless" in review and "A little bit" in review and "Very poor" not in review
        assert review.count('aria-label="Change answer to question') == 9
        back_to_review = client.post("/diary/today/3/", {"answer": 5, "return": "review"})
        assert back_to_review["Location"] == "/diary/today/review/"
        assert "Very much" in text(client.get("/diary/today/review/"))
        assert not DiaryRecord.objects.exists(), "nothing is stored before the review's submit"


def test_no_skipping_ahead_no_blank_answer_and_back_keeps_my_answer(alice, client):
    with travel(2026, 3, 10, 21, 0):
        open_diary(client, alice)
        assert client.get("/diary/today/5/")["Location"] == "/diary/today/1/"
        assert client.get("/diary/today/review/")["Location"] == "/diary/today/1/"
        blank = client.post("/diary/today/1/", {})
        assert blank.status_code == 400 and "Please choose an answer." in text(blank)
        out_of_range = client.post("/diary/today/1/", {"answer": 11})
        assert out_of_range.status_code == 400
        client.post("/diary/today/1/", {"answer": 6})
        step2 = text(client.get("/diary/today/2/"))
        assert 'href="/diary/today/1/"' in step2  # back
        back = text(client.get("/diary/today/1/"))
        assert re.search(r'value="6"[^>]*checked', back), "going back shows the patient's own answer"
        assert client.post("/diary/today/submit/")["Location"] == "/diary/today/"
    assert not DiaryRecord.objects.exists()


def test_doing_the_diary_again_inside_the_window_supersedes(alice, client):
    with travel(2026, 3, 10, 20, 0):
        open_diary(client, alice)
        complete_diary(client, itch=7)
    with travel(2026, 3, 11, 1, 30):
        home = text(client.get("/diary/"))
        assert "You already completed today&#x27;s diary." in home
        assert "You can change your answers until 3:00 AM." in home
        done = complete_diary(client, itch=3)
    assert "Your changed answers for Tuesday, March 10, 2026 are saved." in text(done)
    itch = current(alice, "ITCH_NRS").get()
    assert itch.derived == {"itch": 3} and itch.supersedes.derived == {"itch": 7}
    assert DiaryRecord.objects.filter(participant=alice, instrument="ITCH_NRS").count() == 2
    # Sleep was answered the same again: a repeat, not a correction (no new record, no supersede event).
    assert DiaryRecord.objects.filter(participant=alice, instrument="PROMIS_SD8B").count() == 1
    assert AuditEvent.objects.filter(action="diary.supersede", actor="participant:TRUE-AD-101-0001").count() == 1


def test_outside_the_window_says_when_the_next_one_opens(alice, client):
    with travel(2026, 3, 10, 10, 0):
        open_diary(client, alice)
        home = text(client.get("/diary/"))
        assert "The diary is closed right now." in home
        assert "The next diary opens on Tuesday, March 10, 2026 at 5:00 PM." in home
        assert "Times are Chicago time." in home
        assert client.get("/diary/today/1/")["Location"] == "/diary/today/"
        assert client.post("/diary/today/1/", {"answer": 5})["Location"] == "/diary/today/"
    assert not DiaryRecord.objects.exists()


def test_a_diary_sent_after_the_window_closed_is_refused_and_logged(alice, client):
    with travel(2026, 3, 11, 2, 55):
        open_diary(client, alice)
        for n, value in enumerate([5, 1, 1, 1, 1, 1, 1, 1, 1], start=1):
            client.post(f"/diary/today/{n}/", {"answer": value})
    with travel(2026, 3, 11, 3, 1):
        refused = client.post("/diary/today/submit/")
    assert refused.status_code == 409
    assert "Your answers were not saved" in text(refused)
    assert "The next diary opens on Wednesday, March 11, 2026 at 5:00 PM." in text(refused)
    assert not DiaryRecord.objects.exists()
    event = AuditEvent.objects.get(action="diary.refused")
    assert event.after["channel"] == "web" and event.actor == "participant:TRUE-AD-101-0001"


# --- the 12-hour assessment ----------------------------------------------------------------


def test_h12_inside_its_window_is_recorded_for_day1(alice, client):
    # First application 2026-03-08 10:00 CDT: accepted from 20:00 to 00:00 CDT.
    with travel(2026, 3, 8, 22, 0):
        open_diary(client, alice)
        home = text(client.get("/diary/"))
        assert 'href="/diary/12h/1/"' in home
        question = text(client.get("/diary/12h/1/"))
        assert "in the past 12 hours, since your first treatment" in question and "24 hours" not in question
        done = complete_diary(client, itch=6, flow="12h")
    assert "Your 12-hour answer is saved." in text(done)
    record = current(alice, "ITCH_NRS", "H12").get()
    assert record.diary_date == date(2026, 3, 8) and record.derived == {"itch": 6} and record.channel == "web"
    assert not current(alice, "ITCH_NRS").exists(), "the 12-hour answer is not the daily diary"


def test_h12_before_and_after_its_window(alice, client):
    with travel(2026, 3, 8, 18, 0):
        open_diary(client, alice)
        home = text(client.get("/diary/"))
        assert "The 12-hour question opens on Sunday, March 8, 2026 at 8:00 PM." in home
        assert client.get("/diary/12h/1/")["Location"] == "/diary/12h/"
    with travel(2026, 3, 9, 0, 30):
        home = text(client.get("/diary/"))
        assert "12-hour" not in home  # its time has passed: no longer offered
        assert client.post("/diary/12h/1/", {"answer": 4})["Location"] == "/diary/12h/"
    assert not DiaryRecord.objects.filter(timepoint="H12").exists()


# --- links -----------------------------------------------------------------------------------


def test_link_is_absolute_signed_and_names_no_participant(alice):
    link = links.make_link(alice)
    assert link.startswith("https://eprp.test/diary/go/")
    assert str(alice.pk) not in link and alice.usubjid not in link


def test_expired_link_gets_a_clear_page(alice, client):
    with travel(2026, 3, 10, 8, 0):
        link = urlparse(links.make_link(alice)).path
    with travel(2026, 3, 11, 8, 1):
        response = client.get(link)
    assert response.status_code == 410
    assert "This link has expired" in text(response) and "text LINK" in text(response)
    assert "Diary links work for 24 hours." in text(response) and "ENLACE" not in text(response)
    assert client.get("/diary/").status_code == 403


def test_link_max_age_is_configurable(alice, client, settings):
    settings.DIARY_LINK_MAX_AGE = 600
    link = urlparse(links.make_link(alice, now=datetime(2026, 3, 10, 8, 0, tzinfo=CHICAGO))).path
    with travel(2026, 3, 10, 8, 9):
        assert client.get(link).status_code == 302
    with travel(2026, 3, 10, 8, 11):
        assert Client().get(link).status_code == 410


@pytest.mark.parametrize("tamper", ["signature", "nonce", "garbage"])
def test_forged_link_gets_a_clear_page(alice, client, tamper):
    token = urlparse(links.make_link(alice)).path.split("/")[3]
    nonce, stamp, signature = token.split(":")
    forged = {
        "signature": f"{nonce}:{stamp}:{signature[:-2]}xx",
        "nonce": f"{nonce[:-1]}{'A' if nonce[-1] != 'A' else 'B'}:{stamp}:{signature}",
        "garbage": "not-a-token",
    }[tamper]
    response = client.get(f"/diary/go/{forged}/")
    assert response.status_code == 403
    assert "This diary link is not valid." in text(response) and "text LINK" in text(response)
    assert '<div lang="es">' in text(response) and "envíe ENLACE" in text(response), "no language known: both"
    assert client.get("/diary/").status_code == 403


def test_link_cannot_be_reused_after_logout(alice, client):
    link = urlparse(links.make_link(alice)).path
    assert client.get(link).status_code == 302
    assert client.get(link).status_code == 302, "tapping the same link again before logging out reopens the diary"
    response = client.post("/diary/logout/")
    assert response["Location"] == "/diary/logged-out/"
    assert "text LINK" in text(client.get("/diary/logged-out/"))
    assert client.get("/diary/").status_code == 403
    again = client.get(link)
    assert again.status_code == 410 and "This link was closed" in text(again)
    assert "text LINK" in text(again)
    assert Client().get(link).status_code == 410


def test_logging_out_ends_the_session_everywhere_it_was_copied(alice, client):
    open_diary(client, alice)
    stolen = Client()
    stolen.cookies = client.cookies.__class__(client.cookies)
    assert stolen.get("/diary/").status_code == 200
    client.post("/diary/logout/")
    assert stolen.get("/diary/").status_code == 403


# --- isolation --------------------------------------------------------------------------------


def test_another_participant_never_sees_alices_data(alice, bob, client):
    with travel(2026, 3, 10, 20, 0):
        open_diary(client, alice)
        complete_diary(client, itch=9)
    with travel(2026, 3, 21, 19, 0, tz=WARSAW):
        bob_client = Client()
        open_diary(bob_client, bob)
        complete_diary(bob_client, itch=2)
        for url in ["/diary/history/", f"/diary/history/?participant={alice.pk}", f"/diary/?participant={alice.pk}"]:
            page = text(bob_client.get(url))
            assert "10 mar" not in page and "TRUE-AD-101-0001" not in page
        history = text(bob_client.get("/diary/history/"))
        assert "sáb, 21 mar" in history
        # No page takes a participant id: other ids in the path are simply not found.
        assert bob_client.get(f"/diary/{alice.pk}/").status_code == 404
        assert bob_client.get(f"/diary/history/{alice.pk}/").status_code == 404
        # Bob's answers went to Bob only.
        assert current(alice, "ITCH_NRS").get().derived == {"itch": 9}
        assert current(bob, "ITCH_NRS").get().derived == {"itch": 2}


def test_opening_someone_elses_link_replaces_the_session_entirely(alice, bob, client):
    with travel(2026, 3, 10, 20, 0):
        open_diary(client, alice)
        client.post("/diary/today/1/", {"answer": 8})
        old_session = client.cookies["sessionid"].value
        open_diary(client, bob)  # a shared phone: bob taps his own link
        assert client.cookies["sessionid"].value != old_session
        # Alice's in-progress answer did not travel into Bob's session.
        assert client.session.get("diary_flows") is None
        assert client.session["diary_participant"] == str(bob.pk)


def test_pages_without_a_session_explain_how_to_get_a_link(client, study):
    for url in ["/diary/", "/diary/today/1/", "/diary/history/", "/diary/skin/clear/"]:
        response = client.get(url)
        assert response.status_code == 403 and "text LINK" in text(response)
    assert client.post("/diary/today/submit/").status_code == 403


# --- long-term phase --------------------------------------------------------------------------


def test_long_term_skin_clear_is_recorded_with_the_stop_date(carol, client):
    with travel(2026, 4, 20, 18, 0):
        open_diary(client, carol)
        home = text(client.get("/diary/"))
        assert "My skin is clear" in home and "My patches are back" in home
        assert "Start today" not in home
        assert client.get("/diary/today/1/")["Location"] == "/diary/today/"
        assert client.get("/diary/skin/clear/").status_code == 200
        response = client.post("/diary/skin/clear/")
        assert response["Location"] == "/diary/skin/done/"
        done = text(client.get("/diary/skin/done/"))
    assert "Keep applying your study cream until Thursday, April 23, 2026, then stop." in done
    event = TreatmentEvent.objects.get(participant=carol)
    assert event.kind == "cleared" and event.channel == "web" and event.event_date == date(2026, 4, 20)


def test_patches_back_in_new_areas_raises_an_alert_and_the_site_will_call(carol, client):
    with travel(2026, 5, 2, 9, 0):
        open_diary(client, carol)
        missing = client.post("/diary/skin/back/", {"new_areas": "yes"})
        assert missing.status_code == 400 and "Please choose an answer." in text(missing)
        assert not TreatmentEvent.objects.exists()
        client.post("/diary/skin/back/", {"new_areas": "yes", "extensive": "no"})
        done = text(client.get("/diary/skin/done/"))
    assert "Your study site will call you soon: Lakeside Dermatology Research, +13125550101." in done
    current_event = TreatmentEvent.objects.get(participant=carol, superseded_by__isnull=True)
    assert current_event.kind == "recurred" and current_event.new_or_extensive is True
    assert current_event.new_areas is True and current_event.extensive is False and current_event.channel == "web"
    alert = Alert.objects.get(participant=carol)
    assert alert.kind == AlertKind.LESIONS_SPREAD and alert.site == carol.site


def test_patches_back_not_spreading_raises_no_alert(carol, client):
    with travel(2026, 5, 2, 9, 0):
        open_diary(client, carol)
        client.post("/diary/skin/back/", {"new_areas": "no", "extensive": "no"})
        done = text(client.get("/diary/skin/done/"))
    assert "Start applying your study cream on the patches again." in done and "will call" not in done
    assert not Alert.objects.exists()
    assert TreatmentEvent.objects.get(superseded_by__isnull=True).new_or_extensive is False


def test_skin_reports_are_only_for_the_long_term_phase(alice, client):
    open_diary(client, alice)
    assert client.post("/diary/skin/back/", {"new_areas": "yes", "extensive": "yes"})["Location"] == "/diary/"
    assert not TreatmentEvent.objects.exists()


def test_patient_pages_name_neither_diagnosis_nor_drug(carol, alice, client):
    pages = []
    with travel(2026, 5, 2, 19, 0):
        open_diary(client, carol)
        pages += [client.get(u) for u in ["/diary/", "/diary/skin/clear/", "/diary/skin/back/", "/diary/history/"]]
        alice_client = Client()
        open_diary(alice_client, alice)
        pages += [alice_client.get(u) for u in ["/diary/", "/diary/today/1/", "/diary/today/2/"]]
    for page in pages:
        # Hidden inputs out: the random CSRF token spells "rux" now and then, and no one reads it.
        lowered = re.sub(r'<input type="hidden"[^>]*>', "", text(page)).lower()
        assert "csrfmiddlewaretoken" not in lowered
        for word in ("eczema", "dermatitis", "ruxolitinib", "rux", "atopic", "dermatitis atópica"):
            assert word not in lowered


# --- Spanish ----------------------------------------------------------------------------------


def test_spanish_diary_pages_use_the_participants_language_zone_and_dates(bob, client):
    with travel(2026, 3, 21, 19, 0, tz=WARSAW):
        open_diary(client, bob)
        home = text(client.get("/diary/"))
        assert '<html lang="es">' in home
        assert "Diario del sábado, 21 de marzo de 2026" in home and "Las horas son de Warsaw." in home
        item1 = text(client.get("/diary/today/1/"))
        assert "Sin picazón" in item1 and "La peor picazón imaginable" in item1 and "Pregunta 1 de 9" in item1
        client.post("/diary/today/1/", {"answer": 3})
        item2 = text(client.get("/diary/today/2/"))
        assert "mi sueño fue inquieto" in item2 and "Nada" in item2 and "Muchísimo" in item2
        for n in range(2, 10):
            client.post(f"/diary/today/{n}/", {"answer": 2})
        review = text(client.get("/diary/today/review/"))
        assert "Revise sus respuestas" in review and "Enviar mis respuestas" in review
        done = text(client.get(client.post("/diary/today/submit/")["Location"]))
        assert "Sus respuestas del sábado, 21 de marzo de 2026 están guardadas." in done
        assert "Puede cambiar sus respuestas hasta las 3:00." in done
    with travel(2026, 3, 22, 10, 0, tz=WARSAW):
        open_diary(client, bob)  # sessions last 8 hours: the next morning needs the next link
        closed = text(client.get("/diary/"))
        assert "El próximo diario abre el domingo, 22 de marzo de 2026 a las 17:00." in closed


def test_spanish_participants_expired_link_page_is_in_spanish(bob, client):
    with travel(2026, 3, 21, 8, 0, tz=WARSAW):
        link = urlparse(links.make_link(bob)).path
    with travel(2026, 3, 22, 9, 0, tz=WARSAW):
        response = client.get(link)
    assert response.status_code == 410
    assert "Este enlace ha caducado" in text(response) and "envíe ENLACE" in text(response)


def test_spanish_before_the_run_in_and_link_problem_pages(bob, client):
    with travel(2026, 3, 15, 19, 0, tz=WARSAW):
        open_diary(client, bob)
        assert "Su diario empieza el viernes, 20 de marzo de 2026." in text(client.get("/diary/"))
        client.post("/diary/logout/")
        logged_out = text(client.get("/diary/logged-out/"))
        assert "envíe ENLACE" in logged_out and '<html lang="es">' in logged_out


def test_language_toggle_is_kept_in_the_session(bob, client):
    with travel(2026, 3, 21, 19, 0, tz=WARSAW):
        open_diary(client, bob)
        response = client.post("/diary/language/", {"lang": "en", "next": "/diary/today/1/"})
        assert response["Location"] == "/diary/today/1/"
        page = text(client.get("/diary/today/1/"))
        assert '<html lang="en">' in page and "No itch" in page and "Question 1 of 9" in page
        assert client.post("/diary/language/", {"lang": "es", "next": "https://evil.example/"})["Location"] == "/diary/"
        assert '<html lang="es">' in text(client.get("/diary/"))
    bob.refresh_from_db()
    assert bob.language == "es", "the toggle changes this session only, not the participant's SMS language"


# --- headers, markup, audit -------------------------------------------------------------------


def test_diary_pages_send_csp_no_store_and_no_inline_script_or_style(alice, client):
    with travel(2026, 3, 10, 20, 0):
        responses = [client.get("/diary/"), client.get("/diary/go/forged:token:x/")]
        open_diary(client, alice)
        responses += [client.get(u) for u in ["/diary/", "/diary/today/1/", "/diary/history/", "/diary/today/"]]
    for response in responses:
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert "no-store" in response["Cache-Control"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        html = text(response)
        assert "<script" not in html and " style=" not in html and "<style" not in html
        assert re.search(r'<html lang="(en|es)">', html)


def test_history_lists_only_current_records_and_draws_the_itch_chart(alice, client):
    with travel(2026, 3, 10, 20, 0):
        open_diary(client, alice)
        complete_diary(client, itch=7)
        complete_diary(client, itch=5)  # a correction: the superseded 7 is not history any more
    with travel(2026, 3, 11, 20, 0):
        open_diary(client, alice)
        complete_diary(client, itch=2)
        history = text(client.get("/diary/history/"))
    assert "<svg" in history and 'role="img"' in history and "<polyline" in history
    assert history.count("<circle") == 2
    assert "Mar 10: 5" in history and "Mar 11: 2" in history and "Mar 10: 7" not in history
    assert "Tue, Mar 10" in history and "Wed, Mar 11" in history and "8 of 8 answered" in history


def test_audit_trail_records_the_link_the_answers_by_web_and_the_logout(alice, client):
    with travel(2026, 3, 10, 20, 0):
        open_diary(client, alice)
        complete_diary(client, itch=4)
        client.post("/diary/logout/")
    actor = "participant:TRUE-AD-101-0001"
    assert AuditEvent.objects.filter(action="web.link_open", actor=actor).count() == 1
    answers = AuditEvent.objects.filter(action="diary.answer", actor=actor)
    assert sorted(e.after["instrument"] for e in answers) == ["ITCH_NRS", "PROMIS_SD8B"]
    assert {e.after["channel"] for e in answers} == {"web"}
    assert AuditEvent.objects.filter(action="web.logout", actor=actor).count() == 1
    assert all(e.site == alice.site for e in AuditEvent.objects.filter(actor=actor))


def test_a_new_link_is_issued_per_request_and_stays_valid_for_a_day(alice):
    made = datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO)
    first, second = links.make_link(alice, now=made), links.make_link(alice, now=made)
    assert first != second
    with travel(2026, 3, 11, 18, 59):
        assert links.verify(urlparse(first).path.split("/")[3]).participant == alice
    with travel(2026, 3, 11, 19, 1), pytest.raises(links.ExpiredLink):
        links.verify(urlparse(first).path.split("/")[3])
    assert made + timedelta(seconds=links.max_age()) == datetime(2026, 3, 11, 19, 0, tzinfo=CHICAGO)


def test_the_site_phone_is_a_tappable_link(alice, client):
    with travel(2026, 3, 10, 20, 0):
        open_diary(client, alice)
        body = client.get("/diary/").content.decode()
    assert '<a href="tel:+13125550101">+13125550101</a>' in body
