"""simulate_trial end to end: a small trial through the real paths, checked like the analysis tests."""

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command

from diaries.models import AuditEvent, DiaryRecord, Participant
from notifications.models import InboundMessage, OutboundMessage

# transaction=True: the outbox sends on commit, as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]




def test_small_simulation_produces_a_consistent_pseudonymised_transfer(tmp_path: Path):
    out = io.StringIO()
    call_command("simulate_trial", participants=12, weeks=2, seed=7, quiet=True, output=tmp_path / "t", stdout=out)
    report = out.getvalue()
    assert "texts in" in report and "ITCH_NRS4_W2" in report

    participants = Participant.objects.filter(usubjid__startswith="SIM-7-")
    assert participants.count() == 12
    assert InboundMessage.objects.filter(participant__in=participants).count() > 100
    assert OutboundMessage.objects.filter(participant__in=participants, kind="diary").count() > 100
    assert DiaryRecord.objects.filter(participant__in=participants, channel="sms").exists()
    assert DiaryRecord.objects.filter(participant__in=participants, timepoint="H12").exists()

    # STOP is honoured: nothing was sent to a participant after they opted out (and before any START).
    for event in AuditEvent.objects.filter(action="participant.sms_opted_out", actor__startswith="participant:SIM-7-"):
        restart = AuditEvent.objects.filter(action="participant.sms_opted_in", object_id=event.object_id,
                                            at__gt=event.at).order_by("at").first()
        sent = OutboundMessage.objects.filter(participant_id=event.object_id, created_at__gt=event.at)
        if restart:
            sent = sent.filter(created_at__lt=restart.at)
        assert not sent.exists()

    # Every responder is consistent with adqs: baseline minus the weekly mean reaches 4.
    adqs = pd.read_csv(tmp_path / "t" / "adqs.csv", dtype=str, keep_default_na=False)
    responders = pd.read_csv(tmp_path / "t" / "responders.csv", dtype=str, keep_default_na=False)
    weekly = adqs[adqs.PARAMCD == "ITCHNRSW"]
    for _, row in responders[responders.ENDPOINT.str.startswith("ITCH_NRS4_W")].iterrows():
        week = row.ENDPOINT.rsplit("W", 1)[1]
        value = weekly[(weekly.USUBJID == row.USUBJID) & (weekly.AVISITN == week)]
        if row.RESPONDER == "Y":
            assert float(value.BASE.iloc[0]) - float(value.AVAL.iloc[0]) >= 4 - 1e-9
        elif row.INPOP == "Y" and len(value):
            assert float(value.BASE.iloc[0]) - float(value.AVAL.iloc[0]) < 4 - 1e-9
    # Unblinded at the end: the three arms appear.
    summary = list(csv.DictReader(open(tmp_path / "t" / "endpoint_summary.csv", encoding="utf-8")))
    assert {r["ARM"] for r in summary} <= {"RUX15", "RUX075", "VEHICLE"} and len({r["ARM"] for r in summary}) >= 2

    # No phone number anywhere in the transfer.
    phones = [p.phone for p in participants]
    for path in (tmp_path / "t").iterdir():
        data = path.read_bytes().decode("utf-8", errors="ignore")
        for phone in phones:
            assert phone not in data and phone[1:] not in data, path.name


def test_simulation_is_refused_in_production(settings):
    from django.core.management.base import CommandError

    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("simulate_trial", participants=1, weeks=1, quiet=True)
