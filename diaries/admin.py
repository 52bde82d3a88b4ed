"""Admin registrations for browsing studies, sites, participants and their records.

Diary records, treatment events and audit events are read-only here for everyone:
they change only through services (corrections with a reason), never by editing.
"""

from django.contrib import admin

from .models import Alert, AuditEvent, DiaryRecord, Participant, Site, Study, TreatmentEvent, Visit


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Study)
class StudyAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "config_hash", "loaded_at"]
    fields = ["code", "name", "config_hash", "loaded_at", "config_toml"]


@admin.register(Site)
class SiteAdmin(ReadOnlyAdmin):
    list_display = ["number", "name", "country", "zone", "phone", "study"]
    list_filter = ["study", "country"]
    exclude = ["staff"]


class VisitInline(admin.TabularInline):
    model = Visit
    extra = 0
    can_delete = False
    readonly_fields = ["week", "visit_date"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ["usubjid", "site", "phase", "sms_consent", "day1", "zone", "language"]
    list_filter = ["site", "phase", "sms_consent"]
    search_fields = ["usubjid"]
    fields = [
        "usubjid", "study", "site", "phone_masked", "zone", "language", "phase", "sms_consent",
        "sms_consent_changed_at", "runin_start", "first_application_at", "day1", "discontinued_on", "age_group",
        "enrolled_at",
    ]
    readonly_fields = fields
    inlines = [VisitInline]

    @admin.display(description="Phone")
    def phone_masked(self, obj):
        return obj.phone_masked

    @admin.display(description="Day 1")
    def day1(self, obj):
        return obj.day1


@admin.register(DiaryRecord)
class DiaryRecordAdmin(ReadOnlyAdmin):
    list_display = ["participant", "instrument", "timepoint", "diary_date", "channel", "submitted_at", "is_current"]
    list_filter = ["instrument", "timepoint", "channel", "participant__site"]
    search_fields = ["participant__usubjid"]
    date_hierarchy = "diary_date"
    list_select_related = ["participant"]

    @admin.display(boolean=True, description="Current")
    def is_current(self, obj):
        return not DiaryRecord.objects.filter(supersedes=obj).exists()


@admin.register(TreatmentEvent)
class TreatmentEventAdmin(ReadOnlyAdmin):
    list_display = ["participant", "kind", "event_date", "new_areas", "extensive", "channel", "reported_at"]
    list_filter = ["kind", "participant__site"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id", "reason"]
    list_filter = ["action", "object_type", "site"]
    search_fields = ["actor", "object_id", "action"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "site", "participant", "status", "detail"]
    list_filter = ["status", "kind", "site"]
