"""The admin's own pages: enrollment, Day 1, visits, corrections, closing alerts, site compliance.

Each view reads its object through the model admin (so site scoping and the 404 apply),
checks the permission of the action, and calls one service; a ServiceError becomes a
form error and nothing is written.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language_info

from diaries import alerts, diary, errors, participants, phones, selectors
from diaries.models import AgeGroup, DiaryRecord, Participant, Site
from diaries.protocol import windows
from diaries.staff import charts
from diaries.staff.scoping import scoped_choices
from notifications import inbound, outbox

# --- forms -------------------------------------------------------------------------------


class EnrollForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None)
    usubjid = forms.CharField(label="USUBJID", max_length=40)
    phone = forms.CharField(help_text="A number of the site's country, as dialled there or with its country code "
                                      "(e.g. +13125550111); stored encrypted")
    zone = forms.ChoiceField(label="Time zone", help_text="The participant's IANA time zone (the site's by default)")
    language = forms.ChoiceField(help_text="The language of the texts and the diary")
    runin_start = forms.DateField(label="Run-in start", help_text="Local date of Day -7 (YYYY-MM-DD)")
    age_group = forms.ChoiceField(choices=AgeGroup.choices, initial=AgeGroup.ADULT)

    def __init__(self, *args, user, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        sites = scoped_choices(Site, user).select_related("study")
        self.fields["site"].queryset = sites
        self.fields["zone"].choices = [(z, z) for z in sorted(available_timezones())]
        languages = sorted({lang for s in sites for lang in s.study.rules.languages})
        self.fields["language"].choices = [(lang, language_name(lang)) for lang in languages or ["en"]]
        # The site's zone and language unless the user picks others (first site of several).
        default = site if site is not None and site in sites else sites.first()
        if default is not None:
            self.fields["site"].initial = default
            self.fields["zone"].initial = default.zone
            self.fields["language"].initial = site_language(default)

    def clean(self):
        data = super().clean()
        site, phone = data.get("site"), data.get("phone")
        if site is not None and phone:
            try:
                data["phone"] = phones.normalize_for_country(phone, site.country)
            except phones.InvalidPhone as exc:
                self.add_error("phone", str(exc))
        return data


# A site's default language: its country's, when the study offers it; else the study's default.
COUNTRY_LANGUAGE = {"ES": "es", "MX": "es", "AR": "es", "CO": "es", "PL": "pl", "FR": "fr", "DE": "de", "IT": "it",
                    "PT": "pt", "BR": "pt", "NL": "nl"}


def site_language(site: Site) -> str:
    rules = site.study.rules
    language = COUNTRY_LANGUAGE.get(site.country)
    return language if language in rules.languages else rules.default_language


def language_name(code: str) -> str:
    """"es" -> "Spanish (español)": the name a coordinator reads, and the participant's own."""
    try:
        info = get_language_info(code)
    except KeyError:
        return code
    return info["name"] if info["name"] == info["name_local"] else f"{info['name']} ({info['name_local']})"


class Day1Form(forms.Form):
    first_application = forms.DateTimeField(
        label="First application (participant's local time)", help_text="YYYY-MM-DD HH:MM"
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                             help_text="Required when Day 1 is already recorded")


class VisitForm(forms.Form):
    week = forms.TypedChoiceField(coerce=int)
    visit_date = forms.DateField(help_text="Local date, YYYY-MM-DD")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                             help_text="Required when this week's visit already has a date")


class CorrectionForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Why the value is changed (kept with the new record and in the audit trail)")

    def __init__(self, *args, record: DiaryRecord, **kwargs):
        super().__init__(*args, **kwargs)
        instrument = record.participant.study.rules.instrument(record.instrument)
        given = {a["item"]: a["option"] for a in record.answers}
        self.items = instrument.items
        for item in instrument.items:
            choices = [(n, f"{n} ({item.label_of(n, 'en')})" if item.kind != "nrs" else str(n)) for n in item.choices]
            self.fields[f"item_{item.number}"] = forms.TypedChoiceField(
                label=f"{item.number}. {item.text.get('en', item.id)}", choices=[("", "(not answered)"), *choices],
                coerce=int, required=False, initial=given.get(item.number),
            )
        self.order_fields([*(f"item_{i.number}" for i in instrument.items), "reason"])

    def answers(self) -> dict[int, int]:
        return {item.number: self.cleaned_data[f"item_{item.number}"] for item in self.items
                if self.cleaned_data.get(f"item_{item.number}") not in (None, "")}


class CloseAlertForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="What was done")


# --- views -------------------------------------------------------------------------------


def _render(model_admin, request, title, form, obj=None, intro="", submit="Save"):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "form": form,
        "original": obj,
        "intro": intro,
        "submit": submit,
    }
    return TemplateResponse(request, "admin/diaries/form_page.html", context)


def _change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def enroll(model_admin, request):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    site = Site.objects.filter(pk=request.GET["site"]).first() if request.GET.get("site", "").isdigit() else None
    form = EnrollForm(request.POST or None, user=request.user, site=site)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            participant = participants.enroll_participant(
                study=data["site"].study, site_number=data["site"].number, usubjid=data["usubjid"].strip(),
                phone=data["phone"], zone=data["zone"], language=data["language"],
                runin_start=data["runin_start"], age_group=data["age_group"], actor=request.user,
            )
        except errors.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"{participant.usubjid} enrolled.")
            return HttpResponseRedirect(_change_url(participant))
    return _render(model_admin, request, "Enroll a participant", form, submit="Enroll")


def record_day1(model_admin, request, object_id):
    participant = model_admin.get_object(request, object_id)
    if not model_admin.has_manage_permission(request):
        raise PermissionDenied
    zone = ZoneInfo(participant.zone)
    initial = {}
    if participant.first_application_at:
        initial["first_application"] = windows.local(participant.first_application_at, participant.zone).replace(
            tzinfo=None)
    form = Day1Form(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        local = form.cleaned_data["first_application"]
        # The form gives a wall-clock time in the server's zone; it means the participant's.
        at = timezone.make_naive(local, timezone.get_current_timezone()) if timezone.is_aware(local) else local
        try:
            participants.record_first_application(participant=participant, at=at.replace(tzinfo=zone),
                                              actor=request.user, reason=form.cleaned_data["reason"].strip())
        except errors.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Day 1 of {participant.usubjid} recorded.")
            return HttpResponseRedirect(_change_url(participant))
    intro = f"{participant.usubjid}, time zone {participant.zone}."
    return _render(model_admin, request, "Record Day 1 (first application)", form, participant, intro)


def record_visit(model_admin, request, object_id):
    participant = model_admin.get_object(request, object_id)
    if not model_admin.has_manage_permission(request):
        raise PermissionDenied
    form = VisitForm(request.POST or None)
    form.fields["week"].choices = [(w, f"Week {w}") for w in participant.study.rules.visit_weeks]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            participants.record_visit(participant=participant, week=data["week"], visit_date=data["visit_date"],
                                  actor=request.user, reason=data["reason"].strip())
        except errors.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Week {data['week']} visit of {participant.usubjid} recorded.")
            return HttpResponseRedirect(_change_url(participant))
    return _render(model_admin, request, "Record a visit", form, participant, participant.usubjid)


def correct_record(model_admin, request, object_id):
    record = model_admin.get_object(request, object_id)
    if not model_admin.has_correct_permission(request):
        raise PermissionDenied
    current = DiaryRecord.objects.filter(supersedes=record).first()
    if current is not None:
        messages.warning(request, "This record was superseded: correct the current one.")
        while (newer := DiaryRecord.objects.filter(supersedes=current).first()) is not None:
            current = newer
        return HttpResponseRedirect(_change_url(current))
    form = CorrectionForm(request.POST or None, record=record)
    if request.method == "POST" and form.is_valid():
        try:
            new = diary.correct_record(record=record, answers=form.answers(), user=request.user,
                                          reason=form.cleaned_data["reason"])
        except errors.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Corrected: the new record supersedes the original, which stays visible.")
            return HttpResponseRedirect(_change_url(new))
    intro = (f"{record.participant.usubjid}, {record.get_instrument_display()} for {record.diary_date:%Y-%m-%d} "
             f"({record.get_timepoint_display()}). The original is kept; the correction supersedes it.")
    return _render(model_admin, request, "Correct a diary value", form, record, intro, submit="Save correction")


def close_alert(model_admin, request, object_id):
    alert = model_admin.get_object(request, object_id)
    if not model_admin.has_handle_permission(request):
        raise PermissionDenied
    form = CloseAlertForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            alerts.close_alert(alert=alert, user=request.user, note=form.cleaned_data["note"])
        except errors.ServiceError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Alert closed.")
            return HttpResponseRedirect(_change_url(alert))
    return _render(model_admin, request, f"Close alert: {alert}", form, alert, alert.detail, submit="Close alert")


HEATMAP_DAYS = 28


def site_compliance(model_admin, request, object_id):
    site = model_admin.get_object(request, object_id)
    if not model_admin.has_view_permission(request, site):
        raise PermissionDenied
    now = timezone.now()
    summary = selectors.site_compliance(site, now=now)
    end = windows.local(now, site.zone).date()
    start = end - timedelta(days=HEATMAP_DAYS - 1)
    grid = selectors.daily_completion([p for p, _ in summary.rows], start, end, now=now)
    closed = windows.last_closed_diary_date(now, site.zone)
    series = [(d, t) for d, t in selectors.completion_over_time(grid) if d <= closed]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": site,
        "title": f"Diary compliance, site {site}",
        "summary": summary,
        "heatmap": charts.completion_heatmap(grid),
        "line": charts.compliance_line(series),
        "start": start,
        "end": end,
    }
    return TemplateResponse(request, "admin/diaries/site_compliance.html", context)


# --- exports -----------------------------------------------------------------------------


def compliance_csv(participants) -> HttpResponse:
    """compliance.csv of ENDPOINTS.md for the given (already scoped) participants, as of each one's today."""
    participants = sorted(participants, key=lambda p: p.usubjid)
    by_id = selectors.compliance_of(participants)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="compliance.csv"'
    writer = csv.writer(response, lineterminator="\n")
    writer.writerow(["USUBJID", "PERIOD", "EXPECTED", "COMPLETED", "PCT"])
    for p in participants:
        for period, tally in by_id[p.pk].periods.items():
            writer.writerow([p.usubjid, period, tally.expected, tally.completed,
                             "" if tally.pct is None else tally.pct])
    return response


# --- messages to participants (the SMS side is built in notifications) -------------------


def send_diary_link(participant: Participant) -> bool:
    """Queue an SMS with a fresh signed link to the web diary; False when the participant can't be texted."""
    return outbox.send_diary_link(participant=participant) is not None


def resend_reminder(participant: Participant) -> bool:
    """Send tonight's reminder again, through the chatbot so a reply is understood; False when nothing is due.

    The prompt must go through notifications (it moves the conversation state so the
    answer that follows is read as tonight's diary): `send_prompt_now` is asked of it.
    """
    return inbound.send_prompt_now(participant=participant, kind="reminder") is not None
