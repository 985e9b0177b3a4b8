"""url-anvil's routes: the root URLconf of the anvil role (see chaoschallenge/urls_anvil.py).

Flat, with the hot routes first: every nesting level and every pattern tried
before the match costs each request a little.
"""

from django.conf import settings
from django.urls import path, re_path
from django.views.static import serve
from django_prometheus.exports import ExportToDjangoView

from . import views

urlpatterns = [
    path("api/sample-urls", views.sample_urls, name="anvil-sample-urls"),
    path("api/test", views.url_test, name="anvil-test"),
    path("corpus/<slug:slug>", views.corpus, name="anvil-corpus"),
    path("api/history", views.history, name="anvil-history"),
    path("healthz", views.healthz, name="anvil-healthz"),
    path("metrics", ExportToDjangoView, name="prometheus-django-metrics"),
    path("", views.index, name="anvil-index"),
    path("corpus/", views.corpus_index, name="anvil-corpus-index"),
    path("chaos/faults", views.chaos_faults, name="anvil-chaos-faults"),
    path("chaos/faults/<str:fault_id>", views.chaos_fault, name="anvil-chaos-fault"),
    path("chaos/instances", views.chaos_instances, name="anvil-chaos-instances"),
    # The anvil runs alone under gunicorn (no web server in front), so it
    # serves its page's stylesheet itself.
    re_path(r"^static/(?P<path>.*)$", serve, {"document_root": settings.BASE_DIR / "static"}, name="anvil-static"),
]
