"""The patient web diary under /diary/: no participant id in any URL (the session holds it)."""

from django.urls import path, re_path

from diaries.patient.web import views

app_name = "diary"

urlpatterns = [
    path("", views.home, name="home"),
    path("go/<str:token>/", views.open_link, name="open"),
    path("language/", views.switch_language, name="language"),
    path("logout/", views.logout, name="logout"),
    path("logged-out/", views.logged_out, name="logged_out"),
    path("history/", views.history, name="history"),
    path("skin/clear/", views.skin_clear, name="skin_clear"),
    path("skin/back/", views.skin_back, name="skin_back"),
    path("skin/done/", views.skin_done, name="skin_done"),
    # Today's evening diary and the 12-hour assessment share one flow of screens.
    re_path(r"^(?P<flow>today|12h)/$", views.flow_intro, name="flow"),
    re_path(r"^(?P<flow>today|12h)/(?P<n>[0-9]{1,2})/$", views.flow_step, name="flow_step"),
    re_path(r"^(?P<flow>today|12h)/review/$", views.flow_review, name="flow_review"),
    re_path(r"^(?P<flow>today|12h)/submit/$", views.flow_submit, name="flow_submit"),
    re_path(r"^(?P<flow>today|12h)/done/$", views.flow_done, name="flow_done"),
]
