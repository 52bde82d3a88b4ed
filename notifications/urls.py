from django.urls import path

from notifications.providers.twilio import webhooks

urlpatterns = [
    path("twilio/inbound/", webhooks.inbound, name="twilio-inbound"),
    path("twilio/status/<uuid:message_id>/", webhooks.status, name="twilio-status"),
]
