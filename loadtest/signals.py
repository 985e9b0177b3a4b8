"""Signals other apps may listen to (the leaderboard scores on ``run_finished``)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent with sender=LoadTestRun and run=<LoadTestRun> once a run has reached a
# final status (completed / failed / cancelled), after that change committed.
run_finished = Signal()
