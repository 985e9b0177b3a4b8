"""The competition listens: a submission's run started or ended; a challenge changed; a participant was renamed;
the database was migrated."""

from __future__ import annotations

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.core.exceptions import FieldDoesNotExist
from django.db import router, transaction
from django.db.models.signals import post_delete, post_migrate, post_save
from django.dispatch import receiver

from leaderboard import services
from leaderboard.models import Challenge, LeaderboardEntry, Participant
from leaderboard.ranking_version import version_bump
from loadtest.hooks import run_finished, run_started


@receiver(run_started, dispatch_uid="leaderboard.run_started")
def submission_follow_run_start(sender: type, run, **_: object) -> None:
    if run.origin == services.RUN_ORIGIN:
        services.submission_start(run_id=run.pk)


@receiver(run_finished, dispatch_uid="leaderboard.run_finished")
def submission_follow_run_end(sender: type, run, **_: object) -> None:
    if run.origin == services.RUN_ORIGIN:
        services.submission_finish(run_id=run.pk)


@receiver([post_save, post_delete], sender=Challenge, dispatch_uid="leaderboard.challenge_changed")
def leaderboard_follow_challenge(sender: type[Challenge], **_: object) -> None:
    # Tabs, names and rules are part of every cached leaderboard answer.
    transaction.on_commit(version_bump)


@receiver(post_save, sender=Challenge, dispatch_uid="leaderboard.challenge_saved")
def leaderboard_follow_challenge_scoring(sender: type[Challenge], instance: Challenge, created: bool,
                                         **_: object) -> None:
    # The scoring kind picks a row's columns: rows rendered for another kind are rendered again
    # (when it did not change, one query finds none).
    if not created:
        services.entries_rerender(using=instance._state.db or "default", challenge_ids=[instance.id])


@receiver(post_save, sender=Participant, dispatch_uid="leaderboard.participant_renamed")
def leaderboard_follow_participant_names(sender: type[Participant], instance: Participant, created: bool,
                                         update_fields: frozenset[str] | None = None, **_: object) -> None:
    # The rankings keep copies of the names (a page reads the rankings alone).
    if created or (update_fields is not None and not update_fields & {"username", "display_name"}):
        return
    services.participant_entries_rename(participant=instance)


@receiver(post_migrate, dispatch_uid="leaderboard.migrated")
def leaderboard_follow_release(sender: AppConfig, using: str, apps: Apps | None = None, **_: object) -> None:
    # A release may change how rows look: its migrate renders the stored rows again
    # (unless the database was migrated back to before the rows had renderings).
    if sender.label != "leaderboard" or not router.allow_migrate_model(using, LeaderboardEntry):
        return
    try:
        (apps or global_apps).get_model("leaderboard", "LeaderboardEntry")._meta.get_field("rendering")
    except (LookupError, FieldDoesNotExist):
        return
    services.entries_rerender(using=using)
