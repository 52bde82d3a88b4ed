import pytest


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.SMS_BACKEND = "locmem"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PUBLIC_BASE_URL = "https://eprp.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
