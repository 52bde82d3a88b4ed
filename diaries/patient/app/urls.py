"""/api/v1/patient/: the patient API for mobile apps (diaries/patient/app/views/). No ids in any URL: all is "me"."""

from django.urls import path

from diaries.patient.app.views import diary, me, reports, signin, today

urlpatterns = [
    path("auth/code", signin.CodeView.as_view(), name="patient-auth-code"),
    path("auth/token", signin.TokenView.as_view(), name="patient-auth-token"),
    path("auth/logout", signin.LogoutView.as_view(), name="patient-auth-logout"),
    path("me", me.MeView.as_view(), name="patient-me"),
    path("today", today.TodayView.as_view(), name="patient-today"),
    path("answers", diary.AnswersView.as_view(), name="patient-answers"),
    path("history", diary.HistoryView.as_view(), name="patient-history"),
    path("reports", reports.ReportsView.as_view(), name="patient-reports"),
    path("devices", me.DevicesView.as_view(), name="patient-devices"),
]
