"""The webhook floor of DESIGN.md: what any signed Twilio webhook that stores the text must do.

Signature check, one indexed SELECT (the sender), two INSERTs in one transaction (the
inbound row and an audit event), TwiML back; written with the same ORM calls as the app.
The real inbound path (`notifications.providers.twilio.webhooks.inbound`) should stay within 2x of it.
"""

from django.db import transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.messaging_response import MessagingResponse

from diaries import audit, phones
from diaries.models import Participant
from notifications.models import InboundMessage
from notifications.providers.twilio.webhooks import signature_is_valid


@csrf_exempt
@require_POST
def floor(request):
    if not signature_is_valid(request):
        return HttpResponseForbidden("invalid signature")
    sender = phones.normalize(request.POST["From"])
    sender_hash = phones.lookup_hash(sender)
    participant = Participant.objects.filter(phone_hash=sender_hash).select_related("study", "site").first()
    now = timezone.now()
    with transaction.atomic():
        inbound = InboundMessage.objects.create(
            message_sid=request.POST["MessageSid"], study=participant.study, participant=participant,
            sender_hash=sender_hash, sender_masked=phones.mask(sender), body=request.POST.get("Body", ""),
            received_at=now, reply="Thank you.", outcome="floor",
        )
        audit.log(actor=participant, action="bench.floor", obj=participant, after={"message": inbound.pk}, at=now)
    twiml = MessagingResponse()
    twiml.message("Thank you.")
    return HttpResponse(str(twiml), content_type="text/xml")
