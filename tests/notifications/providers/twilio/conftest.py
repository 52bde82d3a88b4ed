import pytest

from notifications.providers.twilio import pacing
from tests.fake_twilio import FakeTwilio

ACCOUNT = "AC" + "a" * 32
TOKEN = "fake-token"


@pytest.fixture
def twilio(settings):
    """The fake Twilio server, with the app's Twilio settings pointing at it and a sender that is not paused."""
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "b" * 32
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "fake-twilio"}}
    pacing.resume()
    with FakeTwilio(TOKEN, ACCOUNT) as fake:
        settings.TWILIO_API_BASE = fake.base_url
        yield fake
    pacing.resume()
