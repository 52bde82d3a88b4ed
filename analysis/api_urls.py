"""The sponsor API under /api/v1/."""

from django.urls import path

from . import api

urlpatterns = [
    path("exports/", api.ExportList.as_view(), name="api-export-list"),
    path("exports/<uuid:pk>/", api.ExportDetail.as_view(), name="api-export-detail"),
    # <str:...> never matches "/": a name is one manifest entry, checked again in the service.
    path("exports/<uuid:pk>/files/<str:name>", api.ExportFile.as_view(), name="api-export-file"),
    path("diary-records/", api.DiaryRecordList.as_view(), name="api-diary-records"),
    path("fhir/", api.FhirBundle.as_view(), name="api-fhir-bundle"),
]
