"""Staff changelists accept only their declared filters: no lookup reaches a hidden field."""

import pytest

from diaries.models import Participant
from tests.conftest import enroll

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", [
    "/admin/diaries/study/?config_toml__icontains=RUX",
    "/admin/diaries/participant/?randomization__isnull=False",
    "/admin/diaries/participant/?randomization__arm=RUX15",
    "/admin/diaries/participant/?phone_hash__startswith=a",
    "/admin/notifications/outboundmessage/?body__icontains=diary",
    "/admin/diaries/participant/?site__id__exact=1&usubjid__contains=0001",
])
def test_a_lookup_on_an_undeclared_field_is_refused(client, coordinator, site_a_data, url):
    client.force_login(coordinator)
    assert client.get(url).status_code == 400


@pytest.mark.parametrize("url", [
    "/admin/diaries/participant/?phase__exact=run_in",
    "/admin/diaries/participant/?compliance=lt80",
    "/admin/diaries/participant/?sms_consent__exact=1",
    "/admin/diaries/participant/?q=0001",
    "/admin/diaries/alert/?status__exact=open",
    "/admin/diaries/auditevent/?object_type=Alert&object_id=1",
    "/admin/diaries/auditevent/?at__year=2026",
    "/admin/notifications/outboundmessage/?status__exact=delivered&kind__exact=diary",
])
def test_the_declared_filters_and_search_still_answer(client, coordinator, site_a_data, url):
    client.force_login(coordinator)
    assert client.get(url).status_code == 200


def test_the_home_page_shortcuts_still_answer(client, coordinator, site_a_data, study):
    client.force_login(coordinator)
    site = study.sites.get(number="101")
    for url in [f"/admin/diaries/participant/?site__id__exact={site.pk}&compliance=lt80",
                f"/admin/diaries/alert/?site__id__exact={site.pk}&status__exact=open"]:
        assert client.get(url).status_code == 200, url


def test_a_phone_held_at_another_site_says_only_that_it_cannot_be_used(client, coordinator, study):
    # Another US site's participant: the number passes site 101's country check and is held elsewhere.
    elsewhere = enroll(study, "TRUE-AD-102-0001", site="102", phone="+16175550188", zone="America/New_York")
    client.force_login(coordinator)
    site_a = study.sites.get(number="101")
    response = client.post("/admin/diaries/participant/add/", {
        "site": site_a.pk, "usubjid": "TRUE-AD-101-0011", "phone": elsewhere.phone, "zone": "America/Chicago",
        "language": "en", "runin_start": "2026-04-01", "age_group": "18+"})
    page = response.content.decode()
    assert "this phone number cannot be used" in page
    for telling in ["already", "belongs", "another participant", elsewhere.usubjid]:
        assert telling not in page
    assert not Participant.objects.filter(usubjid="TRUE-AD-101-0011").exists()


@pytest.mark.parametrize("usubjid", ["TRUE AD 1", "=HYPERLINK(1)", "P/1", "P;1"])
def test_a_usubjid_outside_the_pattern_is_refused_at_enrolment(client, coordinator, study, usubjid):
    client.force_login(coordinator)
    response = client.post("/admin/diaries/participant/add/", {
        "site": study.sites.get(number="101").pk, "usubjid": usubjid, "phone": "+13125550177",
        "zone": "America/Chicago", "language": "en", "runin_start": "2026-04-01", "age_group": "18+"})
    assert response.status_code == 200
    assert "letters, digits" in response.content.decode()
    assert not Participant.objects.exists()
