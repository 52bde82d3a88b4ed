"""The study team's admin: participants with their compliance, diaries, alerts and audit trail.

Every admin here is site-scoped (diaries.admin_scoping) and read-only through the generic
forms; writes are the admin's own pages and actions, each calling one service. Diary
records, treatment events and audit events cannot be added, changed or deleted here by
anyone, superusers included: a correction is a new record with a reason.
"""

from __future__ import annotations

import hashlib
import json

from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import admin_views, alerts, audit, errors, participants, patient_auth, roles, selectors
from .admin_scoping import ScopedInline, SiteScopedAdmin
from .models import (
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


def _link(obj, text=None):
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def _object_page(model_admin, view):
    """An admin page about one object: `view(model_admin, request, object_id)` behind the admin login."""
    return model_admin.admin_site.admin_view(lambda request, object_id: view(model_admin, request, object_id))


def _pct(value) -> str:
    return "-" if value is None else f"{value:g}%"


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
    list_display = ["number", "name", "country", "zone", "participant_count", "compliance_link"]
    list_filter = ["study", "country"]
    search_fields = ["number", "name"]
    ordering = ["study", "number"]
    filter_horizontal = ["staff"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_participants=Count("participants"))

    def get_fields(self, request, obj=None):
        fields = ["study", "number", "name", "country", "zone", "phone", "hours", "compliance_link"]
        return [*fields, "staff"] if request.user.is_superuser else fields

    def get_readonly_fields(self, request, obj=None):
        return ["study", "number", "name", "country", "zone", "phone", "hours", "compliance_link"]

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

    @admin.display(description="Compliance")
    def compliance_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html('<a href="{}">Compliance and charts</a>',
                           reverse("admin:diaries_site_compliance", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<path:object_id>/compliance/", _object_page(self, admin_views.site_compliance),
                 name="diaries_site_compliance"),
            *super().get_urls(),
        ]


class VisitInline(ScopedInline):
    model = Visit
    site_path = "participant__site"
    fields = readonly_fields = ["week", "visit_date"]


class ComplianceFilter(admin.SimpleListFilter):
    title = "compliance"
    parameter_name = "compliance"
    TESTS = {
        "lt80": ("last 7 days below 80%", lambda c: c.last7.pct is not None and c.last7.pct < 80),
        "lt50": ("last 7 days below 50%", lambda c: c.last7.pct is not None and c.last7.pct < 50),
        "missed2": ("2 or more missed in a row", lambda c: c.missed_in_a_row >= 2),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.TESTS.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.TESTS:
            return queryset
        test = self.TESTS[self.value()][1]
        by_id = selectors.compliance_of(queryset.select_related("study"))
        return queryset.filter(pk__in=[pk for pk, c in by_id.items() if test(c)])


class AlertStateFilter(admin.SimpleListFilter):
    title = "alerts"
    parameter_name = "alerts"

    def lookups(self, request, model_admin):
        return [("open", "open (not acknowledged)"), ("unresolved", "not closed")]

    def queryset(self, request, queryset):
        statuses = {"open": [AlertStatus.OPEN], "unresolved": [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]}
        if self.value() not in statuses:
            return queryset
        return queryset.filter(
            Exists(Alert.objects.filter(participant=OuterRef("pk"), status__in=statuses[self.value()]))
        )


PARTICIPANT_FIELDS = [
    "usubjid", "study", "site", "phone_masked", "zone", "language", "phase", "sms_consent", "sms_consent_changed_at",
    "runin_start", "first_application_at", "day1", "next_visit", "discontinued_on", "age_group", "enrolled_at",
]


@admin.register(Participant)
class ParticipantAdmin(SiteScopedAdmin):
    list_display = ["usubjid", "site", "phase", "day1", "sms_consent", "last7", "current_period", "missed_in_a_row",
                    "last_entry", "unresolved_alerts"]
    list_filter = ["site", "phase", ComplianceFilter, AlertStateFilter, "sms_consent"]
    search_fields = ["usubjid"]
    ordering = ["usubjid"]
    list_select_related = ["site", "study"]
    fields = readonly_fields = PARTICIPANT_FIELDS
    inlines = [VisitInline]
    actions = ["send_diary_link", "pause_sms", "resume_sms", "resend_reminder", "export_compliance"]
    change_form_template = "admin/diaries/participant/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_unresolved=Count("alerts", filter=Q(alerts__status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]))
        )

    # Enrollment is the admin's add page; Day 1, visits, SMS and links are "manage".
    def has_add_permission(self, request):
        return request.user.has_perm("diaries.add_participant")

    def has_manage_permission(self, request, obj=None):
        return request.user.has_perm("diaries.change_participant")

    def add_view(self, request, form_url="", extra_context=None):
        return admin_views.enroll(self, request)

    def get_urls(self):
        return [
            path("<path:object_id>/day1/", _object_page(self, admin_views.record_day1),
                 name="diaries_participant_day1"),
            path("<path:object_id>/visit/", _object_page(self, admin_views.record_visit),
                 name="diaries_participant_visit"),
            *super().get_urls(),
        ]

    def get_changelist_instance(self, request):
        """Compute the compliance columns for the whole page with one query."""
        cl = super().get_changelist_instance(request)
        by_id = selectors.compliance_of(cl.result_list)
        for p in cl.result_list:
            p.compliance = by_id[p.pk]
        return cl

    @staticmethod
    def _compliance(obj) -> selectors.Compliance:
        if not hasattr(obj, "compliance"):
            obj.compliance = selectors.participant_compliance(obj)
        return obj.compliance

    @admin.display(description="Phone")
    def phone_masked(self, obj):
        return obj.phone_masked

    @admin.display(description="Day 1")
    def day1(self, obj):
        return obj.day1.isoformat() if obj.day1 else "-"

    @admin.display(description="Next visit")
    def next_visit(self, obj):
        visit = selectors.next_visit(obj)
        if visit is None:
            return "-"
        return f"Week {visit.week}, {visit.on:%Y-%m-%d}" + ("" if visit.recorded else " (nominal)")

    @admin.display(description="Last 7 days")
    def last7(self, obj):
        c = self._compliance(obj)
        return f"{_pct(c.last7.pct)} ({c.last7.completed}/{c.last7.expected})"

    @admin.display(description="Period to date")
    def current_period(self, obj):
        c = self._compliance(obj)
        if c.current is None:
            return "-"
        return f"{c.current_period} {_pct(c.current.pct)} ({c.current.completed}/{c.current.expected})"

    @admin.display(description="Missed in a row")
    def missed_in_a_row(self, obj):
        return self._compliance(obj).missed_in_a_row

    @admin.display(description="Last entry")
    def last_entry(self, obj):
        last = self._compliance(obj).last_entry
        return last.isoformat() if last else "-"

    @admin.display(description="Alerts not closed", ordering="n_unresolved")
    def unresolved_alerts(self, obj):
        return obj.n_unresolved

    def change_view(self, request, object_id, form_url="", extra_context=None):
        participant = self.get_object(request, object_id)
        return super().change_view(request, object_id, form_url,
                                   {**(extra_context or {}), **self._page(request, participant)})

    def _page(self, request, p: Participant) -> dict:
        now = timezone.now()
        records = (
            DiaryRecord.objects.filter(participant=p)
            .annotate(superseded=Exists(DiaryRecord.objects.filter(supersedes=OuterRef("pk"))))
            .select_related("entered_by")
            .order_by("-diary_date", "instrument", "timepoint", "submitted_at")
        )
        alerts = list(p.alerts.all())
        visit_ids = [str(pk) for pk in p.visits.values_list("pk", flat=True)]
        object_ids = {
            "Participant": [str(p.pk)],
            "DiaryRecord": [str(r.pk) for r in records],
            "Visit": visit_ids,
            "Alert": [str(a.pk) for a in alerts],
            "TreatmentEvent": [str(pk) for pk in p.treatment_events.values_list("pk", flat=True)],
        }
        trail = Q()
        for object_type, ids in object_ids.items():
            trail |= Q(object_type=object_type, object_id__in=ids)
        return {
            "compliance": selectors.participant_compliance(p, now=now),
            "records": records,
            "inbound": p.inbound_messages.order_by("-received_at")[:50],
            "outbound": p.outbound_messages.order_by("-created_at")[:50],
            "upcoming_prompts": p.prompts.filter(due_at__gte=now).order_by("due_at")[:20],
            "past_prompts": p.prompts.filter(due_at__lt=now).order_by("-due_at")[:20],
            "alerts": alerts,
            "audit_trail": AuditEvent.objects.filter(trail).order_by("-at", "-id")[:200],
            "can_manage": self.has_manage_permission(request),
            "can_correct": request.user.has_perm("diaries.correct_diaryrecord"),
            "changelist_url": reverse("admin:diaries_participant_changelist"),
        }

    # --- actions: each calls a service per participant in the (scoped) selection ---

    def _each(self, request, queryset, do, done_message):
        done = 0
        for participant in queryset.select_related("study", "site"):
            try:
                if do(participant) is not False:
                    done += 1
            except errors.ServiceError as exc:
                self.message_user(request, f"{participant.usubjid}: {exc}", messages.ERROR)
        self.message_user(request, done_message.format(n=done), messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Send diary link by SMS", permissions=["manage"])
    def send_diary_link(self, request, queryset):
        def send(p):
            if p.opted_out:
                self.message_user(request, f"{p.usubjid} opted out of SMS: no link sent.", messages.WARNING)
                return False
            return admin_views.send_diary_link(p)

        self._each(request, queryset, send, "Diary link queued for {n} participant(s).")

    @admin.action(description="Pause SMS (opt out, on the site's word)", permissions=["manage"])
    def pause_sms(self, request, queryset):
        self._each(request, queryset, lambda p: participants.record_sms_consent(
            participant=p, opted_in=False, actor=request.user, source="site"), "SMS paused for {n} participant(s).")

    @admin.action(description="Resume SMS (opt in, on the site's word)", permissions=["manage"])
    def resume_sms(self, request, queryset):
        self._each(request, queryset, lambda p: participants.record_sms_consent(
            participant=p, opted_in=True, actor=request.user, source="site"), "SMS resumed for {n} participant(s).")

    @admin.action(description="Resend today's diary reminder", permissions=["manage"])
    def resend_reminder(self, request, queryset):
        def resend(p):
            if p.opted_out:
                self.message_user(request, f"{p.usubjid} opted out of SMS: no reminder sent.", messages.WARNING)
                return False
            return admin_views.resend_reminder(p)

        self._each(request, queryset, resend,
                   "Reminder queued for {n} participant(s) (only those whose diary is open and not done).")

    @admin.action(description="Download compliance.csv", permissions=["view"])
    def export_compliance(self, request, queryset):
        response = admin_views.compliance_csv(queryset.select_related("study"))
        audit.log(actor=request.user, action="export.compliance", obj="Export:compliance.csv",
                  after={"participants": queryset.count(), "sha256": hashlib.sha256(response.content).hexdigest()})
        return response


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
    list_display = ["participant", "instrument", "timepoint", "diary_date", "value", "channel", "submitted_at",
                    "status", "entered_by", "reason"]
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
                 _object_page(self, admin_views.correct_record),
                 name="diaries_diaryrecord_correct"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        extra = {"can_correct": self.has_correct_permission(request) and not record.is_superseded,
                 "is_superseded": record.is_superseded}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

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
        return _link(obj.supersedes, f"{obj.supersedes} ({obj.supersedes.channel})" if obj.supersedes else None)

    @admin.display(description="Superseded by")
    def superseded_by_link(self, obj):
        newer = DiaryRecord.objects.filter(supersedes=obj).first()
        return _link(newer, f"{newer} ({newer.channel}, {newer.reason or 'patient'})" if newer else None)


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
    list_display = ["created_at", "kind", "site", "participant_link", "status", "detail", "acknowledged_by",
                    "closed_by"]
    list_filter = ["status", "kind", "site"]
    search_fields = ["participant__usubjid", "detail"]
    list_select_related = ["site", "participant", "acknowledged_by", "closed_by"]
    fields = readonly_fields = ["kind", "status", "site", "participant_link", "detail", "created_at",
                                "acknowledged_at", "acknowledged_by", "closed_at", "closed_by", "note"]
    autocomplete_fields = ["participant"]
    actions = ["acknowledge"]
    change_form_template = "admin/diaries/alert/change_form.html"

    def has_handle_permission(self, request, obj=None):
        return request.user.has_perm("diaries.change_alert")

    def get_urls(self):
        return [
            path("<path:object_id>/close/", _object_page(self, admin_views.close_alert),
                 name="diaries_alert_close"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        alert = self.get_object(request, object_id)
        extra = {"can_handle": self.has_handle_permission(request) and alert.status != AlertStatus.CLOSED,
                 "can_acknowledge": self.has_handle_permission(request) and alert.status == AlertStatus.OPEN}
        if request.method == "POST" and "_acknowledge" in request.POST and extra["can_acknowledge"]:
            self.acknowledge(request, self.get_queryset(request).filter(pk=alert.pk))
            return HttpResponseRedirect(request.path)
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    @admin.display(description="Participant")
    def participant_link(self, obj):
        return _link(obj.participant)

    @admin.action(description="Acknowledge", permissions=["handle"])
    def acknowledge(self, request, queryset):
        done = 0
        for alert in queryset.filter(status=AlertStatus.OPEN):
            alerts.acknowledge_alert(alert=alert, user=request.user)
            done += 1
        self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS if done else messages.WARNING)


@admin.register(AuditEvent)
class AuditEventAdmin(SiteScopedAdmin):
    """The audit trail: scoped by its site; events of no site (the study, roles) only monitors see."""

    list_display = ["at", "actor", "action", "object_type", "object_id", "reason"]
    list_filter = ["action", "object_type", "site"]
    search_fields = ["actor", "object_id", "action", "reason"]
    date_hierarchy = "at"
    fields = readonly_fields = ["at", "actor", "action", "object_type", "object_id", "study", "site",
                                "before_json", "after_json", "reason"]

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
