"""simulate_trial end to end: a small trial through the real paths, checked like the analysis tests."""

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection

from diaries.models import AuditEvent, DiaryRecord, Participant
from notifications.models import InboundMessage, OutboundMessage, ScheduledPrompt

# transaction=True: the outbox sends on commit, as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _assert_no_phone_in(folder: Path, participants):
    phones = [p.phone for p in participants]
    for path in folder.iterdir():
        data = path.read_bytes().decode("utf-8", errors="ignore")
        for phone in phones:
            assert phone not in data and phone[1:] not in data, path.name


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
    _assert_no_phone_in(tmp_path / "t", participants)


@pytest.mark.worker
@pytest.mark.postgres
def test_simulation_on_a_real_worker_runs_every_task_on_the_simulated_clock(tmp_path: Path, settings):
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the worker is another process: needs PostgreSQL and Redis (CI has both)")
    from eprp import simclock

    out = io.StringIO()
    call_command("simulate_trial", participants=4, weeks=1, seed=9, quiet=True, workers=2, output=tmp_path / "t",
                 stdout=out)
    assert "ITCH_CHG_H12" in out.getvalue()
    participants = Participant.objects.filter(usubjid__startswith="SIM-9-")
    assert participants.count() == 4
    sent = OutboundMessage.objects.filter(participant__in=participants)
    assert sent.filter(kind="diary").count() >= 4 * 10
    # The outbox drained at every step, on the worker, at the simulated time: nothing left
    # queued, and each text sent at the moment it was queued, over weeks of simulated time.
    assert set(sent.values_list("status", flat=True)) == {"sent"}
    real_now = datetime.now(UTC)
    for message in sent:
        assert message.sent_at == message.created_at <= real_now
    assert min(m.sent_at for m in sent) < real_now - timedelta(days=14)
    # The tick ran on the worker's clock: every prompt sent when due (or after a quiet-hours deferral), none early.
    prompts = ScheduledPrompt.objects.filter(participant__in=participants, status="sent").select_related("outbound")
    assert prompts.count() == sent.exclude(prompt=None).count() > 0
    for prompt in prompts:
        assert prompt.outbound.created_at >= prompt.due_at
    # The simulated patients read their texts from the database: every SMS diary answer follows
    # a diary prompt or reminder sent to that patient for that diary date, and every text
    # they sent was handled by the webhook.
    for record in DiaryRecord.objects.filter(participant__in=participants, channel="sms", timepoint="DAILY"):
        assert prompts.filter(participant=record.participant, diary_date=record.diary_date,
                              kind__in=("diary", "reminder"), outbound__sent_at__lte=record.submitted_at).exists()
    inbound = InboundMessage.objects.filter(participant__in=participants)
    assert inbound.count() > 100 and not inbound.filter(outcome="").exists()
    assert inbound.filter(outcome="recorded").count() > inbound.count() * 0.9
    # The replies ran on the worker at simulated moments, and some patients used the web diary.
    for text in inbound:
        assert text.received_at < real_now - timedelta(minutes=5)
    assert DiaryRecord.objects.filter(participant__in=participants, channel="web").exists()
    assert simclock.in_flight() == 0 and simclock.redis_client().get(simclock.NOW_KEY) is None
    _assert_no_phone_in(tmp_path / "t", participants)


def test_the_simulated_clock_is_refused_in_production(monkeypatch):
    from eprp import simclock
    from eprp.checks import configuration_problems

    assert "EPRP_SIMULATED_CLOCK" in dict(configuration_problems({"PRODUCTION": True, "SIMULATED_CLOCK": True}))
    assert "EPRP_SIMULATED_CLOCK" not in dict(configuration_problems({"PRODUCTION": True}))
    monkeypatch.setenv("EPRP_MODE", "production")
    from eprp.celery import app

    with pytest.raises(RuntimeError, match="production"):
        simclock.connect_worker(app)


def test_simulation_is_refused_in_production(settings):
    from django.core.management.base import CommandError

    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("simulate_trial", participants=1, weeks=1, quiet=True)
