"""WSGI entry point of the anvil role: url-anvil alone, no database."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chaoschallenge.settings")
# The role decides the URLconf and the middleware stack, so it is forced here
# rather than defaulted: this entry point must never serve the platform.
os.environ["CHAOS_ROLE"] = "anvil"

from anvil.wsgi import corpus_fast_path, detach_unused_request_signals

application = corpus_fast_path(get_wsgi_application())
detach_unused_request_signals()
