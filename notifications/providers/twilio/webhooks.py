"""Twilio's webhooks: signed, form-encoded, answered with TwiML in the same request."""

import hashlib
import logging
import re

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from notifications import carrier_keywords, redelivery
from notifications.inbound import Inbound, receive_sms
from notifications.models import InboundMessage
from notifications.outbox import record_delivery_status
from notifications.providers.twilio import errors, pacing

log = logging.getLogger(__name__)


def signature_is_valid(request) -> bool:
    """Twilio signs the URL it called (behind a proxy: our public base URL) and every POST parameter."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not settings.TWILIO_AUTH_TOKEN:
        return False
    url = settings.PUBLIC_BASE_URL + request.get_full_path()
    # request.POST, not .dict(): repeated keys are part of the signature.
    return RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, request.POST, signature)


def sign(url: str, params: dict, auth_token: str) -> str:
    """The X-Twilio-Signature Twilio would send for these form parameters (the simulator's texts)."""
    return RequestValidator(auth_token).compute_signature(url, params)


def _inbound(params) -> Inbound:
    """Twilio's form fields of an incoming message."""
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError:
        num_media = 0
    return Inbound.received(message_sid=params.get("MessageSid", ""), sender=params.get("From", ""),
                            body=params.get("Body") or "", num_media=num_media)


# Twilio's own shapes: a replayed, re-signed body that moved one parameter into another's
# value (same signature) never has them.
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
# How long a webhook's I-Twilio-Idempotency-Token is remembered (Twilio retries within minutes).
IDEMPOTENCY_TTL = 24 * 3600


def not_twilios(params) -> str | None:
    """Why these inbound parameters cannot be a text Twilio sent to our account, or None."""
    if not MESSAGE_SID.fullmatch(params.get("MessageSid", "")):
        return "MessageSid is not a Twilio message SID"
    account = params.get("AccountSid", "")
    ours = settings.TWILIO_ACCOUNT_SID
    # Without an account configured (the embedded mode; production refuses to start so), the shape only.
    if (account != ours) if ours else not ACCOUNT_SID.fullmatch(account):
        return "AccountSid is not this account"
    return None


def _idempotency_key(request) -> str | None:
    token = request.headers.get("I-Twilio-Idempotency-Token", "")
    return "eprp:twilio-idempotency:" + hashlib.sha256(token.encode()).hexdigest()[:40] if token else None


def _refuse(request):
    # Never log the body: it is patient data.
    log.warning("refused unsigned or badly signed Twilio request to %s", request.path)
    return HttpResponseForbidden("invalid signature")


@csrf_exempt
@require_POST
def inbound(request):
    if not signature_is_valid(request):
        return _refuse(request)
    inbound = _inbound(request.POST)
    if not inbound.message_sid or not inbound.sender:
        return HttpResponseBadRequest("MessageSid and From are required")
    if problem := not_twilios(request.POST):
        log.warning("refused a signed Twilio request to %s: %s", request.path, problem)
        return HttpResponseBadRequest(problem)
    key = _idempotency_key(request)
    first_sid = cache.get(key) if key else None
    if first_sid is not None:
        # A delivery already handled (Twilio's token repeats on its retries and on replays):
        # the first reply again, nothing done twice, whatever MessageSid it carries now.
        earlier = InboundMessage.objects.filter(message_sid=first_sid).only("reply").first()
        reply = earlier.reply if earlier is not None else ""
    else:
        if request.POST.get("ErrorCode"):
            # Twilio's fallback request: the primary URL failed (ErrorUrl); the text is handled the same way.
            log.warning("fallback webhook: Twilio error %s at the primary URL", request.POST.get("ErrorCode"))
        keyword = request.POST.get("OptOutType", "").upper()
        if keyword in carrier_keywords.KEYWORDS:
            # Advanced Opt-Out: Twilio already answered it; recorded, not fed to our own keywords.
            reply = carrier_keywords.receive_carrier_keyword(inbound=inbound, keyword=keyword)
        else:
            reply = receive_sms(inbound=inbound)
        if key:  # remembered once handled: a delivery that failed is handled when Twilio retries it
            cache.set(key, inbound.message_sid, timeout=IDEMPOTENCY_TTL)
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return HttpResponse(str(twiml), content_type="text/xml")


@csrf_exempt
@require_POST
def status(request, message_id):
    if not signature_is_valid(request):
        return _refuse(request)
    record_status(message_id=message_id, params=request.POST)
    return HttpResponse(status=204)


def record_status(*, message_id, params, reconciled: bool = False) -> bool:
    """One status report (a callback, or a message read back from Twilio's log); False if nothing changed."""
    code = params.get("ErrorCode", "") or ""
    status = params.get("MessageStatus", "")
    policy = errors.policy_of(code) if code else None
    changed = record_delivery_status(
        message_id=message_id, status=status, error_code=code,
        problem=policy.problem if policy else None, reason=policy.reason if policy else "",
        provider_sid=params.get("MessageSid", ""), reconciled=reconciled,
    )
    if changed and status == "delivered":
        pacing.record_delivered()
    elif changed and policy is not None and policy.retryable and status in ("failed", "undelivered"):
        # Accepted, then not delivered for a passing reason (30003 unreachable, 30008): sent again while useful.
        redelivery.resend_undelivered(message_id=message_id, cause=policy.cause)
    return changed
