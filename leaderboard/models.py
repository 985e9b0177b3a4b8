"""The competition: challenges, participants and their submissions.

Scores are written only by the scoring step of a run the platform performed
itself; no model field is ever filled from participant input except the target
URL and the idempotency key.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class ScoringKind(models.TextChoices):
    ROBUST_SERVICE = "robust_service", "Robust Service"
    GRACEFUL_DEGRADATION = "graceful_degradation", "Graceful Degradation"
    LONGEST_UPKEEP = "longest_upkeep", "Longest Upkeep"


class ChallengeEntry(models.TextChoices):
    URL = "url", "The URL of a setup the participant runs"
    BUNDLE = "bundle", "A bundle the platform runs in a sandbox (verified)"
    BOTH = "both", "Either"


class Challenge(models.Model):
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    rules = models.TextField(blank=True, help_text="Shown on the challenge's page, below the scoring rules.")
    # Normalized by loadtest.profiles on save (see ChallengeAdminForm / challenge_save).
    profile = models.JSONField()
    chaos_plan = models.JSONField(default=list, blank=True)
    scoring = models.CharField(max_length=30, choices=ScoringKind.choices)
    up_threshold_pct = models.FloatField(
        default=95.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text="A second is up when the probe saw the service healthy and at least this share of its requests succeeded.",
    )
    daily_limit = models.PositiveSmallIntegerField(
        default=10, help_text="Submissions per participant per UTC day for this challenge (0 closes it)."
    )
    accepts = models.CharField(max_length=10, choices=ChallengeEntry.choices, default=ChallengeEntry.URL,
                               help_text="What a submission may be: a URL, a bundle of manifests, or either.")
    # What one bundle may ask for in all (the sum of its pods' requests).
    quota_cpu_millicores = models.PositiveIntegerField(default=2000, help_text="CPU a bundle may request, in millicores.")
    quota_memory_mib = models.PositiveIntegerField(default=2048, help_text="Memory a bundle may request, in MiB.")
    quota_pods = models.PositiveSmallIntegerField(default=8, help_text="Pods (replicas) a bundle may run.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Order of the tabs.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(up_threshold_pct__gte=0, up_threshold_pct__lte=100),
                name="leaderboard_challenge_threshold_is_a_percentage",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    username = models.SlugField(max_length=40, unique=True)
    display_name = models.CharField(max_length=100, blank=True)
    # The key is "scc_<prefix>_<secret>": the prefix finds the row, the HMAC of
    # the whole key proves it. The key itself is never stored.
    key_prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    key_created_at = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Inactive participants cannot submit.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    # DRF asks these of request.user.
    is_authenticated = True
    is_anonymous = False


class SubmissionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SCORED = "scored", "Scored"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING)


class Submission(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="submissions")
    challenge = models.ForeignKey(Challenge, on_delete=models.PROTECT, related_name="submissions")
    # One of the two: the URL of a setup the participant runs, or the bundle
    # (Kubernetes manifests) the platform ran in a sandbox of its own.
    target_url = models.URLField(max_length=500, blank=True)
    bundle = models.TextField(blank=True)
    # Measured on infrastructure the platform built and ran itself.
    verified = models.BooleanField(default=False, editable=False)
    idempotency_key = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=SubmissionStatus.choices, default=SubmissionStatus.QUEUED)
    run = models.OneToOneField(
        "loadtest.LoadTestRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="submission"
    )
    # The challenge's three statistics in its own order (see leaderboard.scoring.COLUMNS);
    # plain columns so the leaderboard can sort on any of them in the database.
    statistic_1 = models.FloatField(null=True, blank=True)
    statistic_2 = models.FloatField(null=True, blank=True)
    statistic_3 = models.FloatField(null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    # Every figure the scoring produced (incl. the extras: p95, MTTR, …) and its inputs.
    details = models.JSONField(default=dict, blank=True)
    # The participant's best scored submission of this challenge (ties: the earlier);
    # maintained by the scoring service so a leaderboard is one indexed scan.
    is_best = models.BooleanField(default=False, editable=False)
    error = models.TextField(blank=True)
    # Runs started for it: a run lost with its worker is started again, a few times at most.
    attempts = models.PositiveSmallIntegerField(default=1, editable=False)
    # Failed through no fault of the participant (its runs were lost with their
    # workers): it does not count against the daily limit.
    platform_failure = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The leaderboard's first page: best rows of one challenge by rank.
            models.Index(
                "challenge",
                models.F("score").desc(),
                "created_at",
                "id",
                name="leaderboard_sub_best_rank",
                condition=models.Q(is_best=True),
            ),
            models.Index(fields=["participant", "-created_at"], name="leaderboard_sub_participant"),
            models.Index(fields=["status", "created_at"], name="leaderboard_sub_status"),
            models.Index(fields=["participant", "challenge", "created_at"], name="leaderboard_sub_quota"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="leaderboard_sub_idempotent",
            ),
            # At most one queued or running submission per participant, enforced
            # by the database so two concurrent requests cannot both get in.
            models.UniqueConstraint(
                fields=["participant"],
                condition=models.Q(status__in=["queued", "running"]),
                name="leaderboard_sub_one_active",
            ),
            models.UniqueConstraint(
                fields=["participant", "challenge"],
                condition=models.Q(is_best=True),
                name="leaderboard_sub_one_best",
            ),
            models.CheckConstraint(
                condition=models.Q(is_best=False) | models.Q(status="scored", score__isnull=False),
                name="leaderboard_sub_best_is_scored",
            ),
            models.CheckConstraint(
                condition=(~models.Q(target_url="") & models.Q(bundle="")) | (models.Q(target_url="") & ~models.Q(bundle="")),
                name="leaderboard_sub_url_or_bundle",
            ),
        ]

    def __str__(self) -> str:
        return f"Submission {self.pk} by {self.participant.shown_name} to {self.challenge} ({self.get_status_display().lower()})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class LeaderboardEntry(models.Model):
    """One line of a challenge's ranking, kept at write time so that a page is an indexed range scan.

    A challenge has two boards: every participant's best scored submission, and
    (``verified_only``) their best *verified* one. ``rank`` runs 1…N in each
    board in the ranking order — score descending, then the earlier
    submission, then the lower id — and is rewritten by the scoring service
    (``leaderboard.services.submission_best_refresh``) in the transaction that
    changes any entry of the board, under a lock on the challenge's row. The
    figures and names are copies of the submission's and the participant's,
    so that reading a page touches this table alone; so are its renderings.
    """

    # Covered by the constraint and the index below, which both start with it.
    challenge = models.ForeignKey(Challenge, on_delete=models.CASCADE, related_name="+", db_index=False)
    verified_only = models.BooleanField()
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    statistic_1 = models.FloatField(null=True)
    statistic_2 = models.FloatField(null=True)
    statistic_3 = models.FloatField(null=True)
    # The submission's created_at: the tie-break of equal scores.
    submitted_at = models.DateTimeField()
    verified = models.BooleanField()
    username = models.CharField(max_length=40)
    display_name = models.CharField(max_length=100, blank=True)
    # The entry as the page (its cells after the rank) and the API (its result
    # without the rank) show it, and the stamp of the code that rendered them
    # (leaderboard.board_rows): reading a page joins these instead of formatting rows.
    row_html = models.TextField(blank=True)
    row_json = models.TextField(blank=True)
    rendering = models.CharField(max_length=16, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["challenge", "verified_only", "participant"],
                                    name="leaderboard_entry_one_per_board"),
            models.CheckConstraint(condition=models.Q(rank__gte=1), name="leaderboard_entry_rank_from_1"),
        ]
        indexes = [
            # A page in rank order, and the board's size (its last rank).
            models.Index(fields=["challenge", "verified_only", "rank"], name="leaderboard_entry_rank"),
        ]

    def __str__(self) -> str:
        board = "verified" if self.verified_only else "all"
        return f"#{self.rank} {self.username} in challenge {self.challenge_id} ({board})"

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username
