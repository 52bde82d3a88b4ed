"""Push texts are read on a public lock screen: nothing about the condition, the treatment, a score or the study."""

import re
from datetime import UTC, date, datetime

import pytest

from notifications.chatbot.parsing import normalize
from notifications.models import PromptKind
from notifications.providers import push_texts
from tests.notifications.chatbot.test_machine import FORBIDDEN

EVENING = date(2026, 3, 8)
CLOSES = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
# Words that give away what is measured (a score's name is as telling as its value) or the study itself.
MEASURES = re.compile(r"\b(itch\w*|picaz\w*|prurit\w*|sleep\w*|sueno|nrs|promis|score\w*|puntua\w*|skin|piel|"
                      r"patch\w*|lesion\w*|cream|crema|treat\w*|tratamiento|study|estudio|trial|ensayo)\b")


def every_push(rules, token: str = "t" * 64) -> list:
    return [push_texts.build_push(kind=kind, language=language, token=token, slot=EVENING.isoformat(),
                                  diary_date=EVENING, expires_at=CLOSES)
            for language in rules.languages for kind in PromptKind.values]


def assert_neutral(text: str) -> None:
    """No condition, treatment, measure or score: what a lock screen (or a push provider) may read."""
    words = normalize(text)
    assert not FORBIDDEN.search(words), text
    assert not MEASURES.search(words), text


def test_every_prompt_kind_has_a_push_text_in_every_study_language(rules):
    assert set(rules.languages) <= set(push_texts.CATALOG)
    for language, catalog in push_texts.CATALOG.items():
        assert set(catalog) == set(PromptKind.values), language


def test_no_push_names_a_diagnosis_a_drug_a_score_or_the_study(rules):
    """Not on the lock screen, and not in what passes through Apple's and Google's servers either."""
    # Its names as the study file spells them (their telling words are in FORBIDDEN and MEASURES too).
    names = {rules.name, rules.code, rules.program_name, *rules.arms,
             *(n for i in rules.instruments.values() for n in (i.code, i.name))}
    for push in every_push(rules):
        for shown in (push.title, push.body, push.link, push.collapse_id, *push.data.values()):
            assert_neutral(shown)
            assert not [name for name in names if name.lower() in shown.lower()], shown
        # No number on the lock screen: no score, no date of a visit, nothing to infer from.
        assert not re.search(r"\d", push.title + push.body), push.body


def test_the_deep_link_names_a_screen_and_a_date_only():
    assert push_texts.deep_link("diary", EVENING) == "eprp://diary/2026-03-08?timepoint=DAILY"
    assert push_texts.deep_link("reminder", EVENING) == "eprp://diary/2026-03-08?timepoint=DAILY"
    assert push_texts.deep_link("h12", EVENING) == "eprp://diary/2026-03-08?timepoint=H12"
    assert push_texts.deep_link("lesion_checkin", None) == "eprp://reports"
    assert push_texts.deep_link("stop_treatment", None, scheme="skindiary") == "skindiary://reports"
    assert push_texts.deep_link("visit_reminder", EVENING) == "eprp://today"


def test_a_reminder_replaces_its_prompt_on_the_device():
    prompt, reminder, h12 = (push_texts.build_push(kind=kind, language="es", token="t" * 64, slot="2026-03-08",
                                                   diary_date=EVENING, expires_at=CLOSES)
                             for kind in ("diary", "reminder", "h12"))
    assert prompt.collapse_id == reminder.collapse_id == "diary-2026-03-08" != h12.collapse_id
    assert (prompt.title, prompt.body) == ("Diario", "Su diario de la noche está abierto.")
    assert prompt.link == "eprp://diary/2026-03-08?timepoint=DAILY" and prompt.expires_at == CLOSES
    assert prompt.data == {}  # the app asks the API what is pending
    long_slot = "clear:" + "x" * 80
    assert push_texts.collapse_id("stop_treatment", long_slot) == ("message-" + long_slot)[:64]


@pytest.mark.parametrize("language", ["fr", ""])
def test_a_language_without_a_catalog_gets_english(language):
    assert push_texts.text("diary", language) == ("Diary", "Your evening diary is open.")
