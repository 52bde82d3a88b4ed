"""The study TOML: the shipped TRUE-AD file, and errors that name the key path and the problem."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from diaries.models import AuditEvent, Study
from diaries.protocol.study_config import ConfigError, parse_study_config
from tests.conftest import STUDY_FILE

TEXT = STUDY_FILE.read_text(encoding="utf-8")


def test_true_ad_reproduces_the_design(rules):
    assert rules.arms == ("VEHICLE", "RUX075", "RUX15") and rules.reference_arm == "VEHICLE"
    assert rules.runin_days == 7 and rules.vehicle_controlled_weeks == 8 and rules.long_term_end_week == 52
    assert rules.visit_weeks[:4] == (2, 4, 8, 12) and rules.visit_weeks[-1] == 52
    assert (rules.window_opens.hour, rules.window_closes.hour) == (17, 3)
    promis = rules.instrument("PROMIS_SD8B")
    assert [i.id for i in promis.items] == [
        "Sleep108", "Sleep115", "Sleep116", "Sleep44", "Sleep87", "Sleep90", "Sleep110", "Sleep109"]
    assert [i.number for i in promis.items if i.reversed] == [2, 3, 7, 8]
    assert promis.item(8).score_of(1) == 5 and promis.item(8).label_of(1) == "Very poor"
    assert promis.item(5).label_of(3, "es") == "A veces"
    assert promis.not_validated == ("es",)
    assert rules.instrument("ITCH_NRS").item(1).choices == range(0, 11)


def test_patient_texts_name_neither_diagnosis_nor_drug(rules):
    texts = [t for inst in rules.instruments.values() for item in inst.items
             for t in [*item.text.values(), *item.h12_text.values()]]
    for text in texts:
        assert not any(word in text.lower() for word in ("eczema", "dermatitis", "ruxolitinib", "atopic"))


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('opens = "17:00"', 'opens = "5pm"', "diary_window.opens: expected a local time HH:MM, got '5pm'"),
        ('zone = "America/Chicago"', 'zone = "America/Chicag"', "sites[0].zone: unknown IANA time zone 'America/Chicag'"),
        ('scale = "quality"', 'scale = "qualty"', "instruments[1].items[7].scale: unknown scale 'qualty'"),
        ('reference = "VEHICLE"', 'reference = "PLACEBO"', "arms.reference: 'PLACEBO' is not one of arms.codes"),
        ('phone = "+13125550101"', 'phone = "312-555-0101"', "sites[0].phone: expected an E.164 number"),
        ('runin_days = 7 ', 'runin_days = "seven" ', "phases.runin_days: expected int, got str 'seven'"),
        ('max = 10', 'max = 0', "instruments[0].items[0].max: must be greater than min"),
        ('accept_to_hours = 14', 'accept_to_hours = 11', "h12: prompt_after_hours must lie between"),
        ('text.es = "En las últimas 24 horas, mi sueño fue inquieto."', "",
         "instruments[1].items[0].text.es: missing text for a study language"),
        ('h12_text.es = "En una escala', 'h12_textx.es = "En una escala',
         "instruments[0].items[0].h12_text.es: missing text for a study language"),
    ],
)
def test_config_errors_name_the_key_path(old, new, problem):
    assert old in TEXT
    with pytest.raises(ConfigError) as refused:
        parse_study_config(TEXT.replace(old, new, 1))
    assert any(p.startswith(problem) for p in refused.value.problems), refused.value.problems


def test_every_problem_is_reported_at_once():
    broken = TEXT.replace('opens = "17:00"', 'opens = "25:00"').replace('zone = "Europe/Warsaw"', 'zone = "Warsaw"')
    with pytest.raises(ConfigError) as refused:
        parse_study_config(broken)
    assert len(refused.value.problems) == 2


def test_not_toml_is_refused_with_the_parser_message():
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_study_config("[study\ncode=")


@pytest.mark.django_db
def test_load_study_command_is_versioned_by_content_hash(tmp_path, capsys):
    call_command("load_study", str(STUDY_FILE))
    study = Study.objects.get(code="TRUE-AD")
    assert study.sites.count() == 4
    call_command("load_study", str(STUDY_FILE))
    assert "unchanged" in capsys.readouterr().out
    changed = tmp_path / "study.toml"
    changed.write_text(TEXT.replace('hours = "Mon-Fri 8am-5pm"', 'hours = "Mon-Fri 7am-4pm"'), encoding="utf-8")
    call_command("load_study", str(changed))
    study.refresh_from_db()
    assert study.config_hash != parse_study_config(TEXT).content_hash
    assert study.sites.get(number="101").hours == "Mon-Fri 7am-4pm"
    assert AuditEvent.objects.filter(action__in=["study.update", "site.update"]).count() == 2


@pytest.mark.django_db
def test_load_study_command_refuses_a_bad_file_with_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(TEXT.replace('opens = "17:00"', 'opens = "17h"'), encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        call_command("load_study", str(bad))
    assert refused.value.returncode == 2 and "diary_window.opens" in str(refused.value)
    assert not Study.objects.exists()
