"""WSGI entry point of the platform role (leaderboard, API, admin, tracker)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chaoschallenge.settings")
os.environ.setdefault("CHAOS_ROLE", "platform")

application = get_wsgi_application()
