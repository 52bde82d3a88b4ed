"""What `make run` shows a sponsor statistician: a randomized demo, API tokens, an unblinded export with three arms."""

import io

import pandas as pd
import pytest
from django.core.management import call_command

from analysis import demo
from analysis.models import Export
from diaries.models import Participant, Randomization, Study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_demo_gives_the_statistician_an_unblinded_three_arm_export(tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    call_command("load_demo", stdout=io.StringIO())
    study = Study.objects.get(code="TRUE-AD")
    assert demo.randomize_demo(study) == 4  # the demo participants with a Day 1
    # As `make run` does on first start (eprp/management/commands/up.py).
    printed = io.StringIO()
    call_command("simulate_trial", participants=24, weeks=2, seed=1, quiet=True, output=tmp_path / "sim",
                 stdout=printed)  # fmt: skip
    # Two weeks in, Week 8 is not yet reached: said so, never printed as 0%.
    week8 = [line for line in printed.getvalue().splitlines() if line.startswith("ITCH_NRS4_W8")]
    assert len(week8) == 3 and all(line.endswith("0  not yet reached at the data cut-off") for line in week8)
    demo.randomize_demo(study)
    with_day1 = Participant.objects.filter(study=study, first_application_at__isnull=False)
    assert not with_day1.exclude(pk__in=Randomization.objects.values("participant_id")).exists()

    export = demo.demo_export(study)
    assert export.status == "done", export.error
    assert demo.demo_export(study) is None  # once
    out = io.StringIO()
    tokens = demo.demo_accounts(stdout=out)
    assert tokens[demo.STATISTICIAN] in out.getvalue() and tokens[demo.SPONSOR] in out.getvalue()
    assert f"Token {tokens[demo.STATISTICIAN]}' http://127.0.0.1:8000/api/v1/exports/" in out.getvalue()
    assert (settings.VAR_DIR / demo.TOKENS_FILE).read_text().split() == [
        demo.STATISTICIAN, tokens[demo.STATISTICIAN], demo.SPONSOR, tokens[demo.SPONSOR]]
    assert demo.demo_accounts() == tokens  # the same tokens at the next start

    statistician = client_for_token(tokens[demo.STATISTICIAN])
    listed = statistician.get("/api/v1/exports/").json()["results"]
    assert [e["id"] for e in listed] == [str(export.id)] and listed[0]["unblinded"] is True
    summary = pd.read_csv(Export.objects.get().path / "endpoint_summary.csv", dtype=str, keep_default_na=False)
    assert set(summary.ARM) == {"RUX075", "RUX15", "VEHICLE"}
    compared = summary[summary.REF_ARM == "VEHICLE"]
    assert set(compared.ARM) == {"RUX075", "RUX15"}
    assert (compared.DIFF != "").all() and (compared.CI_LOW != "").all()
    report = (Export.objects.get().path / "report.html").read_text()
    assert "not yet reached" in report  # two weeks in: Week 4 and Week 8
    # The sponsor is blinded: the statistician's unblinded export is not even listed.
    assert client_for_token(tokens[demo.SPONSOR]).get("/api/v1/exports/").json()["results"] == []


def client_for_token(key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_api_account_command_creates_issues_and_revokes(tmp_path):
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command("api_account", "create", "acme-stats", "--role", "statistician", stdout=out)
    first = out.getvalue().split("API token: ")[1].split()[0]
    assert client_for_token(first).get("/api/v1/exports/").status_code == 200
    out = io.StringIO()
    call_command("api_account", "issue", "acme-stats", stdout=out)
    second = out.getvalue().split("API token: ")[1].split()[0]
    assert second != first
    assert client_for_token(first).get("/api/v1/exports/").status_code == 401
    assert client_for_token(second).get("/api/v1/exports/").status_code == 200
    call_command("api_account", "revoke", "acme-stats", stdout=io.StringIO())
    assert client_for_token(second).get("/api/v1/exports/").status_code == 401
    with pytest.raises(CommandError, match="already exists"):
        call_command("api_account", "create", "acme-stats", "--role", "sponsor")
    with pytest.raises(CommandError):
        call_command("api_account", "create", "x", "--role", "monitor")
    from diaries.models import AuditEvent

    actions = list(AuditEvent.objects.filter(object_type="User").values_list("action", flat=True).order_by("at"))
    assert actions == ["api_account.create", "api_token.issue", "api_token.issue", "api_token.revoke"]
    assert first not in str(list(AuditEvent.objects.values_list("after", flat=True)))
