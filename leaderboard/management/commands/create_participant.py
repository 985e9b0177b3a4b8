"""``manage.py create_participant USERNAME [--display-name NAME]``: prints the API key, once."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard import services


class Command(BaseCommand):
    help = "Create a participant and print its API key (it is stored only as a hash and never shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--display-name", default="")

    def handle(self, *args: object, **options: object) -> None:
        try:
            participant, key = services.participant_create(
                username=str(options["username"]), display_name=str(options["display_name"])
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(f"Created participant {participant.username}. Its API key, shown only this once:")
        self.stdout.write(key)
