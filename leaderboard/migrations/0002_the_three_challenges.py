"""The three standard challenges, with their load profiles and chaos plans.

Written out in full (as the engine's validators normalize them) so that this
migration does not change meaning when the validators' defaults do.
"""

from django.db import migrations

TASKS = {"sample_urls": 4, "test": 2, "history": 1, "index": 1}
STEADY = {
    "shape": "constant", "users": 20, "spawn_rate": 10.0, "duration_s": 60, "timeout_s": 5.0,
    "connect_timeout_s": 5.0, "wait_min_s": 0.05, "wait_max_s": 0.25, "tasks": TASKS,
}
STEPS = {
    "shape": "step", "users": 10, "spawn_rate": 10.0, "duration_s": 60, "timeout_s": 5.0,
    "connect_timeout_s": 5.0, "wait_min_s": 0.05, "wait_max_s": 0.25, "tasks": TASKS,
    "step_users": 10, "step_every_s": 12, "max_users": 60,
}

CHALLENGES = [
    {
        "slug": "robust-service",
        "name": "Robust Service",
        "position": 1,
        "scoring": "robust_service",
        "description": "A standardized sustained load for one minute, no chaos: serve as much as you can, without going down.",
        "rules": "20 users, each waiting 50–250 ms between requests, for 60 s; the first 2 s ramp up and are not measured.",
        "profile": STEADY,
        "chaos_plan": [],
    },
    {
        "slug": "graceful-degradation",
        "name": "Graceful Degradation",
        "position": 2,
        "scoring": "graceful_degradation",
        "description": (
            "The same steady load while url-anvil is made unstable: a latency spike, a whole instance "
            "crashing, an error burst and hanging requests. Count what you still serve."
        ),
        "rules": (
            "At 10 s: +400 ms latency for 6 s. At 20 s: one url-anvil instance dies outright (its gunicorn "
            "master too), and nothing but your own supervision brings it back. At 30 s: half of the "
            "requests fail with 503 for 6 s. At 44 s: one request in five hangs for 3 s, for 4 s."
        ),
        "profile": STEADY,
        "chaos_plan": [
            {"at_s": 10.0, "duration_s": 6.0, "kind": "latency", "params": {"ms": 400.0, "jitter_ms": 100.0, "probability": 1.0}, "scope": "all"},
            {"at_s": 20.0, "duration_s": 5.0, "kind": "crash", "params": {"probability": 1.0, "once": True, "target": "server"}, "scope": "all"},
            {"at_s": 30.0, "duration_s": 6.0, "kind": "error", "params": {"status": 503, "probability": 0.5}, "scope": "all"},
            {"at_s": 44.0, "duration_s": 4.0, "kind": "hang", "params": {"seconds": 3.0, "probability": 0.2}, "scope": "all"},
        ],
    },
    {
        "slug": "longest-upkeep",
        "name": "Longest Upkeep",
        "position": 3,
        "scoring": "longest_upkeep",
        "description": "Load that steps up every 12 s to aggressive levels, with a failure induced every 12 s: stay up the longest.",
        "rules": (
            "10 users, +10 every 12 s up to 60. At 12 s: 30% errors for 4 s. At 24 s and again at 36 s: a "
            "url-anvil instance dies outright (its gunicorn master too). At 48 s: +1.5 s latency for 4 s."
        ),
        "profile": STEPS,
        "chaos_plan": [
            {"at_s": 12.0, "duration_s": 4.0, "kind": "error", "params": {"status": 500, "probability": 0.3}, "scope": "all"},
            {"at_s": 24.0, "duration_s": 5.0, "kind": "crash", "params": {"probability": 1.0, "once": True, "target": "server"}, "scope": "all"},
            {"at_s": 36.0, "duration_s": 5.0, "kind": "crash", "params": {"probability": 1.0, "once": True, "target": "server"}, "scope": "all"},
            {"at_s": 48.0, "duration_s": 4.0, "kind": "latency", "params": {"ms": 1500.0, "jitter_ms": 0.0, "probability": 1.0}, "scope": "all"},
        ],
    },
]


def create_challenges(apps, schema_editor):
    Challenge = apps.get_model("leaderboard", "Challenge")
    for data in CHALLENGES:
        # Never overwrite a challenge an operator already edited.
        Challenge.objects.get_or_create(slug=data["slug"], defaults=data)


def remove_challenges(apps, schema_editor):
    Challenge = apps.get_model("leaderboard", "Challenge")
    Challenge.objects.filter(slug__in=[c["slug"] for c in CHALLENGES], submissions__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("leaderboard", "0001_initial")]
    operations = [migrations.RunPython(create_challenges, remove_challenges)]
