from __future__ import annotations

from django.urls import path

from leaderboard import views

app_name = "leaderboard"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("leaderboard/", views.leaderboards_view, name="leaderboards"),
    path("leaderboard/<slug:slug>/", views.leaderboard_view, name="leaderboard"),
    path("participants/<slug:username>/", views.participant_view, name="participant"),
    path("submissions/<int:submission_id>/", views.submission_view, name="submission"),
    path("submissions/<int:submission_id>/progress", views.submission_progress_view, name="submission-progress"),
]
