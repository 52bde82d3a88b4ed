"""Admin lockout is by username and address: failures from one address don't lock the account everywhere."""

import pytest

from diaries import roles
from tests.diaries.staff.conftest import PASSWORD, _user

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def coordinator(study, django_user_model):
    roles.setup_roles()
    return _user(django_user_model, "coordinator", roles.SITE_STAFF, sites=["101"], study=study)


def login(client, username, password, address, **headers):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"},
                       REMOTE_ADDR=address, **headers)


def test_failures_from_one_address_do_not_lock_the_account_elsewhere(client, coordinator):
    for _ in range(5):
        login(client, "coordinator", "wrong-password", "203.0.113.9")
    assert login(client, "coordinator", PASSWORD, "203.0.113.9").status_code == 429  # that address: locked
    assert login(client, "coordinator", PASSWORD, "198.51.100.7").status_code == 302  # the coordinator's own


def test_behind_proxies_the_client_address_is_the_one_num_proxies_names(client, coordinator, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    for _ in range(5):
        login(client, "coordinator", "wrong-password", proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert login(client, "coordinator", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    # The same proxy, another client: not locked out.
    assert login(client, "coordinator", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 302


def test_without_num_proxies_a_forwarded_header_is_ignored(client, coordinator):
    # An attacker varying X-Forwarded-For does not get fresh attempts.
    for n in range(5):
        login(client, "coordinator", "wrong-password", "203.0.113.9", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    assert login(client, "coordinator", PASSWORD, "203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429
