"""The patient web diary under /diary/: no participant id in any URL (the session holds it)."""

from django.urls import path, re_path

from . import web

app_name = "diary"

urlpatterns = [
    path("", web.home, name="home"),
    path("go/<str:token>/", web.open_link, name="open"),
    path("language/", web.switch_language, name="language"),
    path("logout/", web.logout, name="logout"),
    path("logged-out/", web.logged_out, name="logged_out"),
    path("history/", web.history, name="history"),
    path("skin/clear/", web.skin_clear, name="skin_clear"),
    path("skin/back/", web.skin_back, name="skin_back"),
    path("skin/done/", web.skin_done, name="skin_done"),
    # Today's evening diary and the 12-hour assessment share one flow of screens.
    re_path(r"^(?P<flow>today|12h)/$", web.flow_intro, name="flow"),
    re_path(r"^(?P<flow>today|12h)/(?P<n>[0-9]{1,2})/$", web.flow_step, name="flow_step"),
    re_path(r"^(?P<flow>today|12h)/review/$", web.flow_review, name="flow_review"),
    re_path(r"^(?P<flow>today|12h)/submit/$", web.flow_submit, name="flow_submit"),
    re_path(r"^(?P<flow>today|12h)/done/$", web.flow_done, name="flow_done"),
]
