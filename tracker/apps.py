import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("tracker")


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = "Local tracker"

    def ready(self) -> None:
        from loadtest.hooks import tracking_sink_register
        from tracker import receivers  # noqa: F401 - connects the signal receivers
        from tracker.services import run_track_local

        # run_loadtest --track files runs here when the tracker is on in this process.
        tracking_sink_register(sink=run_track_local)
        if settings.ENABLE_LOCAL_TRACKER:
            # Said at every start so that nobody runs it on a shared deployment by accident.
            logger.warning(
                "ENABLE_LOCAL_TRACKER is on: the local tracker serves /tracker/ and stores runs in the %r "
                "database (local and unofficial: never affects the leaderboard)",
                settings.DATABASES["tracker"]["NAME"],
            )
