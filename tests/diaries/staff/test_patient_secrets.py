"""Only the patient can answer as the patient: a texted diary link or sign-in code is never
stored or shown in a readable form, to any staff persona, on any admin page."""

import re

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.urls import reverse

from diaries.models import DiaryLink
from diaries.patient.app import auth as patient_auth
from notifications import outbox
from notifications.models import OutboundMessage
from notifications.providers import locmem

pytestmark = pytest.mark.django_db


@pytest.fixture
def texted_secrets(settings, alice):
    """Alice was just sent a diary link and an app sign-in code, both handed to the transport."""
    settings.PATIENT_SIGNIN_MIN_SECONDS = 0
    cache.clear()  # the sign-in limits count in the cache
    locmem.outbox.clear()
    link_message = outbox.send_diary_link(participant=alice)
    patient_auth.request_code(phone=alice.phone, ip="192.0.2.7")
    code_message = OutboundMessage.objects.get(participant=alice, kind="signin_code")
    link = re.search(r"https://\S+/diary/go/(\S+)/", outbox.as_sent(link_message)).group(1)
    code = re.search(r"\b(\d{6})\b", outbox.as_sent(code_message)).group(1)
    outbox.send_messages([link_message.pk, code_message.pk])
    # The patient's phone got both, readable.
    assert any(link in m["body"] for m in locmem.outbox) and any(code in m["body"] for m in locmem.outbox)
    return {"token": link, "nonce": link.split(":")[0], "code": code}


def _found(page: str, secrets: dict) -> list[str]:
    found = [name for name in ("token", "nonce") if secrets[name] in page]
    if re.search(rf"(?<!\d){secrets['code']}(?!\d)", page):
        found.append("code")
    return found


def test_the_stored_rows_hold_neither_secret(texted_secrets, alice):
    for message in OutboundMessage.objects.filter(participant=alice):
        assert not _found(message.body + message.error_message, texted_secrets), message.kind
        assert message.sealed_body is None  # handed over: the readable text is gone
    assert "********" in OutboundMessage.objects.get(kind="link").body
    assert "********" in OutboundMessage.objects.get(kind="signin_code").body
    assert not DiaryLink.objects.filter(nonce=texted_secrets["nonce"]).exists()  # only its hash


def test_a_queued_message_keeps_its_secret_only_encrypted(alice):
    message = outbox.send_diary_link(participant=alice)
    token = re.search(r"/diary/go/(\S+)/", outbox.as_sent(message)).group(1)
    assert token not in message.body and token.encode() not in bytes(message.sealed_body)


def _admin_pages(alice) -> list[str]:
    """The admin's home, every changelist, and the change page of every object of every model."""
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages.append(reverse(f"{name}_changelist"))
        for pk in model._default_manager.values_list("pk", flat=True):
            pages += [reverse(f"{name}_change", args=[pk]), reverse(f"{name}_history", args=[pk])]
    return pages


@pytest.mark.parametrize("persona", ["coordinator", "monitor", "sponsor"])
def test_no_staff_persona_finds_either_secret_on_any_admin_page(client, request, texted_secrets, alice, persona):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    pages = _admin_pages(alice)
    assert reverse("admin:diaries_participant_change", args=[alice.pk]) in pages
    opened = 0
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 302, 403, 404), (url, response.status_code)
        opened += response.status_code == 200
        assert not _found(response.content.decode(), texted_secrets), (persona, url)
    if persona != "sponsor":  # the sponsor has no admin at all
        assert opened > 10
