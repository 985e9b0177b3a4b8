"""Small input and output serializers of the API; outputs are built from model rows only."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from leaderboard.models import Challenge, Submission
from leaderboard.scoring import COLUMNS, SCORE_LABELS, Column


class SubmissionCreateInput(serializers.Serializer):
    challenge = serializers.CharField(max_length=50, help_text="Slug of the challenge, e.g. robust-service.")
    target_url = serializers.CharField(max_length=500, help_text="Base URL of your service's entry point.")

    def validate(self, attrs: dict) -> dict:
        # Scores come only from the platform's own runs: anything else in the body is refused, not ignored.
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["is not accepted; send only challenge and target_url"] for name in unknown})
        return attrs


def columns_data(columns: tuple[Column, ...]) -> list[dict]:
    return [{"key": c.key, "label": c.label, "unit": c.unit} for c in columns]


def statistics_data(submission: Submission, columns: tuple[Column, ...]) -> dict | None:
    if submission.score is None:
        return None
    values = (submission.statistic_1, submission.statistic_2, submission.statistic_3)
    return {column.key: value for column, value in zip(columns, values, strict=True)}


class SubmissionOutput(serializers.ModelSerializer):
    challenge = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    statistics = serializers.SerializerMethodField()
    extras = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id", "challenge", "target_url", "status", "statistics", "score", "extras", "error",
            "idempotency_key", "created_at", "started_at", "finished_at", "status_url", "page_url",
        ]
        read_only_fields = fields

    def get_statistics(self, obj: Submission) -> dict | None:
        return statistics_data(obj, COLUMNS[obj.challenge.scoring])

    def get_extras(self, obj: Submission) -> dict:
        return {key: value for key, value in (obj.details or {}).items() if key != "down_seconds"}

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_status_url(self, obj: Submission) -> str:
        return self._absolute(reverse("api-submission-detail", args=[obj.id]))

    def get_page_url(self, obj: Submission) -> str:
        return self._absolute(reverse("leaderboard:submission", args=[obj.id]))


class ChallengeOutput(serializers.ModelSerializer):
    statistics = serializers.SerializerMethodField()
    score = serializers.SerializerMethodField()
    duration_s = serializers.SerializerMethodField()
    leaderboard_url = serializers.SerializerMethodField()

    class Meta:
        model = Challenge
        fields = [
            "slug", "name", "description", "rules", "scoring", "statistics", "score", "up_threshold_pct",
            "daily_limit", "duration_s", "profile", "chaos_plan", "leaderboard_url",
        ]
        read_only_fields = fields

    def get_statistics(self, obj: Challenge) -> list[dict]:
        return columns_data(COLUMNS[obj.scoring])

    def get_score(self, obj: Challenge) -> str:
        return SCORE_LABELS[obj.scoring]

    def get_duration_s(self, obj: Challenge) -> int | None:
        return (obj.profile or {}).get("duration_s")

    def get_leaderboard_url(self, obj: Challenge) -> str:
        request = self.context.get("request")
        path = reverse("api-leaderboard", args=[obj.slug])
        return request.build_absolute_uri(path) if request else path
