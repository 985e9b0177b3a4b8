from django.apps import AppConfig


class LeaderboardConfig(AppConfig):
    name = "leaderboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from leaderboard import receivers, services  # noqa: F401 - connects the signal receivers
        from loadtest.hooks import profile_source_register

        # run_loadtest --challenge SLUG asks the engine, which asks us.
        profile_source_register(name="challenge", source=services.challenge_profile_source)
