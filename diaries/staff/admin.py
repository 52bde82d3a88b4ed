"""The study team's admin: participants with their compliance, diaries, alerts and audit trail.

Every admin here is site-scoped (diaries/staff/scoping.py) and read-only through the generic
forms; writes are the admin's own pages and actions, each calling one service. Diary
records, treatment events and audit events cannot be added, changed or deleted here by
anyone, superusers included: a correction is a new record with a reason.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from diaries import alerts, audit, roles
from diaries.models import (
    Alert,
    AlertStatus,
    AuditEvent,
    DiaryRecord,
    Participant,
    PatientToken,
    PushDevice,
    Randomization,
    Site,
    Study,
    TreatmentEvent,
    Visit,
)
from diaries.patient.app import auth as patient_auth
from diaries.staff import display, views
from diaries.staff.scoping import SiteScopedAdmin
from notifications.models import ReconciledText


@admin.register(Study)
class StudyAdmin(SiteScopedAdmin):
    site_path = "sites"
    list_display = ["code", "name", "config_hash", "loaded_at"]

    def get_fields(self, request, obj=None):
        # The configuration file lists every site of the study: site staff see only its version.
        fields = ["code", "name", "config_hash", "loaded_at"]
        return [*fields, "config_toml"] if roles.sees_all_sites(request.user) else fields


@admin.register(Site)
class SiteAdmin(SiteScopedAdmin):
    """Sites come from the study file; only a superuser assigns their staff (audit-logged)."""

    site_path = ""
    list_display = ["number", "name", "country", "zone", "participant_count", "reconciled_texts", "compliance_link"]
    list_filter = ["study", "country"]
    search_fields = ["number", "name"]
    ordering = ["study", "number"]
    filter_horizontal = ["staff"]

    def get_queryset(self, request):
        # A subquery, not a second Count over a join (it would multiply the participants).
        reconciled = (ReconciledText.objects.filter(inbound__participant__site=OuterRef("pk")).order_by()
                      .values("inbound__participant__site").annotate(n=Count("pk")).values("n"))
        return super().get_queryset(request).annotate(
            n_participants=Count("participants"), n_reconciled=Coalesce(Subquery(reconciled), 0))

    def get_fields(self, request, obj=None):
        fields = ["study", "number", "name", "country", "zone", "phone", "hours", "compliance_link",
                  "reconciled_texts"]
        return [*fields, "staff"] if request.user.is_superuser else fields

    def get_readonly_fields(self, request, obj=None):
        return ["study", "number", "name", "country", "zone", "phone", "hours", "compliance_link", "reconciled_texts"]

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_related(self, request, form, formsets, change):
        before = sorted(form.instance.staff.values_list("username", flat=True))
        super().save_related(request, form, formsets, change)
        after = sorted(form.instance.staff.values_list("username", flat=True))
        if before != after:
            audit.log(actor=request.user, action="site.staff", obj=form.instance,
                      before={"staff": before}, after={"staff": after})

    @admin.display(description="Participants", ordering="n_participants")
    def participant_count(self, obj):
        return obj.n_participants

    @admin.display(description="Texts reconciled", ordering="n_reconciled")
    def reconciled_texts(self, obj):
        """Texts of the site's participants whose webhook failed, found later in Twilio's log."""
        if obj is None or obj.pk is None:
            return "-"
        n = getattr(obj, "n_reconciled", None)
        if n is None:
            n = ReconciledText.objects.filter(inbound__participant__site=obj).count()
        url = reverse("admin:notifications_inboundmessage_changelist") + "?" + urlencode(
            {"participant__site__id__exact": obj.pk, "reconciled": "yes"})
        return format_html('<a href="{}">{}</a>', url, n)

    @admin.display(description="Compliance")
    def compliance_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html('<a href="{}">Compliance and charts</a>',
                           reverse("admin:diaries_site_compliance", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<path:object_id>/compliance/", display.object_page(self, views.site_compliance),
                 name="diaries_site_compliance"),
            *super().get_urls(),
        ]


def _answers_table(record: DiaryRecord):
    return format_html(
        "<table><tr><th>Item</th><th>Answer</th><th>Score</th></tr>{}</table>",
        format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                         ((a["item"], a.get("label", a["option"]), a["score"]) for a in record.answers)),
    )


class SupersededFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "current"

    def lookups(self, request, model_admin):
        return [("yes", "current"), ("no", "superseded")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(is_superseded=False)
        if self.value() == "no":
            return queryset.filter(is_superseded=True)
        return queryset


@admin.register(DiaryRecord)
class DiaryRecordAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["usubjid", "diary_date", "what", "value", "channel", "submitted", "status", "entered_by_reason"]
    list_display_links = ["diary_date"]
    list_filter = ["participant__site", "instrument", "timepoint", "channel", SupersededFilter]
    search_fields = ["participant__usubjid"]
    date_hierarchy = "diary_date"
    list_select_related = ["participant", "entered_by"]
    fields = readonly_fields = ["participant", "instrument", "timepoint", "diary_date", "answers_table", "derived",
                                "channel", "submitted_at", "entered_by", "reason", "supersedes_link",
                                "superseded_by_link"]
    change_form_template = "admin/diaries/diaryrecord/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            is_superseded=Exists(DiaryRecord.objects.filter(supersedes=OuterRef("pk")))
        )

    def has_correct_permission(self, request, obj=None):
        return request.user.has_perm("diaries.correct_diaryrecord")

    def get_urls(self):
        return [
            path("<path:object_id>/correct/",
                 display.object_page(self, views.correct_record),
                 name="diaries_diaryrecord_correct"),
            *super().get_urls(),
        ]

    def history_view(self, request, object_id, extra_context=None):
        return display.history(self, request, object_id, display.audit_list)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        extra = {"can_correct": self.has_correct_permission(request) and not record.is_superseded,
                 "is_superseded": record.is_superseded}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.display(description="Participant", ordering="participant__usubjid")
    def usubjid(self, obj):
        return obj.participant.usubjid

    @admin.display(description="Diary", ordering="instrument")
    def what(self, obj):
        return f"{audit.INSTRUMENT_WORDS.get(obj.instrument, obj.instrument)} ({obj.get_timepoint_display().lower()})"

    @admin.display(description="Submitted", ordering="submitted_at")
    def submitted(self, obj):
        local = timezone.localtime(obj.submitted_at, display.zone(obj.participant.zone))
        return formats.date_format(local, "j M H:i")

    @admin.display(description="Entered by: reason")
    def entered_by_reason(self, obj):
        return f"{obj.entered_by.get_username()}: {obj.reason}" if obj.entered_by else "participant"

    @admin.display(description="Value")
    def value(self, obj):
        if "itch" in obj.derived:
            return obj.derived["itch"]
        return ", ".join(f"{k} {v}" for k, v in obj.derived.items())

    @admin.display(description="Status", ordering="is_superseded")
    def status(self, obj):
        return "superseded" if obj.is_superseded else "current"

    @admin.display(description="Answers")
    def answers_table(self, obj):
        return _answers_table(obj)

    @admin.display(description="Supersedes")
    def supersedes_link(self, obj):
        return display.link(obj.supersedes, f"{obj.supersedes} ({obj.supersedes.channel})" if obj.supersedes else None)

    @admin.display(description="Superseded by")
    def superseded_by_link(self, obj):
        newer = DiaryRecord.objects.filter(supersedes=obj).first()
        return display.link(newer, f"{newer} ({newer.channel}, {newer.reason or 'patient'})" if newer else None)


@admin.register(TreatmentEvent)
class TreatmentEventAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["participant", "kind", "event_date", "new_areas", "extensive", "new_or_extensive", "channel",
                    "reported_at"]
    list_filter = ["participant__site", "kind"]
    search_fields = ["participant__usubjid"]
    list_select_related = ["participant"]


@admin.register(Alert)
class AlertAdmin(SiteScopedAdmin):
    list_display = ["why", "participant_link", "kind", "status", "raised", "handled"]
    list_display_links = ["why"]
    list_filter = ["status", "kind", "site"]
    search_fields = ["participant__usubjid", "detail"]
    list_select_related = ["site", "participant", "acknowledged_by", "closed_by"]
    fields = readonly_fields = ["why", "what_to_do", "kind", "status", "site", "participant_link", "created_at",
                                "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "note"]
    autocomplete_fields = ["participant"]
    actions = ["acknowledge"]
    change_form_template = "admin/diaries/alert/change_form.html"

    @admin.display(description="Why")
    def why(self, obj):
        return obj.detail or obj.get_kind_display()

    @admin.display(description="What to do")
    def what_to_do(self, obj):
        return alerts.what_to_do(obj)

    @admin.display(description="Raised", ordering="created_at")
    def raised(self, obj):
        return formats.date_format(timezone.localtime(obj.created_at), "j M H:i")

    @admin.display(description="Handled")
    def handled(self, obj):
        if obj.status == AlertStatus.CLOSED:
            by = obj.closed_by.get_username() if obj.closed_by else "automatically"
            return f"closed {obj.closed_at:%d %b} by {by}"
        if obj.status == AlertStatus.ACKNOWLEDGED:
            by = obj.acknowledged_by.get_username() if obj.acknowledged_by else "-"
            return f"acknowledged {obj.acknowledged_at:%d %b} by {by}"
        return "-"

    def has_handle_permission(self, request, obj=None):
        return request.user.has_perm("diaries.change_alert")

    def get_urls(self):
        return [
            path("<path:object_id>/close/", display.object_page(self, views.close_alert),
                 name="diaries_alert_close"),
            *super().get_urls(),
        ]

    def history_view(self, request, object_id, extra_context=None):
        return display.history(self, request, object_id, display.audit_list)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        alert = self.get_object(request, object_id)
        extra = {"can_handle": self.has_handle_permission(request) and alert.status != AlertStatus.CLOSED,
                 "can_acknowledge": self.has_handle_permission(request) and alert.status == AlertStatus.OPEN}
        if request.method == "POST" and "_acknowledge" in request.POST and extra["can_acknowledge"]:
            self.acknowledge(request, self.get_queryset(request).filter(pk=alert.pk))
            return HttpResponseRedirect(request.path)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.display(description="Participant", ordering="participant__usubjid")
    def participant_link(self, obj):
        return display.link(obj.participant, obj.participant.usubjid if obj.participant else None)

    @admin.action(description="Acknowledge", permissions=["handle"])
    def acknowledge(self, request, queryset):
        done = 0
        for alert in queryset.filter(status=AlertStatus.OPEN):
            alerts.acknowledge_alert(alert=alert, user=request.user)
            done += 1
        self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS if done else messages.WARNING)


# The participant an audit event is about: the object itself, or the object's participant.
SUBJECT_MODELS = {"DiaryRecord": DiaryRecord, "Alert": Alert, "Visit": Visit, "TreatmentEvent": TreatmentEvent}


def resolve_subjects(events) -> None:
    """Set `usubjid` and `instrument` on each event: one query per object type on the page."""
    ids: dict[str, set[str]] = {}
    for e in events:
        ids.setdefault(e.object_type, set()).add(e.object_id)
    subject: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    if "Participant" in ids:
        found = Participant.objects.filter(pk__in=_pks(Participant, ids["Participant"]))
        for pk, usubjid in found.values_list("pk", "usubjid"):
            subject["Participant", str(pk)] = (usubjid, None)
    for name, model in SUBJECT_MODELS.items():
        if name not in ids:
            continue
        has_instrument = model is DiaryRecord
        rows = model.objects.filter(pk__in=_pks(model, ids[name])).values_list(
            "pk", "participant__usubjid", "instrument" if has_instrument else "pk")
        for pk, usubjid, instrument in rows:
            subject[name, str(pk)] = (usubjid, instrument if has_instrument else None)
    for e in events:
        e.usubjid, e.instrument = subject.get((e.object_type, e.object_id), (None, None))


def _pks(model, values) -> list:
    """The ids that are valid for the model (an event may name an object by another kind of key)."""
    found = []
    for value in values:
        try:
            found.append(model._meta.pk.to_python(value))
        except ValidationError:
            continue
    return found


@admin.register(AuditEvent)
class AuditEventAdmin(SiteScopedAdmin):
    """The audit trail: scoped by its site; events of no site (the study, roles) only monitors see."""

    list_display = ["when", "participant", "who", "what", "reason"]
    list_display_links = ["when"]
    declared_lookups = ("object_id",)  # the "History" links of a change page
    list_filter = ["action", "object_type", "site"]
    search_fields = ["actor", "object_id", "action", "reason"]
    date_hierarchy = "at"
    fields = readonly_fields = ["at", "actor", "action", "what", "object_type", "object_id", "study", "site",
                                "before_json", "after_json", "reason"]

    def get_changelist_instance(self, request):
        """Resolve the participant (and a diary record's instrument) of the whole page in one query per type."""
        cl = super().get_changelist_instance(request)
        resolve_subjects(cl.result_list)
        return cl

    @admin.display(description="When", ordering="at")
    def when(self, obj):
        return formats.date_format(timezone.localtime(obj.at), "j M Y H:i")

    @admin.display(description="Participant")
    def participant(self, obj):
        usubjid = getattr(obj, "usubjid", None)
        if usubjid is None:
            resolve_subjects([obj])
            usubjid = obj.usubjid
        return usubjid or "-"

    @admin.display(description="Who", ordering="actor")
    def who(self, obj):
        return audit.who(obj.actor)

    @admin.display(description="What")
    def what(self, obj):
        if not hasattr(obj, "instrument"):
            resolve_subjects([obj])
        return audit.describe(obj, instrument=obj.instrument)

    @admin.display(description="Before")
    def before_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.before, indent=2, ensure_ascii=False))

    @admin.display(description="After")
    def after_json(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.after, indent=2, ensure_ascii=False))


@admin.register(Randomization)
class RandomizationAdmin(SiteScopedAdmin):
    """Arms are blinded: only users with view_randomization (the unblinded statistician) see this."""

    site_path = "participant__site"
    list_display = ["participant", "arm", "stratum", "imported_at"]
    search_fields = ["participant__usubjid"]


@admin.register(PatientToken)
class PatientTokenAdmin(SiteScopedAdmin):
    """Mobile app sign-ins: never the token itself, only its first characters; staff revoke here."""

    site_path = "participant__site"
    list_display = ["participant", "key_prefix", "device", "created_at", "expires_at", "last_used_at", "revoked_at",
                    "revoked_by"]
    fields = readonly_fields = list_display
    list_filter = ["participant__site"]
    search_fields = ["participant__usubjid"]
    actions = ["revoke"]

    def has_manage_permission(self, request, obj=None):
        return request.user.has_perm("diaries.change_participant")

    @admin.action(description="Revoke the selected app sign-ins", permissions=["manage"])
    def revoke(self, request, queryset):
        for token in queryset.select_related("participant"):
            patient_auth.revoke_patient_token(token, request.user)
        self.message_user(request, f"{queryset.count()} app sign-in(s) revoked.")


@admin.register(PushDevice)
class PushDeviceAdmin(SiteScopedAdmin):
    site_path = "participant__site"
    list_display = ["participant", "platform", "created_at", "last_registered_at"]
    fields = readonly_fields = ["participant", "platform", "token", "created_at", "last_registered_at"]
    list_filter = ["participant__site", "platform"]
    search_fields = ["participant__usubjid"]
