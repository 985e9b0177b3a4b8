"""Tracker URLs; included under /tracker/ only when ENABLE_LOCAL_TRACKER is true."""

from django.urls import path, register_converter

from tracker import api, views


class TargetKeyConverter:
    """A target's key: the 16 hex digits of tracker.payload.target_key_for."""

    regex = "[0-9a-f]{16}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TargetKeyConverter, "target_key")

app_name = "tracker"

urlpatterns = [
    # The API first: its single-run ingest is the busiest path.
    path("api/track", api.track, name="api-track"),
    path("api/runs/batch", api.runs_batch, name="api-runs-batch"),
    path("api/track/<str:user_id>", api.user_runs, name="api-user-runs"),
    path("", views.index, name="index"),
    path("targets/<target_key:target_key>/", views.target, name="target"),
    path("targets/<target_key:target_key>/baseline", views.baseline_pin, name="baseline-pin"),
    path("targets/<target_key:target_key>/baseline/clear", views.baseline_clear, name="baseline-clear"),
    path("compare/", views.compare, name="compare"),
    path("recordings/start", views.recording_start, name="recording-start"),
    path("recordings/<int:recording_pk>/stop", views.recording_stop, name="recording-stop"),
]
