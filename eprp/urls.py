from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView


def health(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("diary/", include("diaries.patient.web.urls")),
    path("sms/", include("notifications.urls")),
    path("health/", health, name="health"),
    path("api/v1/", include("eprp.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
]
