from __future__ import annotations

from django.urls import path

from leaderboard.api import views

urlpatterns = [
    path("submissions", views.SubmissionCreateView.as_view(), name="api-submission-create"),
    path("submissions/<int:submission_id>", views.SubmissionDetailView.as_view(), name="api-submission-detail"),
    path("submissions/<int:submission_id>/cancel", views.SubmissionCancelView.as_view(), name="api-submission-cancel"),
    path("challenges", views.ChallengeListView.as_view(), name="api-challenge-list"),
    path("leaderboards/<slug:slug>", views.LeaderboardView.as_view(), name="api-leaderboard"),
]
