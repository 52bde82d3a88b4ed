"""The permissions matrix: every admin URL and action, for every persona, on site A's objects.

charlie (site B staff) must get 404 for every site-A object by URL and find nothing of site
A in lists, filters, search, autocomplete or actions; the monitor reads but never writes;
the sponsor never gets into the admin; nobody edits or deletes diary records or audit events.
"""

import pytest
from django.contrib import admin
from django.urls import reverse

from diaries.models import AuditEvent, Consent, DiaryRecord, Participant

pytestmark = pytest.mark.django_db

SITE_A_MARKERS = ["TRUE-AD-101-", "Lakeside Dermatology"]
MODELS = ["site", "participant", "diaryrecord", "treatmentevent", "alert", "auditevent", "randomization",
          "inboundmessage", "outboundmessage", "scheduledprompt", "patienttoken", "pushdevice"]
APP = {"inboundmessage": "notifications", "outboundmessage": "notifications", "scheduledprompt": "notifications"}


def url(model, view, obj=None):
    name = f"admin:{APP.get(model, 'diaries')}_{model}_{view}"
    return reverse(name, args=[obj.pk] if obj is not None else [])


@pytest.fixture
def personas(coordinator, charlie_staff, monitor, sponsor, statistician, superuser):
    return {"coordinator": coordinator, "charlie": charlie_staff, "monitor": monitor, "sponsor": sponsor,
            "statistician": statistician, "superuser": superuser}


def test_every_registered_model_is_in_the_matrix():
    registered = {m._meta.model_name for m in admin.site._registry if m._meta.app_label in ("diaries", "notifications")}
    assert registered == {*MODELS, "study"}


# Their "History" is the audit trail: a redirect to it for whoever may see the object.
HISTORY_IS_THE_AUDIT_TRAIL = {"participant", "alert", "diaryrecord"}


def expected_status(persona, model, view):
    """The status a persona gets for a view of a site-A object (or the add page)."""
    status = _expected_status(persona, model, view)
    return 302 if status == 200 and view == "history" and model in HISTORY_IS_THE_AUDIT_TRAIL else status


def _expected_status(persona, model, view):
    if persona == "sponsor":
        return 302  # to the login page
    if persona == "statistician":  # every site, but only the randomization
        return {"changelist": 200, "change": 200, "history": 200}.get(view, 403) if model == "randomization" else 403
    if model == "randomization" and persona != "superuser":
        return 404 if persona == "charlie" and view in ("change", "history", "delete") else 403
    if view == "add":
        return 200 if model == "participant" and persona in ("coordinator", "charlie", "superuser") else 403
    if persona == "charlie" and view != "changelist":
        return 404
    if view == "delete":
        return 403  # nothing is deleted in the admin, not even by a superuser
    return 200


@pytest.mark.parametrize("view", ["changelist", "add", "change", "history", "delete"])
@pytest.mark.parametrize("persona", ["coordinator", "charlie", "monitor", "sponsor", "statistician", "superuser"])
def test_admin_urls_by_persona(client, personas, site_a_data, persona, view):
    client.force_login(personas[persona])
    for model in MODELS:
        obj = site_a_data[model] if view in ("change", "history", "delete") else None
        response = client.get(url(model, view, obj))
        expected = expected_status(persona, model, view)
        assert response.status_code == expected, (persona, model, view, response.status_code)
        if persona == "charlie" and response.status_code == 200:
            body = response.content.decode()
            for marker in SITE_A_MARKERS:
                assert marker not in body, (model, view, marker)


@pytest.mark.parametrize(("name", "key"), [
    ("admin:diaries_site_compliance", "site"),
    ("admin:diaries_participant_day1", "participant"),
    ("admin:diaries_participant_visit", "participant"),
    ("admin:diaries_diaryrecord_correct", "diaryrecord"),
    ("admin:diaries_alert_close", "alert"),
])
@pytest.mark.parametrize(("persona", "expected"), [
    ("coordinator", 200), ("charlie", 404), ("monitor", None), ("sponsor", 302), ("statistician", 403),
    ("superuser", 200),
])
def test_custom_admin_pages_by_persona(client, personas, site_a_data, name, key, persona, expected):
    if expected is None:  # the monitor reads the compliance page and nothing that writes
        expected = 200 if key == "site" else 403
    client.force_login(personas[persona])
    response = client.get(reverse(name, args=[site_a_data[key].pk]))
    assert response.status_code == expected
    post = client.post(reverse(name, args=[site_a_data[key].pk]), {"reason": "x", "note": "x"})
    if expected in (302, 403, 404):
        assert post.status_code == expected


def test_the_sponsor_cannot_log_in_to_the_admin(client, sponsor):
    from tests.diaries.staff.conftest import PASSWORD

    response = client.post(reverse("admin:login"), {"username": "sponsor", "password": PASSWORD,
                                                    "next": "/admin/"})
    assert response.status_code == 200  # the login form again, with an error
    assert "_auth_user_id" not in client.session or client.get("/admin/").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_anonymous_users_are_sent_to_the_login(client, site_a_data):
    for model in MODELS:
        response = client.get(url(model, "changelist"))
        assert response.status_code == 302 and reverse("admin:login") in response["Location"]


def test_charlie_finds_nothing_of_site_a_in_lists_search_and_filters(client, charlie_staff, site_a_data, dora):
    client.force_login(charlie_staff)
    pages = [
        url("participant", "changelist") + "?q=TRUE-AD-101",
        url("participant", "changelist") + "?q=0001",
        url("participant", "changelist") + f"?site__id__exact={site_a_data['site'].pk}",
        url("participant", "changelist") + "?compliance=lt80",
        url("participant", "changelist") + "?alerts=unresolved",
        url("diaryrecord", "changelist") + "?q=TRUE-AD-101",
        url("alert", "changelist") + f"?site__id__exact={site_a_data['site'].pk}",
        url("auditevent", "changelist") + "?q=participant",
        url("auditevent", "changelist") + f"?site__id__exact={site_a_data['site'].pk}",
        url("outboundmessage", "changelist") + "?q=TRUE-AD-101",
        url("site", "changelist"),
        reverse("admin:index"),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = response.content.decode()
        for marker in SITE_A_MARKERS:
            assert marker not in body, (page, marker)
    # His own participant is listed; a site filter with one choice is not even shown.
    response = client.get(url("participant", "changelist"))
    assert list(response.context["cl"].queryset.values_list("usubjid", flat=True)) == [dora.usubjid]
    assert site_filter_choices(response) == []


def site_filter_choices(response):
    specs = [f for f in response.context["cl"].filter_specs if getattr(f, "field_path", "") == "site"]
    return [label for spec in specs for _, label in spec.lookup_choices]


def test_relation_filters_list_only_sites_in_scope(client, charlie_staff, monitor, site_a_data, study):
    from tests.conftest import enroll

    enroll(study, "TRUE-AD-301-0001", site="301", phone="+34600555001", zone="Europe/Madrid")
    study.sites.get(number="301").staff.add(charlie_staff)
    client.force_login(charlie_staff)
    for model in ("participant", "alert"):
        choices = site_filter_choices(client.get(url(model, "changelist")))
        assert all("101" not in c for c in choices), (model, choices)
    assert site_filter_choices(client.get(url("participant", "changelist"))) == [
        "201 Centrum Dermatologii Wola", "301 Clínica Dermatológica del Norte"]
    client.force_login(monitor)
    assert "101 Lakeside Dermatology Research" in site_filter_choices(client.get(url("participant", "changelist")))


def test_audit_events_without_a_site_are_for_monitors_only(client, charlie_staff, coordinator, monitor, site_a_data):
    study_event = AuditEvent.objects.filter(site__isnull=True).first()
    assert study_event is not None  # study.create, site.create, role.permissions
    for user, status in [(charlie_staff, 404), (coordinator, 404), (monitor, 200)]:
        client.force_login(user)
        assert client.get(url("auditevent", "change", study_event)).status_code == status


def test_autocomplete_is_scoped(client, coordinator, charlie_staff, monitor, site_a_data, dora):
    def results(user):
        client.force_login(user)
        response = client.get(reverse("admin:autocomplete"), {
            "app_label": "diaries", "model_name": "alert", "field_name": "participant", "term": "TRUE-AD"})
        assert response.status_code == 200
        return sorted(r["text"] for r in response.json()["results"])

    assert results(charlie_staff) == ["TRUE-AD-201-0001"]
    assert results(coordinator) == ["TRUE-AD-101-0001", "TRUE-AD-101-0002"]
    assert results(monitor) == ["TRUE-AD-101-0001", "TRUE-AD-101-0002", "TRUE-AD-201-0001"]


def post_action(client, model, action, *objs):
    return client.post(url(model, "changelist"), {"action": action, "index": 0,
                                                  "_selected_action": [str(o.pk) for o in objs]})


def test_charlie_cannot_act_on_site_a_objects(client, charlie_staff, site_a_data, dora):
    alice, alert = site_a_data["participant"], site_a_data["alert"]
    client.force_login(charlie_staff)
    post_action(client, "participant", "pause_sms", alice)
    post_action(client, "alert", "acknowledge", alert)
    alice.refresh_from_db()
    alert.refresh_from_db()
    assert alice.sms_consent == Consent.OPTED_IN
    assert alert.status == "open"
    export = post_action(client, "participant", "export_compliance", alice, dora)
    assert export.status_code == 200 and export["Content-Type"] == "text/csv"
    assert "TRUE-AD-101" not in export.content.decode() and "TRUE-AD-201-0001" in export.content.decode()


def test_the_monitor_reads_but_cannot_act(client, monitor, site_a_data):
    alice, alert = site_a_data["participant"], site_a_data["alert"]
    client.force_login(monitor)
    response = client.get(url("participant", "changelist"))
    assert set(response.context["action_form"].fields["action"].choices) >= {("export_compliance",
                                                                                 "Download compliance.csv")}
    actions = {name for name, _ in response.context["action_form"].fields["action"].choices}
    assert actions == {"", "export_compliance"}
    post_action(client, "participant", "pause_sms", alice)
    post_action(client, "alert", "acknowledge", alert)
    alice.refresh_from_db()
    alert.refresh_from_db()
    assert alice.sms_consent == Consent.OPTED_IN and alert.status == "open"
    response = client.post(url("participant", "add"), {"site": alice.site_id, "usubjid": "X-1"})
    assert response.status_code == 403
    assert not Participant.objects.filter(usubjid="X-1").exists()


def test_nobody_changes_or_deletes_diary_records_or_audit_events(client, superuser, site_a_data):
    record, event = site_a_data["diaryrecord"], site_a_data["auditevent"]
    client.force_login(superuser)
    assert client.post(url("diaryrecord", "change", record), {"reason": "edit"}).status_code == 403
    assert client.post(url("diaryrecord", "delete", record), {"post": "yes"}).status_code == 403
    assert client.post(url("auditevent", "change", event), {"reason": "edit"}).status_code == 403
    assert client.post(url("auditevent", "delete", event), {"post": "yes"}).status_code == 403
    assert client.get(url("diaryrecord", "add")).status_code == 403
    assert client.get(url("auditevent", "add")).status_code == 403
    response = client.get(url("diaryrecord", "changelist"))
    action_form = response.context["action_form"]
    assert action_form is None or "delete_selected" not in dict(action_form.fields["action"].choices)
    assert DiaryRecord.objects.filter(pk=record.pk).exists() and AuditEvent.objects.filter(pk=event.pk).exists()


def test_site_staff_do_not_see_the_study_file_listing_every_site(client, charlie_staff, monitor, study):
    client.force_login(charlie_staff)
    assert "Lakeside" not in client.get(url("study", "change", study)).content.decode()
    client.force_login(monitor)
    assert "Lakeside" in client.get(url("study", "change", study)).content.decode()
