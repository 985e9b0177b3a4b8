"""Admin for challenges, participants and submissions (load-test runs have their read-only admin in loadtest)."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from common.validation import FieldError
from leaderboard import services
from leaderboard.models import Challenge, Participant, Submission, SubmissionStatus
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS, Column

STATISTIC_FIELDS = ("statistic_1", "statistic_2", "statistic_3")


def _with_unit(column: Column, value: float | None) -> str:
    text = column.text(value)
    return f"{text} {column.unit}" if value is not None and column.unit != "count" else text


def _statistic_field(name: str, column: Column) -> Callable[[Submission], str]:
    """A read-only field of the change form that shows one statistic under its challenge's own name."""

    def shown(submission: Submission) -> str:
        return _with_unit(column, getattr(submission, name))

    # The field's name keeps the form's layout and CSS class; its label is the column's.
    shown.__name__ = name
    shown.short_description = f"{column.label} ({column.unit})"
    return shown


# Built once: the admin asks for a form's read-only fields several times and
# matches them by identity.
STATISTIC_DISPLAYS: dict[str, dict[str, Callable[[Submission], str]]] = {
    kind: {name: _statistic_field(name, column) for name, column in zip(STATISTIC_FIELDS, columns, strict=True)}
    for kind, columns in COLUMNS.items()
}


class ChallengeAdminForm(forms.ModelForm):
    class Meta:
        model = Challenge
        fields = [
            "slug", "name", "description", "rules", "scoring", "profile", "chaos_plan", "up_threshold_pct",
            "daily_limit", "position", "is_active",
        ]

    def clean(self) -> dict:
        data = super().clean()
        if "profile" not in data or "chaos_plan" not in data:
            return data  # a field already has its own error (e.g. not JSON)
        try:
            data["profile"], data["chaos_plan"] = services.challenge_config_validate(
                profile=data["profile"], chaos_plan=data["chaos_plan"]
            )
        except FieldError as exc:
            field = "chaos_plan" if exc.field.startswith("chaos_plan") else "profile"
            self.add_error(field, str(exc))
        return data


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    form = ChallengeAdminForm
    list_display = ["name", "slug", "scoring", "accepts", "up_threshold_pct", "daily_limit", "is_active", "position"]
    list_editable = ["is_active", "position"]
    list_filter = ["scoring", "accepts", "is_active"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]


class ParticipantAddForm(forms.ModelForm):
    class Meta:
        model = Participant
        fields = ["username", "display_name", "is_active"]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["username", "display_name", "key_prefix", "key_created_at", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["username", "display_name", "key_prefix"]
    readonly_fields = ["key_prefix", "key_created_at", "created_at"]
    show_full_result_count = False
    actions = ["rotate_keys"]

    def get_form(self, request: HttpRequest, obj: Participant | None = None, **kwargs: object):
        if obj is None:
            kwargs["form"] = ParticipantAddForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Participant | None = None) -> list[str]:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Participant, form: forms.ModelForm, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        participant, key = services.participant_create(username=obj.username, display_name=obj.display_name)
        if not obj.is_active:
            participant.is_active = False
            participant.save(update_fields=["is_active"])
        obj.pk = participant.pk
        obj.key_prefix, obj.key_hash, obj.key_created_at = participant.key_prefix, participant.key_hash, participant.key_created_at
        messages.warning(request, f"API key of {participant.username} (shown only now, copy it): {key}")

    # A participant's entries leave the rankings with them: the service closes the gaps in the same transaction.
    def delete_model(self, request: HttpRequest, obj: Participant) -> None:
        services.participants_delete(participant_ids=[obj.id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        services.participants_delete(participant_ids=list(queryset.values_list("id", flat=True)))

    @admin.action(description="Rotate the API key of the selected participants (old keys stop working)")
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        for participant in queryset:
            key = services.participant_key_rotate(participant=participant)
            messages.warning(request, f"New API key of {participant.username} (shown only now, copy it): {key}")


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["id", "participant_shown", "challenge", "status", "statistics_shown", "score_shown", "is_best",
                    "verified", "created_at"]
    list_filter = ["challenge", "status", "is_best", "verified"]
    list_select_related = ["participant", "challenge"]
    search_fields = ["participant__username", "target_url"]
    raw_id_fields = ["participant", "run"]
    date_hierarchy = "created_at"
    # Counting every row on each list page is what makes big admin lists slow.
    show_full_result_count = False
    list_per_page = 50
    actions = ["rerun", "cancel"]
    # The statistics are shown under their challenge's names (``get_readonly_fields``)
    # and never become form fields: they come only from the platform's own runs.
    exclude = STATISTIC_FIELDS
    readonly_fields = [
        "participant", "challenge", "target_url", "bundle", "verified", "idempotency_key", "status", "run",
        "attempts", "platform_failure", "statistic_1", "statistic_2", "statistic_3", "score", "details", "is_best",
        "error", "created_at", "started_at", "finished_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Submissions come through the API (or the re-run action), never typed in.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Submission]:
        # A submission's title names its participant and challenge.
        return super().get_queryset(request).select_related("participant", "challenge")

    def get_readonly_fields(self, request: HttpRequest, obj: Submission | None = None) -> list:
        if obj is None:
            return self.readonly_fields
        displays = STATISTIC_DISPLAYS[obj.challenge.scoring]
        return [displays.get(name, name) for name in self.readonly_fields]

    @admin.display(description="Participant", ordering="participant__username")
    def participant_shown(self, obj: Submission) -> str:
        return obj.participant.shown_name

    @admin.display(description="Statistics")
    def statistics_shown(self, obj: Submission) -> str:
        if obj.score is None:
            return "—"
        values = (obj.statistic_1, obj.statistic_2, obj.statistic_3)
        return " · ".join(f"{column.label}: {_with_unit(column, value)}"
                          for column, value in zip(COLUMNS[obj.challenge.scoring], values, strict=True))

    @admin.display(description="Score", ordering="score")
    def score_shown(self, obj: Submission) -> str:
        return SCORE_COLUMNS[obj.challenge.scoring].text(obj.score)

    @admin.action(description="Re-run: queue a new submission with the same target")
    def rerun(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        for submission in queryset.select_related("participant", "challenge"):
            try:
                fresh = services.submission_rerun(submission=submission)
            except FieldError as exc:
                messages.error(request, f"Submission {submission.id}: {exc.message}")
            else:
                messages.success(request, f"Submission {submission.id} queued again as {fresh.id}")

    @admin.action(description="Cancel the selected queued or running submissions")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        done = sum(1 for submission in queryset.filter(status__in=[SubmissionStatus.QUEUED, SubmissionStatus.RUNNING])
                   if services.submission_cancel(submission=submission))
        messages.info(request, f"Cancellation requested for {done} submission(s)")

    # Deleting a best submission changes the ranking: the service re-ranks in the same transaction.
    def delete_model(self, request: HttpRequest, obj: Submission) -> None:
        services.submissions_delete(submission_ids=[obj.id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        services.submissions_delete(submission_ids=list(queryset.values_list("id", flat=True)))
