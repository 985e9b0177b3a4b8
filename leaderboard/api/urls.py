from __future__ import annotations

from django.urls import path, re_path

from leaderboard.api import views

urlpatterns = [
    path("submissions", views.SubmissionCreateView.as_view(), name="api-submission-create"),
    path("submissions/<int:submission_id>", views.SubmissionDetailView.as_view(), name="api-submission-detail"),
    path("submissions/<int:submission_id>/cancel", views.SubmissionCancelView.as_view(), name="api-submission-cancel"),
    path("challenges", views.ChallengeListView.as_view(), name="api-challenge-list"),
    path("leaderboards/<slug:slug>", views.LeaderboardView.as_view(), name="api-leaderboard"),
    # Last: whatever else is asked under the API (a malformed id or slug too) gets a JSON 404.
    # [\s\S], not ".": a path may hold an encoded newline.
    re_path(r"^(?P<path>[\s\S]*)\Z", views.api_not_found, name="api-not-found"),
]
