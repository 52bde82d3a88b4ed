"""The app's URLs and the webhook floor the inbound path is measured against."""

from django.urls import include, path

from .floor import floor

urlpatterns = [
    path("bench/floor/", floor),
    path("", include("eprp.urls")),
]
