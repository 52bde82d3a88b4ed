"""Read-only, site-scoped admin pages of texts in and out and of scheduled prompts.

Texts from unknown numbers belong to no participant, hence no site: only monitors see them.
"""

from django.contrib import admin

from diaries.staff.scoping import SiteScopedAdmin

from .models import InboundMessage, OutboundMessage, ScheduledPrompt


class ReconciledFilter(admin.SimpleListFilter):
    """Texts whose webhook failed and that were found later in Twilio's log (reconciliation)."""

    title = "how it arrived"
    parameter_name = "reconciled"

    def lookups(self, request, model_admin):
        return [("yes", "Reconciled from Twilio's log"), ("no", "By webhook")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(reconciled__isnull=self.value() == "no")
        return queryset


@admin.register(InboundMessage)
class InboundMessageAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["received_at", "participant", "sender_masked", "channel", "body", "outcome", "was_reconciled"]
    list_filter = ["participant__site", "channel", "outcome", ReconciledFilter]
    search_fields = ["participant__usubjid", "message_sid"]
    list_select_related = ["participant", "reconciled"]
    exclude = ["sender_hash"]

    @admin.display(boolean=True, description="reconciled")
    def was_reconciled(self, obj):
        return hasattr(obj, "reconciled")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["created_at", "participant", "kind", "status", "error_code", "error_message", "attempts",
                    "sent_at", "expires_at"]
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
