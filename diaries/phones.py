"""Phone numbers: E.164 normalisation, encryption at rest and a keyed hash for look-up.

The clear number exists only in memory. The hash is an HMAC under a key derived from
FIELD_ENCRYPTION_KEY, so a leaked table cannot be reversed by hashing every number.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers
from cryptography.fernet import Fernet
from django.conf import settings


class InvalidPhone(ValueError):
    pass


def normalize(raw: str) -> str:
    """The E.164 form of a number given in E.164 (with or without a whatsapp: prefix)."""
    text = (raw or "").strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    if not text.startswith("+"):
        raise InvalidPhone(f"not in E.164 form (+ and country code): {mask(text)}")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"not a valid number: {mask(text)}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _fernet() -> Fernet:
    return Fernet(settings.FIELD_ENCRYPTION_KEY.encode())


def encrypt(e164: str) -> bytes:
    return _fernet().encrypt(e164.encode())


def decrypt(token: bytes) -> str:
    return _fernet().decrypt(token).decode()


def lookup_hash(e164: str) -> str:
    key = hashlib.sha256(b"eprp-phone-index:" + settings.FIELD_ENCRYPTION_KEY.encode()).digest()
    return hmac.new(key, e164.encode(), hashlib.sha256).hexdigest()


def mask(number: str) -> str:
    """Enough to recognise a number on the phone with the patient, never enough to dial it."""
    return number[:3] + "*" * max(len(number) - 5, 0) + number[-2:] if len(number) > 5 else "*" * len(number)


def normalize_for_country(raw: str, country: str) -> str:
    """The E.164 form of a number of the site's country, given in E.164 or as dialled in that country.

    Another country's number is refused with a message saying which country it is from:
    a typo in the country code would otherwise text a stranger abroad.
    """
    text = (raw or "").strip()
    try:
        parsed = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc}") from exc
    region = phonenumbers.region_code_for_number(parsed)
    if region != country:
        where = f"a number of {region}" if region else "not a number of any country"
        example = phonenumbers.format_number(phonenumbers.example_number_for_type(
            country, phonenumbers.PhoneNumberType.MOBILE), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        raise InvalidPhone(f"{mask(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))} is "
                           f"{where}, the site is in {country}: enter a {country} number, e.g. {example}")
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"not a valid {country} number: {mask(text)}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
