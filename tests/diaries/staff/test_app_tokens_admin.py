"""App sign-ins in the admin: site-scoped, never the token, revocable by the participant's site staff."""

import pytest
from django.urls import reverse
from django.utils import timezone

from diaries.models import PatientToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(alice):
    now = timezone.now()
    return PatientToken.objects.create(participant=alice, key_hash="0" * 64, key_prefix="ept_abcd", device="iPhone",
                                       created_at=now, expires_at=now + timezone.timedelta(days=30))


def test_site_b_staff_cannot_see_site_a_tokens(client, charlie, token):
    charlie.is_staff = True
    charlie.save()
    client.force_login(charlie)
    assert client.get(reverse("admin:diaries_patienttoken_change", args=[token.pk])).status_code in (403, 404)
    listing = client.get(reverse("admin:diaries_patienttoken_changelist"))
    assert b"ept_abcd" not in listing.content


def test_superuser_revokes_a_token_and_never_sees_its_hash(client, admin_user, token):
    client.force_login(admin_user)
    page = client.get(reverse("admin:diaries_patienttoken_change", args=[token.pk]))
    assert page.status_code == 200 and b"0000000000000000" not in page.content
    client.post(reverse("admin:diaries_patienttoken_changelist"),
                {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == "user:admin"
