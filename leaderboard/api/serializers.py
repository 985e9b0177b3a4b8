"""Small input and output serializers of the API; outputs are built from model rows only."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from leaderboard.models import Challenge, ScoringKind, Submission
from leaderboard.scoring import COLUMNS, SCORE_LABELS, Column, score_data, statistics_data
from leaderboard.selectors import STATISTIC_ALIASES

# Each pattern is checked here exactly as the schema states it (drf-spectacular
# turns \A and \Z into ECMA's ^ and $): Python's $ would also let a trailing
# newline through, and a schema that refuses less than the API, or more, is
# what a client's generated code trips over.
SLUG_PATTERN = r"\A[-a-zA-Z0-9_]+\Z"
# http(s), a host, an optional path; no whitespace or control characters, no
# credentials, ?query or #fragment. The host must also be on the platform's
# allow-list, which is deployment configuration and so answered with a 400.
TARGET_URL_PATTERN = r"\Ahttps?://[^\x00-\x20\x7f/?#@]+(/[^\x00-\x20\x7f?#]*)?\Z"
# The sort keys of every leaderboard, and those of each scoring kind's own
# columns; a leaderboard takes its own challenge's, and refuses another's (400).
COMMON_SORT_KEYS = ("rank", "participant", "score", "when")
COLUMN_SORT_KEYS = tuple(dict.fromkeys(column.key for columns in COLUMNS.values() for column in columns))


def _signed(keys: tuple[str, ...]) -> list[str]:
    return [prefix + key for key in keys for prefix in ("", "-")]


# What an answer's ``sort`` says: always a column's own key.
SORTED_BY_CHOICES = _signed(COMMON_SORT_KEYS + COLUMN_SORT_KEYS)
# What ``?sort=`` takes: those, and the older positional names of a challenge's statistics.
SORT_CHOICES = SORTED_BY_CHOICES + _signed(STATISTIC_ALIASES)
SORT_DESCRIPTION = (
    "A column to order by, ascending; prefixed with `-`, descending. The rank stays the rank by score. "
    "`rank`, `participant`, `score` and `when` sort every leaderboard; a challenge's statistics sort by "
    "their column keys (its `columns[].key`), which depend on how it is scored: "
    + "; ".join(
        f"{ScoringKind(kind).label}: {', '.join(f'`{column.key}`' for column in columns)}"
        for kind, columns in COLUMNS.items()
    )
    + ". Another challenge's column key is refused with 400. `statistic_1`, `statistic_2` and `statistic_3` "
    "are older names of the challenge's three columns, in order."
)
# The sandbox reads at most 256 KiB of manifests; the field allows that many characters.
BUNDLE_MAX_CHARACTERS = 256 * 1024


class SubmissionCreateInput(serializers.Serializer):
    # No trimming: the value checked is the value sent, as the pattern says.
    challenge = serializers.CharField(
        min_length=1, max_length=50, trim_whitespace=False, validators=[RegexValidator(SLUG_PATTERN, "must be a challenge's slug")],
        help_text="Slug of an open challenge (`GET /api/v1/challenges`), e.g. robust-service.",
    )
    target_url = serializers.CharField(
        min_length=1, max_length=500, trim_whitespace=False, required=False,
        validators=[RegexValidator(TARGET_URL_PATTERN, "must be an http:// or https:// base URL without credentials, ?query or #fragment")],
        help_text="Base URL of your service's entry point; its host must be on the platform's allow-list of targets. "
                  "Give this or `bundle`, as the challenge accepts.",
    )
    bundle = serializers.CharField(
        min_length=1, max_length=BUNDLE_MAX_CHARACTERS, trim_whitespace=False, required=False,
        help_text="Kubernetes manifests (YAML documents or a JSON list: Deployments, Services, ConfigMaps) that "
                  "the platform runs in a sandbox of its own; the result is marked verified. Give this or `target_url`.",
    )

    def validate(self, attrs: dict) -> dict:
        # Scores come only from the platform's own runs: anything else in the body is refused, not ignored.
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {name: ["is not accepted; send only challenge and target_url or bundle"] for name in unknown}
            )
        if ("target_url" in attrs) == ("bundle" in attrs):
            raise serializers.ValidationError(
                {"target_url": ["give either target_url (a setup you run) or bundle (manifests the platform runs)"]}
            )
        return attrs


class SubmissionCreateInputScheme(OpenApiSerializerExtension):
    """States in the schema what ``validate`` enforces: no property but the two."""

    target_class = SubmissionCreateInput

    def map_serializer(self, auto_schema: object, direction: str) -> dict:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        # Exactly one of the two entries, as ``validate`` demands.
        one_of = [{"required": ["target_url"], "not": {"required": ["bundle"]}},
                  {"required": ["bundle"], "not": {"required": ["target_url"]}}]
        return {**schema, "additionalProperties": False, "oneOf": one_of}


@extend_schema_serializer(component_name="Column")
class ColumnOutput(serializers.Serializer):
    key = serializers.CharField(help_text="The figure's key in `statistics`, and its `sort` key on the leaderboard.")
    label = serializers.CharField()
    unit = serializers.CharField(allow_blank=True)
    better = serializers.ChoiceField(choices=["higher", "lower"], help_text="Which values are better.")
    decimals = serializers.IntegerField(
        min_value=0, help_text="Decimals the platform's pages show; 0 for a whole number, which the API gives as an integer."
    )


# The challenge's three statistics by key (``ColumnOutput.key``); null until
# scored, and one figure is null when the run gave nothing to measure it by.
# A whole-number column (``decimals`` 0) is a JSON integer.
STATISTICS_SCHEMA = {
    "type": "object", "nullable": True, "additionalProperties": {"type": "number", "nullable": True},
}
SCORE_SCHEMA = {
    "type": "number", "nullable": True,
    "description": "Null until scored; an integer for challenges whose score is a whole number (a count, seconds).",
}


@extend_schema_field(STATISTICS_SCHEMA)
class StatisticsField(serializers.DictField):
    pass


@extend_schema_field(SCORE_SCHEMA)
class ScoreField(serializers.Field):
    pass


def columns_data(columns: tuple[Column, ...]) -> list[dict]:
    return [{"key": c.key, "label": c.label, "unit": c.unit, "better": c.better, "decimals": c.decimals} for c in columns]


class SubmissionOutput(serializers.ModelSerializer):
    challenge = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    statistics = serializers.SerializerMethodField()
    score = serializers.SerializerMethodField()
    extras = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "id", "challenge", "target_url", "status", "verified", "statistics", "score", "extras", "error",
            "idempotency_key", "created_at", "started_at", "finished_at", "status_url", "page_url",
        ]
        read_only_fields = fields

    @extend_schema_field(STATISTICS_SCHEMA)
    def get_statistics(self, obj: Submission) -> dict | None:
        return statistics_data(obj, COLUMNS[obj.challenge.scoring])

    @extend_schema_field(SCORE_SCHEMA)
    def get_score(self, obj: Submission) -> int | float | None:
        return score_data(obj, obj.challenge.scoring)

    @extend_schema_field({"type": "object", "additionalProperties": {}, "description": "Further figures of the scored run."})
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

    @extend_schema_field(ColumnOutput(many=True))
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


@extend_schema_serializer(component_name="LeaderboardRow")
class LeaderboardRowOutput(serializers.Serializer):
    rank = serializers.IntegerField(min_value=1)
    participant = serializers.CharField(help_text="The participant's username.")
    display_name = serializers.CharField()
    statistics = StatisticsField()
    score = ScoreField()
    submitted_at = serializers.DateTimeField()
    submission = serializers.CharField(help_text="Path of the submission's page.")


@extend_schema_serializer(component_name="Leaderboard")
class LeaderboardOutput(serializers.Serializer):
    # Documents the answer that ``leaderboard.api.views._leaderboard_body`` builds
    # (rendered once and cached, so not through this serializer).

    challenge = serializers.CharField()
    columns = ColumnOutput(many=True)
    count = serializers.IntegerField(min_value=0, help_text="Participants ranked.")
    page = serializers.IntegerField(min_value=1)
    pages = serializers.IntegerField(min_value=1)
    sort = serializers.ChoiceField(
        choices=SORTED_BY_CHOICES, help_text="What the rows are ordered by: a column's own key, `-` for descending."
    )
    results = LeaderboardRowOutput(many=True)
