"""GET /api/v1/diary-records/: paginated, pseudonymised, current records unless asked, filters."""

import json
from datetime import datetime

import pytest

from analysis.models import Export
from diaries.models import DiaryRecord
from tests.conftest import CHICAGO, answer
from tests.sponsor.conftest import client_for, request_export

pytestmark = pytest.mark.django_db

FIELDS = {"id", "usubjid", "site", "instrument", "timepoint", "diary_date", "study_day", "answers", "scores",
          "submitted_at", "channel", "current", "supersedes"}


def _all_pages(client, url):
    pages, records = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(response.content.decode())
        body = response.json()
        records.extend(body["results"])
        url = body["next"]
    return pages, records


def test_records_are_paginated_in_a_stable_order(trial, sponsor):
    client = client_for(sponsor)
    first = client.get("/api/v1/diary-records/?page_size=10").json()
    assert first["count"] == DiaryRecord.objects.current().count() == 3 * 22 * 2 + 1
    assert len(first["results"]) == 10 and first["previous"] is None and "page=2" in first["next"]
    pages, records = _all_pages(client, "/api/v1/diary-records/?page_size=50")
    assert len(pages) == 3 and len(records) == first["count"]
    assert len({r["id"] for r in records}) == len(records)
    keys = [(r["usubjid"], r["diary_date"], r["instrument"], r["timepoint"]) for r in records]
    assert keys == sorted(keys)
    assert records[:10] == first["results"]


def test_a_record_is_pseudonymised_with_its_answers_scores_and_study_day(trial, sponsor):
    body = client_for(sponsor).get("/api/v1/diary-records/?usubjid=TRUE-AD-101-0001&date_from=2026-03-09"
                                   "&date_to=2026-03-09").json()
    itch, promis = sorted(body["results"], key=lambda r: r["instrument"])
    assert set(itch) == FIELDS
    assert (itch["usubjid"], itch["site"], itch["timepoint"], itch["diary_date"], itch["study_day"]) == (
        "TRUE-AD-101-0001", "101", "DAILY", "2026-03-09", 2)
    assert itch["answers"] == [{"item": 1, "code": itch["answers"][0]["code"], "option": 3, "score": 3}]
    assert (itch["channel"], itch["current"], itch["supersedes"]) == ("sms", True, None)
    assert promis["instrument"] == "PROMIS_SD8B" and len(promis["answers"]) == 8
    assert promis["answers"][1]["code"].lower() == "sleep115"
    assert promis["scores"]["raw"] == 24
    run_in = client_for(sponsor).get("/api/v1/diary-records/?usubjid=TRUE-AD-101-0001&date_to=2026-03-01").json()
    assert {r["study_day"] for r in run_in["results"]} == {-7}


def test_filters_by_site_and_subject(trial, sponsor):
    client = client_for(sponsor)
    site_b = client.get("/api/v1/diary-records/?site=201&page_size=1000").json()["results"]
    assert {r["usubjid"] for r in site_b} == {"TRUE-AD-201-0001"}
    assert client.get("/api/v1/diary-records/?usubjid=NOPE").json()["count"] == 0
    assert client.get("/api/v1/diary-records/?date_from=not-a-date").status_code == 400


def test_superseded_records_only_when_asked(trial, sponsor):
    alice = trial[0]
    answer(participant=alice, instrument="ITCH_NRS", answers={1: 1}, channel="sms",
                            at=datetime(2026, 3, 20, 20, 30, tzinfo=CHICAGO))
    client = client_for(sponsor)
    url = "/api/v1/diary-records/?usubjid=TRUE-AD-101-0001&date_from=2026-03-20&date_to=2026-03-20"
    current = [r for r in client.get(url).json()["results"] if r["instrument"] == "ITCH_NRS"]
    assert [(r["answers"][0]["score"], r["current"]) for r in current] == [(1, True)]
    every = [r for r in client.get(url + "&include_superseded=1").json()["results"] if r["instrument"] == "ITCH_NRS"]
    assert [(r["answers"][0]["score"], r["current"]) for r in every] == [(3, False), (1, True)]
    assert every[1]["supersedes"] == every[0]["id"]


def test_no_phone_number_appears_in_any_response(trial, sponsor, statistician, run_tasks_on_commit,
                                                 django_capture_on_commit_callbacks):
    phones = [p.phone for p in trial]
    needles = {n for phone in phones for n in (phone, phone[1:], phone[2:], phone[-7:])}
    client = client_for(sponsor)
    texts, _ = _all_pages(client, "/api/v1/diary-records/?page_size=1000&include_superseded=1")
    _, response = request_export(sponsor, {"formats": ["csv", "parquet", "xlsx", "xpt"]},
                                 capture=django_capture_on_commit_callbacks)
    detail = client.get(response["Location"])
    texts += [client.get("/api/v1/exports/").content.decode(), detail.content.decode()]
    for f in detail.json()["files"]:
        download = client.get(f["url"])
        assert download.status_code == 200
        texts.append(b"".join(download.streaming_content).decode("latin-1"))
    everything = "\n".join(texts)
    for needle in needles:
        assert needle not in everything, needle
    assert Export.objects.get().status == "done"
    # And no names either: participants have none, users only their login name.
    assert json.loads(detail.content)["requested_by"] == "sponsor"


def test_fhir_bundle_from_the_api_validates_and_pages(trial, sponsor, coordinator):
    from fhir.resources.R4B.bundle import Bundle

    client = client_for(sponsor)
    response = client.get("/api/v1/fhir/?page_size=50")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset" and bundle.total == DiaryRecord.objects.count()
    kinds = [e.resource.__class__.__name__ for e in bundle.entry]
    assert kinds[:2] == ["Questionnaire", "Questionnaire"] and kinds.count("QuestionnaireResponse") == 50
    assert any(link.relation == "next" for link in bundle.link)
    assert client_for(coordinator).get("/api/v1/fhir/").status_code == 403
    for participant in trial:
        assert participant.phone not in response.content.decode()
