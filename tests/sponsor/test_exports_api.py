"""Exports through the API: requested, worked by the task, polled, downloaded; blinding kept throughout."""

import hashlib
import json
import time
from pathlib import Path

import pandas as pd
import pytest
from django.contrib.auth.models import Group

from analysis import export_jobs
from analysis.models import Export
from diaries import roles
from diaries.models import AuditEvent
from tests.sponsor.conftest import client_for, request_export

pytestmark = pytest.mark.django_db

ARMS = ("RUX15", "RUX075", "VEHICLE")


def _done(client, response) -> dict:
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "done", body["error"]
    return body


def test_requesting_an_export_queues_it_and_the_task_runs_after_commit(trial, sponsor, run_tasks_on_commit,
                                                                       django_capture_on_commit_callbacks):
    client, response = request_export(sponsor, {"formats": ["parquet"], "as_of": "2026-03-20"},
                                      capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202
    export = Export.objects.get()
    assert response.json() == {"id": str(export.id), "status": "queued",
                               "url": f"http://testserver/api/v1/exports/{export.id}/"}
    assert response["Location"] == response.json()["url"]
    assert run_tasks_on_commit == [str(export.id)]
    body = _done(client, response)
    names = [f["name"] for f in body["manifest"]["files"]]
    assert {"adqs.csv", "adqs.parquet", "qs.csv", "report.html", "cycles.csv", "cycles_summary.csv"} <= set(names)
    assert [f["name"] for f in body["files"]] == names
    assert body["files"][0]["url"].startswith(f"http://testserver/api/v1/exports/{export.id}/files/")
    assert (body["formats"], body["as_of"], body["unblinded"], body["requested_by"]) == (
        ["csv", "parquet"], "2026-03-20", False, "sponsor")
    assert "directory" not in body  # a server path is nobody's business
    assert AuditEvent.objects.filter(action="export.request", actor="user:sponsor").count() == 1
    assert AuditEvent.objects.get(action="export.transfer").after["files"] == body["manifest"]["files"]


def test_the_task_is_safe_to_run_twice(trial, sponsor, run_tasks_on_commit, django_capture_on_commit_callbacks):
    request_export(sponsor, capture=django_capture_on_commit_callbacks)
    export = Export.objects.get()
    assert export.status == "done"
    assert export_jobs.work_export_task(str(export.id)) == "skipped"
    assert AuditEvent.objects.filter(action="export.transfer").count() == 1


def test_a_blinded_export_has_no_arms_even_with_the_randomization_in_the_database(
        randomized, sponsor, run_tasks_on_commit, django_capture_on_commit_callbacks):
    client, response = request_export(sponsor, {"formats": ["csv", "parquet", "xlsx", "xpt"]},
                                      capture=django_capture_on_commit_callbacks)
    body = _done(client, response)
    directory = Export.objects.get().path
    participants = pd.read_csv(directory / "participants.csv", dtype=str, keep_default_na=False)
    assert set(participants.ARM) == {""} and set(participants.STRATUM) == {""}
    assert set(pd.read_csv(directory / "endpoint_summary.csv", dtype=str).ARM) == {"ALL"}
    assert set(pd.read_csv(directory / "adqs.csv", dtype=str, keep_default_na=False).ARM) == {""}
    for f in body["manifest"]["files"]:
        data = (directory / f["name"]).read_bytes()
        for arm in ARMS:
            assert arm.encode() not in data, (arm, f["name"])
    assert "VEHICLE" not in json.dumps(body)


def test_a_blinded_request_stays_blinded_when_it_runs(randomized, sponsor, django_capture_on_commit_callbacks):
    """Even if the requester gains the permission to see arms before the worker picks it up."""
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(sponsor).post("/api/v1/exports/", {}, format="json")
    sponsor.groups.add(Group.objects.get(name=roles.STATISTICIAN))
    export_jobs.work_export_task(response.json()["id"])
    export = Export.objects.get()
    assert set(pd.read_csv(export.path / "endpoint_summary.csv", dtype=str).ARM) == {"ALL"}


def test_an_unblinded_export_has_arms_and_blinded_users_never_see_it(
        randomized, sponsor, statistician, run_tasks_on_commit, django_capture_on_commit_callbacks):
    client, response = request_export(statistician, {"unblinded": True}, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202
    body = _done(client, response)
    export = Export.objects.get()
    assert export.unblinded
    assert set(pd.read_csv(export.path / "endpoint_summary.csv", dtype=str).ARM) == {"RUX15", "VEHICLE"}
    report = (export.path / "report.html").read_text()
    assert "RUX15" in report and "VEHICLE" in report

    blind = client_for(sponsor)
    assert blind.get("/api/v1/exports/").json()["results"] == []
    assert blind.get(f"/api/v1/exports/{export.id}/").status_code == 404
    assert blind.get(body["files"][0]["url"]).status_code == 404
    assert client.get("/api/v1/exports/").json()["count"] == 1


def test_an_unblinded_export_fails_if_the_permission_is_withdrawn_before_it_runs(
        randomized, statistician, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(statistician).post("/api/v1/exports/", {"unblinded": True}, format="json")
    statistician.groups.clear()
    statistician = type(statistician).objects.get(pk=statistician.pk)  # no cached permissions
    assert export_jobs.work_export_task(response.json()["id"]) == "failed"
    export = Export.objects.get()
    assert export.status == "failed" and "randomization" in export.error
    assert not export.path.exists()
    assert not AuditEvent.objects.filter(action="export.transfer").exists()


def test_a_download_streams_the_file_and_is_audited_with_its_checksum(
        trial, sponsor, run_tasks_on_commit, django_capture_on_commit_callbacks):
    client, response = request_export(sponsor, capture=django_capture_on_commit_callbacks)
    body = _done(client, response)
    entry = next(f for f in body["files"] if f["name"] == "adqs.csv")
    download = client.get(entry["url"])
    assert download.status_code == 200
    assert download.streaming
    data = b"".join(download.streaming_content)
    assert data == (Export.objects.get().path / "adqs.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] == download["X-Content-SHA256"]
    assert 'attachment; filename="adqs.csv"' == download["Content-Disposition"]
    event = AuditEvent.objects.get(action="export.download")
    assert event.actor == "user:sponsor"
    assert event.after == {"export": body["id"], "file": "adqs.csv", "sha256": entry["sha256"]}
    assert (event.object_type, event.object_id) == ("Export", body["id"])


def test_only_names_of_the_manifest_are_served(trial, sponsor, run_tasks_on_commit,
                                               django_capture_on_commit_callbacks):
    client, response = request_export(sponsor, capture=django_capture_on_commit_callbacks)
    export = Export.objects.get()
    (export.path / "stray.txt").write_text("not part of the transfer")
    (Path(export.path).parent / "secret.csv").write_text("outside the export")
    for name in ("..%2Fsecret.csv", "..%2F..%2Fvar%2Fsecret.csv", "..", ".", "%2Fetc%2Fpasswd", "..%5Csecret.csv",
                 "manifest.json", "stray.txt", "ADQS.CSV", "adqs.csv%00", "adqs.csv%2F"):
        assert client.get(f"/api/v1/exports/{export.id}/files/{name}").status_code == 404, name
    assert not AuditEvent.objects.filter(action="export.download").exists()


def test_a_file_changed_since_the_export_is_refused(trial, sponsor, run_tasks_on_commit,
                                                    django_capture_on_commit_callbacks):
    client, response = request_export(sponsor, capture=django_capture_on_commit_callbacks)
    export = Export.objects.get()
    with (export.path / "adqs.csv").open("a") as f:
        f.write("tampered\n")
    assert client.get(f"/api/v1/exports/{export.id}/files/adqs.csv").status_code == 409
    assert AuditEvent.objects.filter(action="export.download_refused").count() == 1


def test_files_of_an_unfinished_export_cannot_be_downloaded(trial, sponsor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = client_for(sponsor).post("/api/v1/exports/", {}, format="json")
    detail = client_for(sponsor).get(response["Location"]).json()
    assert (detail["status"], detail["manifest"], detail["files"]) == ("queued", None, [])
    assert client_for(sponsor).get(f"{response['Location']}files/adqs.csv").status_code == 409


def test_bad_requests_are_refused_with_400(trial, sponsor):
    client = client_for(sponsor)
    assert client.post("/api/v1/exports/", {"formats": ["sas7bdat"]}, format="json").status_code == 400
    assert client.post("/api/v1/exports/", {"as_of": "yesterday"}, format="json").status_code == 400
    assert client.post("/api/v1/exports/", {"study": "NOPE"}, format="json").status_code == 400
    assert not Export.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_export_is_worked_by_a_real_celery_worker(trial, sponsor, celery_worker):
    client = client_for(sponsor)
    response = client.post("/api/v1/exports/", {}, format="json")
    assert response.status_code == 202
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(response["Location"]).json()["status"]
        if status in ("done", "failed"):
            break
        time.sleep(0.2)
    assert status == "done"


def test_an_unblinded_request_with_unrandomized_participants_is_refused_listing_them(
        trial, statistician, django_capture_on_commit_callbacks):
    from diaries.models import Randomization

    alice, carol, dave = trial
    Randomization.objects.create(participant=alice, arm="RUX15", stratum="A", imported_at=alice.enrolled_at)
    client, response = request_export(statistician, {"unblinded": True}, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert response.json()["unrandomized"] == [
        {"USUBJID": "TRUE-AD-101-0003", "SITEID": "101", "DAY1": "2026-03-08"},
        {"USUBJID": "TRUE-AD-201-0001", "SITEID": "201", "DAY1": "2026-03-08"},
    ]
    assert not Export.objects.exists()


def test_an_unblinded_request_may_exclude_the_unrandomized_explicitly(
        trial, statistician, run_tasks_on_commit, django_capture_on_commit_callbacks):
    from diaries.models import Randomization

    alice, carol, dave = trial
    for p, arm in ((alice, "RUX15"), (carol, "VEHICLE")):
        Randomization.objects.create(participant=p, arm=arm, stratum="A", imported_at=p.enrolled_at)
    client, response = request_export(statistician, {"unblinded": True, "exclude_unrandomized": True},
                                      capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202
    body = _done(client, response)
    assert body["exclude_unrandomized"] is True
    assert body["manifest"]["excluded_unrandomized"] == [
        {"USUBJID": "TRUE-AD-201-0001", "SITEID": "201", "DAY1": "2026-03-08"}]
    directory = Export.objects.get().path
    assert "TRUE-AD-201-0001" not in (directory / "participants.csv").read_text()
    assert set(pd.read_csv(directory / "endpoint_summary.csv", dtype=str).ARM) == {"RUX15", "VEHICLE"}
    report = (directory / "report.html").read_text()
    assert "1 excluded on request: TRUE-AD-201-0001 (site 201, Day 1 2026-03-08)" in report
