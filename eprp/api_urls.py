"""/api/v1/: the sponsor exports API and the patient API for mobile apps."""

from django.urls import include, path

urlpatterns: list = [
    path("patient/", include("diaries.patient.app.urls")),
    path("", include("analysis.api_urls")),
]
