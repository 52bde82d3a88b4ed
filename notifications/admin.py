"""Read-only, site-scoped admin pages of texts in and out and of scheduled prompts.

Texts from unknown numbers belong to no participant, hence no site: only monitors see them.
"""

from django.contrib import admin

from diaries.staff.scoping import SiteScopedAdmin

from .models import InboundMessage, OutboundMessage, ScheduledPrompt


@admin.register(InboundMessage)
class InboundMessageAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["received_at", "participant", "sender_masked", "channel", "body", "outcome"]
    list_filter = ["participant__site", "channel", "outcome"]
    search_fields = ["participant__usubjid", "message_sid"]
    list_select_related = ["participant"]
    exclude = ["sender_hash"]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["created_at", "participant", "kind", "status", "error_code", "attempts", "sent_at"]
    list_filter = ["participant__site", "status", "kind"]
    search_fields = ["participant__usubjid", "provider_sid"]
    list_select_related = ["participant"]


@admin.register(ScheduledPrompt)
class ScheduledPromptAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["due_at", "participant", "kind", "slot", "status", "reason"]
    list_filter = ["participant__site", "kind", "status"]
    search_fields = ["participant__usubjid"]
    list_select_related = ["participant"]
