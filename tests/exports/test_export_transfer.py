"""export_transfer from the database: round trip through compute_endpoints, qs, manifest, blinding, formats."""

import hashlib
import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError

from diaries import participants
from diaries.models import AuditEvent, Randomization
from tests.conftest import CHICAGO, answer, enroll, write_diaries

pytestmark = pytest.mark.django_db


@pytest.fixture
def statistician(django_user_model):
    user = django_user_model.objects.create_user("stat", "stat@example.org", "x")
    ct = ContentType.objects.get_for_model(Randomization)
    perm, _ = Permission.objects.get_or_create(codename="import_randomization", content_type=ct,
                                               defaults={"name": "Can import the randomization"})
    user.user_permissions.add(perm)
    return user


@pytest.fixture
def trial(study, alice):
    """alice and carol (Chicago, Day 1 2026-03-08) with run-in and two weeks of diaries."""
    carol = enroll(study, "TRUE-AD-101-0003", phone="+13125550133", zone="America/Chicago",
                   first_application_at=datetime(2026, 3, 8, 9, 0, tzinfo=CHICAGO))
    for p, itch0, drop in ((alice, 8, 5), (carol, 7, 1)):
        write_diaries(p, itch0=itch0, drop=drop)
    answer(participant=alice, instrument="ITCH_NRS", timepoint="H12", answers={1: 6},
                            channel="sms", at=alice.first_application_at + timedelta(hours=12))
    participants.record_visit(participant=alice, week=2, visit_date=date(2026, 3, 23), actor="user:x")
    return alice, carol


def test_round_trip_export_then_compute_is_byte_identical(trial, tmp_path):
    call_command("export_transfer", "--output", str(tmp_path / "t"))
    as_of = json.loads((tmp_path / "t" / "manifest.json").read_text())["as_of"]
    assert as_of == datetime.now(UTC).date().isoformat()  # the export's date in UTC by default
    call_command("compute_endpoints", "--input", str(tmp_path / "t"), "--output", str(tmp_path / "again"),
                 "--as-of", as_of)
    for name in ("adqs.csv", "responders.csv", "endpoint_summary.csv", "compliance.csv"):
        assert (tmp_path / "t" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    adqs = pd.read_csv(tmp_path / "t" / "adqs.csv", dtype=str, keep_default_na=False)
    h12 = adqs[(adqs.USUBJID == "TRUE-AD-101-0001") & (adqs.PARAMCD == "ITCHH12") & (adqs.AVISITN == "1")]
    assert h12[["AVAL", "BASE", "CHG"]].values.tolist() == [["6", "8", "-2"]]


def test_exported_inputs_are_canonical_and_pseudonymised(trial, tmp_path):
    call_command("export_transfer", "--output", str(tmp_path / "t"))
    participants = (tmp_path / "t" / "participants.csv").read_text()
    assert participants.splitlines()[0] == "USUBJID,SITEID,TZ,FIRST_APPLICATION,ARM,STRATUM,DISCONTINUED_ON"
    assert "TRUE-AD-101-0001,101,America/Chicago,2026-03-08T15:00:00+00:00,,," in participants
    diary = (tmp_path / "t" / "diary.csv").read_text().splitlines()
    assert diary[1].startswith("TRUE-AD-101-0001,ITCH_NRS,DAILY,2026-03-01,1,8,2026-03-02T02:00:00+00:00")
    everything = "".join(p.read_text(errors="ignore") for p in (tmp_path / "t").iterdir())
    for phone in (trial[0].phone, trial[1].phone, trial[0].phone[2:]):
        assert phone not in everything


def test_qs_has_items_labels_and_derived_scores(trial, tmp_path):
    call_command("export_transfer", "--output", str(tmp_path / "t"))
    qs = pd.read_csv(tmp_path / "t" / "qs.csv", dtype=str, keep_default_na=False)
    assert list(qs.columns) == ["STUDYID", "DOMAIN", "USUBJID", "QSSEQ", "QSTESTCD", "QSTEST", "QSCAT", "QSORRES",
                                "QSSTRESC", "QSSTRESN", "QSDRVFL", "QSEVLINT", "QSDTC", "QSDY", "QSTPT"]
    alice = qs[qs.USUBJID == "TRUE-AD-101-0001"]
    assert alice.QSSEQ.astype(int).tolist() == list(range(1, len(alice) + 1))
    first_night = alice[alice.QSDTC == "2026-03-01T20:02:00-06:00"]
    sleep109 = first_night[first_night.QSTESTCD == "SLEEP109"].iloc[0]
    assert (sleep109.QSORRES, sleep109.QSSTRESN) == ("Fair", "3")
    raw = first_night[first_night.QSTESTCD == "PSDSB998"].iloc[0]
    assert (raw.QSSTRESN, raw.QSDRVFL, raw.QSDY) == ("24", "Y", "-7")
    assert first_night[first_night.QSTESTCD == "PSDSB999"].iloc[0].QSSTRESN == "54.3"
    prorated = alice[(alice.QSTESTCD == "PSDSB998") & (alice.QSDY == "-5")].iloc[0]  # 5 items of 3: 15*8/5 = 24
    assert prorated.QSSTRESN == "24"
    assert set(alice[alice.QSTESTCD == "ITCH01"].QSTPT) == {"EVENING", "HOUR 12"}


def test_manifest_lists_every_file_with_rows_and_checksum_and_the_export_is_audited(trial, tmp_path):
    call_command("export_transfer", "--output", str(tmp_path / "t"), "--format", "csv,parquet,xlsx,xpt")
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    names = [f["name"] for f in manifest["files"]]
    assert names == sorted(names) and "manifest.json" not in names
    assert {"adqs.xpt", "qs.xpt", "adqs.parquet", "responders.xlsx", "endpoint_summary.xlsx"} <= set(names)
    assert not {"adqs.xlsx", "diary.xlsx", "qs.xlsx"} & set(names)  # item-level tables outgrow a spreadsheet
    for f in manifest["files"]:
        assert hashlib.sha256((tmp_path / "t" / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    qs_rows = len((tmp_path / "t" / "qs.csv").read_text().splitlines()) - 1
    assert next(f["rows"] for f in manifest["files"] if f["name"] == "qs.csv") == qs_rows
    assert pd.read_parquet(tmp_path / "t" / "adqs.parquet").shape[0] == next(
        f["rows"] for f in manifest["files"] if f["name"] == "adqs.csv")
    import pyreadstat

    frame, meta = pyreadstat.read_xport(str(tmp_path / "t" / "adqs.xpt"))
    assert "AVAL" in frame.columns and len(frame) > 0
    event = AuditEvent.objects.get(action="export.transfer")
    assert event.after["files"] == manifest["files"]


def test_blinded_without_randomization_and_unblinded_with_it(trial, tmp_path, statistician):
    alice, carol = trial
    rand = tmp_path / "rand.csv"
    rand.write_text("USUBJID,ARM,STRATUM\nTRUE-AD-101-0001,RUX15,A\nTRUE-AD-101-0003,VEHICLE,A\n")
    call_command("import_randomization", str(rand), "--user", "stat")
    call_command("export_transfer", "--output", str(tmp_path / "blind"))
    assert set(pd.read_csv(tmp_path / "blind" / "endpoint_summary.csv", dtype=str).ARM) == {"ALL"}
    call_command("export_transfer", "--output", str(tmp_path / "open"), "--unblinded-as", "stat")
    summary = pd.read_csv(tmp_path / "open" / "endpoint_summary.csv", dtype=str, keep_default_na=False)
    assert set(summary.ARM) == {"RUX15", "VEHICLE"}
    assert "RUX15" not in json.dumps([e.after for e in AuditEvent.objects.filter(action="randomization.import")])


def test_randomization_import_needs_the_unblinded_permission_and_is_all_or_nothing(trial, tmp_path, statistician,
                                                                                    django_user_model):
    django_user_model.objects.create_user("coordinator", "c@example.org", "x", is_staff=True)
    rand = tmp_path / "rand.csv"
    rand.write_text("USUBJID,ARM,STRATUM\nTRUE-AD-101-0001,RUX15,A\n")
    with pytest.raises(CommandError, match="unblinded"):
        call_command("import_randomization", str(rand), "--user", "coordinator")
    rand.write_text("USUBJID,ARM,STRATUM\nTRUE-AD-101-0001,RUX15,A\nNOPE,RUX15,A\nTRUE-AD-101-0003,PLACEBO,\n")
    with pytest.raises(CommandError) as refused:
        call_command("import_randomization", str(rand), "--user", "stat")
    assert "line 3: unknown subject 'NOPE'" in str(refused.value)
    assert "line 4: unknown arm 'PLACEBO'" in str(refused.value)
    assert not Randomization.objects.exists()


def test_unknown_format_is_refused(trial, tmp_path):
    with pytest.raises(CommandError, match="unknown format"):
        call_command("export_transfer", "--output", str(tmp_path / "t"), "--format", "sas7bdat")
    assert not (tmp_path / "t").exists()


def test_unblinded_export_with_unrandomized_participants_is_refused_unless_excluded(trial, tmp_path, statistician,
                                                                                      capsys):
    alice, carol = trial
    rand = tmp_path / "rand.csv"
    rand.write_text("USUBJID,ARM,STRATUM\nTRUE-AD-101-0001,RUX15,A\n")
    call_command("import_randomization", str(rand), "--user", "stat")
    with pytest.raises(CommandError) as refused:
        call_command("export_transfer", "--output", str(tmp_path / "t"), "--unblinded-as", "stat")
    assert refused.value.returncode == 2
    assert "  TRUE-AD-101-0003  site 101  Day 1 2026-03-08" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()

    call_command("export_transfer", "--output", str(tmp_path / "t"), "--unblinded-as", "stat",
                 "--exclude-unrandomized", "--as-of", "2026-03-22")
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["excluded_unrandomized"] == [{"USUBJID": "TRUE-AD-101-0003", "SITEID": "101",
                                                  "DAY1": "2026-03-08"}]
    assert (manifest["unblinded"], manifest["requested_by"], manifest["as_of"]) == (True, "stat", "2026-03-22")
    out = capsys.readouterr().out.splitlines()[-1]
    assert out == (f"export_transfer: 1 participants (RUX15 1, 1 unrandomized excluded), 13 endpoints (7 not yet "
                   f"reached), {len(manifest['files'])} files written to {tmp_path / 't'}, data cut-off 2026-03-22, "
                   f"unblinded")
    # The exported inputs leave the excluded participant out, so they reproduce the outputs.
    assert "TRUE-AD-101-0003" not in (tmp_path / "t" / "diary.csv").read_text()
    call_command("compute_endpoints", "--input", str(tmp_path / "t"), "--output", str(tmp_path / "again"),
                 "--as-of", "2026-03-22")
    for name in ("adqs.csv", "responders.csv", "endpoint_summary.csv", "compliance.csv"):
        assert (tmp_path / "t" / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_round_trip_at_a_cut_off_in_the_middle_of_the_data(trial, tmp_path):
    # Day 1 is 2026-03-08: Week 2 ends on Day 14 = 2026-03-21; a day before, it is not yet reached.
    for as_of, week2_rows in (("2026-03-20", 0), ("2026-03-21", 2)):
        call_command("export_transfer", "--output", str(tmp_path / as_of), "--as-of", as_of)
        call_command("compute_endpoints", "--input", str(tmp_path / as_of), "--output", str(tmp_path / f"{as_of}c"),
                     "--as-of", as_of)
        for name in ("adqs.csv", "responders.csv", "endpoint_summary.csv", "compliance.csv"):
            assert (tmp_path / as_of / name).read_bytes() == (tmp_path / f"{as_of}c" / name).read_bytes(), name
        adqs = pd.read_csv(tmp_path / as_of / "adqs.csv", dtype=str, keep_default_na=False)
        assert len(adqs[(adqs.PARAMCD == "ITCHNRSW") & (adqs.AVISITN == "2")]) == week2_rows
