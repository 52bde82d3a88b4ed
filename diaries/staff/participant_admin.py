"""The participant page of the study team: compliance, Day 1, visits, corrections, messages, app sign-ins.

Site-scoped like every staff page (diaries/staff/scoping.py); each action calls one
use case per participant of the (scoped) selection.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q
from django.urls import path, reverse
from django.utils import timezone

from diaries import alerts as alerts_service
from diaries import audit, errors, participants, roles, selectors
from diaries.models import (
    Alert,
    AlertStatus,
    AuditEvent,
    DiaryRecord,
    Participant,
    Visit,
)
from diaries.staff import display, views
from diaries.staff.scoping import ScopedInline, SiteScopedAdmin
from notifications.models import OutboundStatus, PromptStatus, ReconciledText
from notifications.providers import get_transport


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
        "missed1": ("missed the latest diary", lambda c: c.missed_in_a_row >= 1),
        "missed2": ("2 or more missed in a row", lambda c: c.missed_in_a_row >= 2),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in self.TESTS.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.TESTS:
            return queryset
        test = self.TESTS[self.value()][1]
        # A withdrawn participant has no diary to chase (and is not counted on the home page).
        queryset = queryset.filter(discontinued_on__isnull=True)
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


# The participant page shows the latest diary records; the rest are one link away.
RECORDS_SHOWN = 20

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
        return views.enroll(self, request)

    def get_urls(self):
        return [
            path("<path:object_id>/day1/", display.object_page(self, views.record_day1),
                 name="diaries_participant_day1"),
            path("<path:object_id>/visit/", display.object_page(self, views.record_visit),
                 name="diaries_participant_visit"),
            *super().get_urls(),
        ]

    def get_list_display(self, request):
        """A coordinator of one site needs no site column."""
        shown = super().get_list_display(request)
        one_site = roles.scoped_sites(request.user).count() <= 1
        return [name for name in shown if name != "site"] if one_site else shown

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
        return f"{display.pct(c.last7.pct)} ({c.last7.completed}/{c.last7.expected})"

    @admin.display(description="Period to date")
    def current_period(self, obj):
        c = self._compliance(obj)
        if c.current is None:
            return "-"
        return f"{c.current_period} {display.pct(c.current.pct)} ({c.current.completed}/{c.current.expected})"

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

    def history_view(self, request, object_id, extra_context=None):
        """The participant's history is the audit trail at the foot of its page, not Django's change log."""
        return display.history(self, request, object_id,
                               lambda p: reverse("admin:diaries_participant_change", args=[p.pk]) + "#history")

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
        summary = selectors.participant_summary(p, now=now)
        return {
            "summary": summary,
            "compliance": summary.compliance,
            "open_alerts": [(a, alerts_service.what_to_do(a)) for a in summary.open_alerts],
            "sending_paused": get_transport().sending_paused(),
            "delivery_problem": p.outbound_messages.filter(
                status__in=[OutboundStatus.FAILED, OutboundStatus.UNDELIVERED]).order_by("-created_at").first(),
            "records": records[:RECORDS_SHOWN],
            "records_count": records.count(),
            "records_url": reverse("admin:diaries_diaryrecord_changelist") + "?" + urlencode({"q": p.usubjid}),
            "inbound": p.inbound_messages.select_related("reconciled").order_by("-received_at")[:50],
            "reconciled_count": ReconciledText.objects.filter(inbound__participant=p).count(),
            "outbound": p.outbound_messages.select_related("device", "resent_as").order_by("-created_at")[:50],
            # Upcoming: still to be sent. A prompt handled before its time (cancelled by a completed diary,
            # or sent ahead by `manage.py dispatch_prompts`) is listed with the handled ones and its channel.
            "upcoming_prompts": p.prompts.filter(status=PromptStatus.PENDING, due_at__gte=now).order_by("due_at")[:20],
            "past_prompts": p.prompts.select_related("outbound__resent_as")
                             .exclude(status=PromptStatus.PENDING, due_at__gte=now).order_by("-due_at")[:20],
            "devices": p.push_devices.order_by("-last_registered_at"),
            "channel_preference": p.channel_preference or p.study.rules.channel_default,
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
            return views.send_diary_link(p)

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
            return views.resend_reminder(p)

        self._each(request, queryset, resend,
                   "Reminder queued for {n} participant(s) (only those whose diary is open and not done).")

    @admin.action(description="Download compliance.csv", permissions=["view"])
    def export_compliance(self, request, queryset):
        response = views.compliance_csv(queryset.select_related("study"))
        audit.log(actor=request.user, action="export.compliance", obj="Export:compliance.csv",
                  after={"participants": queryset.count(), "sha256": hashlib.sha256(response.content).hexdigest()})
        return response
