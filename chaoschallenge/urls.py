"""Root URLconf of the platform role."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.health import healthz
from common.metrics_auth import metrics

# The admin's lists of runs and submissions need the width its side menu takes.
admin.site.enable_nav_sidebar = False

urlpatterns = [path("healthz", healthz, name="healthz")]

if settings.ENABLE_LOCAL_TRACKER:
    # With the tracker off, none of its URLs exist at all (404, not 403).
    # Listed early because paths resolve in order and its ingest API is the
    # busiest path of the platform.
    urlpatterns.append(path("tracker/", include("tracker.urls")))

urlpatterns += [
    # django_prometheus's exposition, behind METRICS_TOKEN when one is set.
    path("metrics", metrics, name="prometheus-django-metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="api-schema", template_name="leaderboard/api_docs.html"),
        name="api-docs",
    ),
    path("api/v1/", include("leaderboard.api.urls")),
    path("", include("leaderboard.urls")),
]
