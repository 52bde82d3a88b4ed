"""import_participants: all rows or none, every bad row reported with its line and reason."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from diaries.models import Participant, Phase

pytestmark = pytest.mark.django_db

HEADER = "USUBJID,SITE,PHONE,TZ,LANGUAGE,RUNIN_START,FIRST_APPLICATION,PHASE\n"


def run(tmp_path, body):
    path = tmp_path / "participants.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    call_command("import_participants", str(path))


def test_a_good_file_enrolls_everyone(study, tmp_path):
    run(tmp_path, "P-1,101,+13125550161,America/Chicago,en,2026-03-01,,\n"
                  "P-2,201,+48601555016,Europe/Warsaw,es,2026-03-01,2026-03-08T09:30:00+01:00,\n")
    p2 = Participant.objects.get(usubjid="P-2")
    assert p2.phase == Phase.VEHICLE_CONTROLLED and str(p2.day1) == "2026-03-08"
    assert Participant.objects.get(usubjid="P-1").phone == "+13125550161"


def test_every_bad_row_is_reported_and_nothing_is_written(study, tmp_path, alice):
    body = (
        "P-1,101,+13125550161,America/Chicago,en,2026-03-01,,\n"            # good
        "P-2,101,3125550162,America/Chicago,en,2026-03-01,,\n"              # line 3: not E.164
        "P-3,101,+13125550163,Mars/Base,en,2026-03-01,,\n"                   # line 4: zone
        "P-4,999,+13125550164,America/Chicago,en,2026-03-01,,\n"             # line 5: site
        "P-1,101,+13125550165,America/Chicago,en,2026-03-01,,\n"             # line 6: duplicate subject
        "P-6,101,+13125550161,America/Chicago,en,2026-03-01,,\n"             # line 7: duplicate phone
        f"P-7,101,{alice.phone},America/Chicago,en,2026-03-01,,\n"           # line 8: enrolled phone
        "P-8,101,+13125550168,America/Chicago,en,03/01/2026,,\n"             # line 9: date
        "P-9,101,+13125550169,America/Chicago,en,2026-03-01,2026-03-08T09:30:00,\n"  # line 10: no offset
        "P-10,101,+13125550170,America/Chicago,en,2026-03-01,,finished\n"    # line 11: phase
    )
    with pytest.raises(CommandError) as refused:
        run(tmp_path, body)
    message = str(refused.value)
    assert refused.value.returncode == 2
    for expected in [
        "line 3: PHONE: not in E.164 form",
        "line 4: unknown time zone 'Mars/Base'",
        "line 5: unknown site '999'",
        "line 6: duplicate subject P-1 (also on line 2)",
        "line 7: duplicate PHONE (also on line 2)",
        "line 8: PHONE: this phone number cannot be used; check it with the participant",
        "line 9: RUNIN_START is not a date YYYY-MM-DD",
        "line 10: FIRST_APPLICATION needs a UTC offset",
        "line 11: unknown PHASE 'finished'",
    ]:
        assert expected in message
    assert "line 2" not in message.replace("also on line 2", "")
    assert list(Participant.objects.values_list("usubjid", flat=True)) == [alice.usubjid]


def test_missing_columns_are_named(study, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("USUBJID,SITE,PHONE\nP-1,101,+13125550161\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 1: missing column\\(s\\) TZ, LANGUAGE, RUNIN_START"):
        call_command("import_participants", str(path))


@pytest.mark.parametrize("usubjid", ["P 1", "=1+2", "P/1", "P,1;"[:3], "x" * 41])
def test_a_usubjid_outside_the_pattern_is_refused_at_import(study, tmp_path, usubjid):
    with pytest.raises(CommandError) as refused:
        run(tmp_path, f'"{usubjid}",101,+13125550161,America/Chicago,en,2026-03-01,,\n')
    assert "line 2: USUBJID" in str(refused.value) and "letters, digits" in str(refused.value)
    assert not Participant.objects.exists()
