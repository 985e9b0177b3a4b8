import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("tracker")


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = "Local tracker"

    def ready(self) -> None:
        if settings.ENABLE_LOCAL_TRACKER:
            # Said at every start so that nobody runs it on a shared deployment by accident.
            logger.warning(
                "ENABLE_LOCAL_TRACKER is on: the local tracker serves /tracker/ and stores runs in the %r "
                "database (local and unofficial: never affects the leaderboard)",
                settings.DATABASES["tracker"]["NAME"],
            )
