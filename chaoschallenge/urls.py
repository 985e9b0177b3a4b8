"""Root URLconf of the platform role."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from common.health import healthz

urlpatterns = [path("healthz", healthz, name="healthz")]

if settings.ENABLE_LOCAL_TRACKER:
    # With the tracker off, none of its URLs exist at all (404, not 403).
    # Listed early because paths resolve in order and its ingest API is the
    # busiest path of the platform.
    urlpatterns.append(path("tracker/", include("tracker.urls")))

urlpatterns += [
    path("", include("django_prometheus.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/", include("leaderboard.api.urls")),
    path("", include("leaderboard.urls")),
]
