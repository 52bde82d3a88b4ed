"""Twilio's error codes, in one table: what each one means for the outbox.

Read by the transport (an API call that failed) and by the status callbacks (a message
that failed later). https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

from notifications.providers import BAD_NUMBER, OPTED_OUT

# code -> what it means for us; every code listed is permanent: no retry can fix it.
CODES: dict[str, str | None] = {
    "21610": OPTED_OUT,  # the recipient replied STOP to the carrier: Twilio blocks the number
    "21211": BAD_NUMBER,  # invalid "To" number
    "21614": BAD_NUMBER,  # "To" is not a mobile number
    "21408": None,  # permission to send to this region is not enabled
    "21612": None,  # "To" is not reachable from this sender
    "30003": None,  # unreachable destination handset
    "30005": None,  # unknown destination handset
    "30006": None,  # landline or unreachable carrier
}


def is_permanent(code: str) -> bool:
    return code in CODES


def problem_of(code: str) -> str | None:
    """OPTED_OUT, BAD_NUMBER or None: what the outbox does about a failed message."""
    return CODES.get(code)
