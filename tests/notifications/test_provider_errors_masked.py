"""A provider's error text is kept with every phone number in it masked (staff read it in the admin)."""

import pytest

from notifications import outbox
from notifications.models import OutboundMessage
from tests.notifications.test_outbox import queued, twilio  # noqa: F401 (the fake Twilio fixture)

pytestmark = pytest.mark.django_db


def test_twilios_21211_text_names_the_number_and_is_kept_without_it(twilio, alice, admin_client):  # noqa: F811
    twilio.errors.append((400, 21211, f"The 'To' number {alice.phone} is not a valid phone number."))
    message = queued(alice)
    assert outbox.send_message(message.pk) == "failed"
    message.refresh_from_db()
    assert message.error_code == "21211"
    assert alice.phone not in message.error_message and alice.phone[1:] not in message.error_message
    page = admin_client.get(f"/admin/notifications/outboundmessage/{message.pk}/change/").content.decode()
    assert alice.phone not in page and alice.phone[1:] not in page


@pytest.mark.parametrize(("text", "kept"), [
    ("Attempt to send to unsubscribed recipient +48 601 555 012", "+48*******12"),
    ("number (312) 555-0111 unreachable", "312*****11"),
    ("Queue overflow, retry after 30 s (code 20429)", "Queue overflow, retry after 30 s (code 20429)"),
])
def test_numbers_in_any_form_are_masked_and_short_numbers_kept(text, kept):
    assert kept in outbox.without_numbers(text)


def test_a_retryable_errors_text_is_masked_too(twilio, alice):  # noqa: F811
    twilio.errors.append((429, 20429, f"Too many requests for {alice.phone}"))
    message = queued(alice)
    outbox.send_message(message.pk)
    assert alice.phone not in OutboundMessage.objects.get(pk=message.pk).error_message
