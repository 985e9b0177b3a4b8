"""The admin: challenge validation, key rotation, submission actions, fast read-only lists."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from leaderboard.models import Participant, Submission, SubmissionStatus
from leaderboard.selectors import participant_by_key
from leaderboard.tests.conftest import challenge_get, run_make, scored_make


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def challenge_form(challenge, **changes):
    import json

    data = {
        "slug": challenge.slug, "name": challenge.name, "description": challenge.description, "rules": challenge.rules,
        "scoring": challenge.scoring, "profile": json.dumps(challenge.profile), "chaos_plan": json.dumps(challenge.chaos_plan),
        "up_threshold_pct": challenge.up_threshold_pct, "daily_limit": challenge.daily_limit,
        "position": challenge.position, "is_active": "on",
    }
    data.update(changes)
    return data


def test_the_challenge_form_shows_the_engines_error_on_the_right_field(admin_client):
    challenge = challenge_get("graceful-degradation")
    url = f"/admin/leaderboard/challenge/{challenge.id}/change/"
    bad_plan = '[{"at_s": 5, "duration_s": 3, "kind": "latency", "params": {"ms": -4}}]'
    response = admin_client.post(url, challenge_form(challenge, chaos_plan=bad_plan))
    assert response.status_code == 200
    assert "chaos_plan[0].params.ms" in response.content.decode()
    response = admin_client.post(url, challenge_form(challenge, profile='{"shape": "zigzag"}'))
    assert "shape" in response.content.decode()
    challenge.refresh_from_db()
    assert challenge.chaos_plan[0]["kind"] == "latency" and challenge.profile["shape"] == "constant"


def test_the_challenge_form_stores_the_normalized_profile(admin_client):
    challenge = challenge_get("robust-service")
    response = admin_client.post(
        f"/admin/leaderboard/challenge/{challenge.id}/change/", challenge_form(challenge, profile='{"users": 7, "duration_s": 20}')
    )
    assert response.status_code == 302
    challenge.refresh_from_db()
    assert challenge.profile["users"] == 7 and challenge.profile["timeout_s"] == 10.0


def test_adding_a_participant_shows_its_key_once(admin_client):
    response = admin_client.post("/admin/leaderboard/participant/add/", {"username": "neo", "display_name": "Neo"}, follow=True)
    content = response.content.decode()
    participant = Participant.objects.get(username="neo")
    key = content.split("copy it): ")[1].split("<")[0].strip()
    assert participant_by_key(key=key) == participant


def test_the_rotate_key_action_replaces_the_key(admin_client, alice):
    response = admin_client.post(
        "/admin/leaderboard/participant/", {"action": "rotate_keys", "_selected_action": [alice[0].id]}, follow=True
    )
    new_key = response.content.decode().split("copy it): ")[1].split("<")[0].strip()
    assert participant_by_key(key=alice[1]) is None
    assert participant_by_key(key=new_key) == alice[0]


def test_the_rerun_and_cancel_actions(admin_client, alice):
    robust = challenge_get("robust-service")
    old = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=1)
    admin_client.post("/admin/leaderboard/submission/", {"action": "rerun", "_selected_action": [old.id]})
    fresh = Submission.objects.exclude(id=old.id).get()
    assert fresh.status == SubmissionStatus.QUEUED
    admin_client.post("/admin/leaderboard/submission/", {"action": "cancel", "_selected_action": [fresh.id]})
    fresh.refresh_from_db()
    assert fresh.status == SubmissionStatus.CANCELLED


def test_deleting_the_best_submission_promotes_the_next_best(admin_client, alice):
    robust = challenge_get("robust-service")
    second = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=5)
    best = scored_make(participant=alice[0], challenge=robust, statistics=(1, 1, 1), score=9)
    admin_client.post(f"/admin/leaderboard/submission/{best.id}/delete/", {"post": "yes"})
    second.refresh_from_db()
    assert second.is_best


def test_the_admin_lists_render_and_runs_are_read_only(admin_client, alice):
    scored_make(participant=alice[0], challenge=challenge_get("robust-service"), statistics=(1, 1, 1), score=1)
    run = run_make()
    for url in ("/admin/leaderboard/challenge/", "/admin/leaderboard/participant/", "/admin/leaderboard/submission/",
                "/admin/leaderboard/submission/?status__exact=scored", "/admin/loadtest/loadtestrun/"):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/loadtest/loadtestrun/add/").status_code == 403
    response = admin_client.get(f"/admin/loadtest/loadtestrun/{run.id}/change/")
    assert response.status_code == 200 and 'name="target_url"' not in response.content.decode()
    response = admin_client.get(f"/admin/leaderboard/submission/{Submission.objects.get().id}/change/")
    assert response.status_code == 200 and 'name="target_url"' not in response.content.decode()


def test_a_submission_shows_its_challenges_column_names_not_statistic_numbers(admin_client, alice):
    import re

    graceful = scored_make(participant=alice[0], challenge=challenge_get("graceful-degradation"),
                           statistics=(1797.0, 1.5, 20.04), score=1797.0)
    content = admin_client.get(f"/admin/leaderboard/submission/{graceful.id}/change/").content.decode()
    # (The admin capitalizes every label's first letter: "P95 Latency".)
    labels = {label.lower() for label in re.findall(r"<label>([^<]*):</label>", content)}
    assert "Statistic 1" not in content and 'name="statistic_' not in content
    assert {"requests handled (count)", "error rate (%)", "p95 latency (ms)"} <= labels
    assert re.search(r"Requests Handled \(count\):</label>\s*<div class=\"readonly\">1,797</div>", content)
    assert re.search(r"Error Rate \(%\):</label>\s*<div class=\"readonly\">1.50 %</div>", content)

    upkeep = scored_make(participant=alice[0], challenge=challenge_get("longest-upkeep"),
                         statistics=(48.0, None, 4.0), score=48.0)
    content = admin_client.get(f"/admin/leaderboard/submission/{upkeep.id}/change/").content.decode()
    assert re.search(r"Last Downtime \(s into the run\):</label>\s*<div class=\"readonly\">never</div>", content)

    listing = admin_client.get("/admin/leaderboard/submission/").content.decode()
    assert "Requests Handled: 1,797 · Error Rate: 1.50 % · p95 Latency: 20.0 ms" in listing
    assert "Uptime Duration: 48 s · Last Downtime: never · Restarts: 4" in listing


def test_a_submission_is_titled_with_its_participants_name_and_challenge(admin_client, alice):
    submission = scored_make(participant=alice[0], challenge=challenge_get("robust-service"), statistics=(1, 1, 1), score=1)
    title = f"Submission {submission.id} by Alice A. to Robust Service (scored)"
    assert str(submission) == title
    content = admin_client.get(f"/admin/leaderboard/submission/{submission.id}/change/").content.decode()
    assert f"<h2>{title}</h2>" in content
    listing = admin_client.get("/admin/leaderboard/submission/").content.decode()
    assert ">Alice A.</td>" in listing or ">Alice A.</a>" in listing
