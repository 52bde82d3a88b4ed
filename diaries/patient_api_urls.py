"""/api/v1/patient/: the patient API for mobile apps (diaries/patient_api.py). No ids in any URL: all is "me"."""

from django.urls import path

from . import patient_api

urlpatterns = [
    path("auth/code", patient_api.CodeView.as_view(), name="patient-auth-code"),
    path("auth/token", patient_api.TokenView.as_view(), name="patient-auth-token"),
    path("auth/logout", patient_api.LogoutView.as_view(), name="patient-auth-logout"),
    path("me", patient_api.MeView.as_view(), name="patient-me"),
    path("today", patient_api.TodayView.as_view(), name="patient-today"),
    path("answers", patient_api.AnswersView.as_view(), name="patient-answers"),
    path("history", patient_api.HistoryView.as_view(), name="patient-history"),
    path("reports", patient_api.ReportsView.as_view(), name="patient-reports"),
    path("devices", patient_api.DevicesView.as_view(), name="patient-devices"),
]
