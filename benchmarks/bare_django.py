"""The framework's limit for the url-anvil benchmark: one Django JSON view, no apps, no middleware.

Served under the same gunicorn command and settings as url-anvil:
``gunicorn -c chaoschallenge/gunicorn_conf.py benchmarks.bare_django:application``.
"""

from __future__ import annotations

import random

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
    )

from django.core.wsgi import get_wsgi_application
from django.http import JsonResponse
from django.urls import path

URLS = [f"http://127.0.0.1:8080/corpus/document-{n}" for n in range(8)]


def sample(request):
    # The same work as url-anvil's /api/sample-urls, minus everything else.
    return JsonResponse(random.sample(URLS, 5), safe=False)


def healthz(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [path("api/sample-urls", sample), path("healthz", healthz)]
application = get_wsgi_application()
