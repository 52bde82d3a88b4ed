"""Who may use the sponsor API: sponsors, unblinded statisticians and superusers; nobody else."""

import pytest

from analysis.models import Export
from tests.sponsor.conftest import client_for

pytestmark = pytest.mark.django_db

READS = ["/api/v1/exports/", "/api/v1/diary-records/"]


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("persona", ["sponsor", "statistician", "superuser"])
def test_sponsors_statisticians_and_superusers_may_read(request, trial, persona, url):
    user = request.getfixturevalue(persona)
    assert client_for(user).get(url).status_code == 200


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("persona", ["coordinator", "monitor"])
def test_site_staff_and_monitors_are_refused(request, trial, persona, url):
    user = request.getfixturevalue(persona)
    assert client_for(user).get(url).status_code == 403


@pytest.mark.parametrize("persona", ["coordinator", "monitor"])
def test_site_staff_and_monitors_cannot_request_an_export(request, trial, persona):
    user = request.getfixturevalue(persona)
    response = client_for(user).post("/api/v1/exports/", {}, format="json")
    assert response.status_code == 403
    assert not Export.objects.exists()


@pytest.mark.parametrize("url", READS)
def test_anonymous_requests_are_unauthenticated(trial, url):
    response = client_for(None).get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_deactivated_users_token_no_longer_works(trial, sponsor):
    client = client_for(sponsor)
    assert client.get("/api/v1/exports/").status_code == 200
    sponsor.is_active = False
    sponsor.save()
    assert client.get("/api/v1/exports/").status_code == 401
    assert client.post("/api/v1/exports/", {}, format="json").status_code == 401


def test_a_wrong_token_is_refused(trial):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get("/api/v1/exports/").status_code == 401


def test_a_blinded_user_asking_for_an_unblinded_export_gets_403(trial, sponsor):
    response = client_for(sponsor).post("/api/v1/exports/", {"unblinded": True}, format="json")
    assert response.status_code == 403
    assert not Export.objects.exists()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_api_is_read_only_but_for_requesting_exports(trial, sponsor, method):
    assert getattr(client_for(sponsor), method)("/api/v1/exports/").status_code == 405
    assert getattr(client_for(sponsor), method)("/api/v1/diary-records/").status_code == 405
