"""Fill the stored rankings from the submissions already scored.

The board of everyone is each participant's ``is_best`` submission (what the
leaderboard showed until now); the verified board is each participant's best
verified scored submission. Both are ranked by score descending, then the
earlier submission, then the lower id — the order the scoring service keeps
from here on.
"""

from django.db import migrations

COPIED = ("id", "participant_id", "score", "statistic_1", "statistic_2", "statistic_3", "created_at",
          "verified", "participant__username", "participant__display_name")
RANK_ORDER = ("-score", "created_at", "id")


def entries_fill(apps, schema_editor):
    Challenge = apps.get_model("leaderboard", "Challenge")
    Submission = apps.get_model("leaderboard", "Submission")
    LeaderboardEntry = apps.get_model("leaderboard", "LeaderboardEntry")
    db = schema_editor.connection.alias
    for challenge_id in Challenge.objects.using(db).values_list("id", flat=True):
        scored = Submission.objects.using(db).filter(challenge_id=challenge_id, status="scored", score__isnull=False)
        everyone = scored.filter(is_best=True).order_by(*RANK_ORDER).values(*COPIED)
        # In the ranking order, a participant's first verified row is their best verified one.
        verified, seen = [], set()
        for row in scored.filter(verified=True).order_by(*RANK_ORDER).values(*COPIED).iterator(chunk_size=5000):
            if row["participant_id"] not in seen:
                seen.add(row["participant_id"])
                verified.append(row)
        for verified_only, rows in ((False, everyone.iterator(chunk_size=5000)), (True, verified)):
            LeaderboardEntry.objects.using(db).bulk_create(
                (
                    LeaderboardEntry(
                        challenge_id=challenge_id, verified_only=verified_only, participant_id=row["participant_id"],
                        submission_id=row["id"], rank=rank, score=row["score"], statistic_1=row["statistic_1"],
                        statistic_2=row["statistic_2"], statistic_3=row["statistic_3"],
                        submitted_at=row["created_at"], verified=row["verified"],
                        username=row["participant__username"], display_name=row["participant__display_name"],
                    )
                    for rank, row in enumerate(rows, start=1)
                ),
                batch_size=2000,
            )


def entries_empty(apps, schema_editor):
    apps.get_model("leaderboard", "LeaderboardEntry").objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("leaderboard", "0005_leaderboard_entries"),
    ]

    operations = [
        migrations.RunPython(entries_fill, entries_empty),
    ]
