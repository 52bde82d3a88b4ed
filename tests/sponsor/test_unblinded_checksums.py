"""Blinding holds in the audit trail: an unblinded export's checksums and row counts (which depend on
the arms) are for users who may see arms; everyone else sees that it happened, by whom and when."""

import json

import pytest

from analysis.models import Export
from diaries.models import AuditEvent
from tests.sponsor.conftest import request_export
from tests.sponsor.test_exports_api import _done

pytestmark = pytest.mark.django_db


def test_the_audit_trail_keeps_no_checksum_or_row_count_of_an_unblinded_file(
        randomized, statistician, run_tasks_on_commit, django_capture_on_commit_callbacks):
    client, response = request_export(statistician, {"unblinded": True}, capture=django_capture_on_commit_callbacks)
    body = _done(client, response)
    export = Export.objects.get()
    files = body["manifest"]["files"]
    assert any(f["name"] == "participants.csv" for f in files)
    download = client.get(next(f["url"] for f in body["files"] if f["name"] == "participants.csv"))
    assert download.status_code == 200
    trail = json.dumps([[e.action, e.before, e.after] for e in AuditEvent.objects.all()], default=str)
    for f in files:
        assert f["sha256"] not in trail, f["name"]
    assert '"rows"' not in trail
    # What anyone reading the trail still learns: an unblinded export, by whom, when, which files.
    transfer = AuditEvent.objects.get(action="export.transfer")
    assert transfer.after["unblinded"] is True and transfer.actor == f"user:{statistician.get_username()}" and transfer.at
    assert "participants.csv" in transfer.after["files"]
    assert AuditEvent.objects.get(action="export.download").after["file"] == "participants.csv"
    # Those who may see arms read the checksums in the manifest (API), as before.
    assert all(len(f["sha256"]) == 64 for f in export.manifest["files"])


def test_a_blinded_exports_trail_keeps_its_checksums(trial, sponsor, run_tasks_on_commit,
                                                   django_capture_on_commit_callbacks):
    client, response = request_export(sponsor, {}, capture=django_capture_on_commit_callbacks)
    body = _done(client, response)
    transfer = AuditEvent.objects.get(action="export.transfer")
    assert transfer.after["files"] == body["manifest"]["files"]
