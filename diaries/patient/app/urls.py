"""/api/v1/patient/: the patient API for mobile apps (diaries/views.py). No ids in any URL: all is "me"."""

from django.urls import path

from diaries.patient.app import views

urlpatterns = [
    path("auth/code", views.CodeView.as_view(), name="patient-auth-code"),
    path("auth/token", views.TokenView.as_view(), name="patient-auth-token"),
    path("auth/logout", views.LogoutView.as_view(), name="patient-auth-logout"),
    path("me", views.MeView.as_view(), name="patient-me"),
    path("today", views.TodayView.as_view(), name="patient-today"),
    path("answers", views.AnswersView.as_view(), name="patient-answers"),
    path("history", views.HistoryView.as_view(), name="patient-history"),
    path("reports", views.ReportsView.as_view(), name="patient-reports"),
    path("devices", views.DevicesView.as_view(), name="patient-devices"),
]
