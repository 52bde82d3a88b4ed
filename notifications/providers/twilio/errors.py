"""Twilio's error codes, in one table: what each one means for the outbox and for the site.

Read by the transport (an API call that failed) and by the status callbacks (a message
that failed later). Every code has an action and a reason in plain words, which is what
the participant page shows for a text that did not arrive.
https://www.twilio.com/docs/api/errors/<code>
"""

from __future__ import annotations

from dataclasses import dataclass

from notifications.providers import BAD_NUMBER, OPTED_OUT, SENDER_PROBLEM, TRIED_AGAIN

# What the outbox does about a code besides recording it.
RETRY = "retry"  # often temporary: try again later, with backoff and jitter
FAIL = "fail"  # permanent for this message, nothing else to do


@dataclass(frozen=True)
class Policy:
    action: str  # RETRY, FAIL, or what it means for the participant: OPTED_OUT, BAD_NUMBER, SENDER_PROBLEM
    reason: str  # for the coordinator, in plain words: what happened and what to do

    @property
    def retryable(self) -> bool:
        return self.action == RETRY

    @property
    def cause(self) -> str:
        """What happened, without the promise of a retry (a failure reported later may not be re-sent)."""
        return self.reason.removesuffix(TRIED_AGAIN)

    @property
    def problem(self) -> str | None:
        return self.action if self.action in (OPTED_OUT, BAD_NUMBER, SENDER_PROBLEM) else None


CALL_THE_PATIENT = "call the patient to update it."
POLICY: dict[str, Policy] = {
    # Transient: the handset or the network, or Twilio itself.
    "30003": Policy(RETRY, "The phone could not be reached (switched off or out of signal)" + TRIED_AGAIN),
    "30008": Policy(RETRY, "The carrier reported an unknown error" + TRIED_AGAIN),
    "20429": Policy(RETRY, "Twilio was busy (too many requests)" + TRIED_AGAIN),
    # The sender's queue is full (per number: 21611; per Messaging Service: 30001).
    "21611": Policy(RETRY, "Too many texts were waiting at Twilio" + TRIED_AGAIN),
    "30001": Policy(RETRY, "Too many texts were waiting at Twilio" + TRIED_AGAIN),
    # The number: the site fixes it with the patient.
    "21211": Policy(BAD_NUMBER, "This is not a valid phone number; " + CALL_THE_PATIENT),
    "21614": Policy(BAD_NUMBER, "This number is not a mobile phone and cannot receive texts; " + CALL_THE_PATIENT),
    "30005": Policy(BAD_NUMBER, "This number is unknown or no longer in service; " + CALL_THE_PATIENT),
    "30006": Policy(BAD_NUMBER, "This number is a landline or its carrier cannot take texts; " + CALL_THE_PATIENT),
    # The sender or the content: the study's operator, not the site, can fix it.
    "30007": Policy(SENDER_PROBLEM, "The carrier filtered the text as unwanted; the study's operator has been told."),
    "30034": Policy(SENDER_PROBLEM, "The study's sending number is not registered with US carriers (10DLC); "
                                    "the study's operator has been told."),
    # The patient.
    "21610": Policy(OPTED_OUT, "The patient blocked texts from the study with their carrier (STOP); "
                               "they can text START to receive them again."),
    "21408": Policy(FAIL, "Texting this country is not enabled for the study's account; tell the study's operator."),
    "21612": Policy(FAIL, "This number cannot be reached from the study's sending number; tell the study's operator."),
}
UNKNOWN = Policy(FAIL, "Twilio reported error {code}; tell the study's operator if it repeats.")
SERVER_ERROR = Policy(RETRY, "Twilio did not answer properly" + TRIED_AGAIN)
# Twilio fails a message that waited in its queue past its ValidityPeriod (30001 after the
# period, or 30010-style codes): ours, whatever the code, when the message's deadline passed.
EXPIRED_REASON = "Not delivered in time: it expired unsent when its diary window closed (the phone was off or " \
                 "the network was busy)."


def policy_of(code: str, *, http_status: int | None = None) -> Policy:
    """The policy of a Twilio error code; an HTTP 429 or 5xx without a known code is transient."""
    if code in POLICY:
        return POLICY[code]
    if http_status is not None and (http_status == 429 or http_status >= 500):
        return SERVER_ERROR
    return Policy(UNKNOWN.action, UNKNOWN.reason.format(code=code or "unknown"))


def is_permanent(code: str) -> bool:
    return not policy_of(code).retryable


def problem_of(code: str) -> str | None:
    """OPTED_OUT, BAD_NUMBER, SENDER_PROBLEM or None: what the outbox does about a failed message."""
    return policy_of(code).problem if code else None


def reason_of(code: str) -> str:
    """The coordinator's words for a failed message's code."""
    return policy_of(code).reason
