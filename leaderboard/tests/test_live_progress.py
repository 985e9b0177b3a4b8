"""A submission's page while it runs: the progress endpoint's JSON and the live chart it feeds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from leaderboard.models import Submission, SubmissionStatus
from leaderboard.tests.conftest import challenge_get, run_make, submission_make
from loadtest.models import ChaosEvent, RunStatus


@pytest.fixture
def running(alice):
    """A running submission whose run has recorded 6 seconds: 3 serving, 3 failing every request."""
    per_second = [(10, 10, 20.0)] * 3 + [(30, 0, 1.0)] * 3
    run = run_make(duration_s=20, per_second=per_second, status=RunStatus.RUNNING, down={4, 5})
    ChaosEvent.objects.create(run=run, index=0, kind="crash", spec={}, at_s=3, duration_s=5, applied_second=3.1)
    ChaosEvent.objects.create(run=run, index=1, kind="latency", spec={}, at_s=12, duration_s=3)
    submission = submission_make(participant=alice[0], challenge=challenge_get("robust-service"),
                                 status=SubmissionStatus.RUNNING, run=run)
    Submission.objects.filter(id=submission.id).update(started_at=timezone.now() - timedelta(seconds=6))
    return submission


def progress_json(client, submission, **query):
    response = client.get(f"/submissions/{submission.id}/progress", query, HTTP_ACCEPT="application/json")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store" and "Accept" in response["Vary"]
    return response


def test_it_answers_json_with_the_seconds_probe_verdicts_and_faults_so_far(client, running):
    answer = progress_json(client, running).json()
    assert answer["status"] == "running" and answer["finished"] is False
    assert 'data-status="running"' in answer["progress_html"] and "s of 20 s elapsed" in answer["progress_html"]
    run = answer["run"]
    assert run["duration_s"] == 20
    # [second, successes, failures, p95]: successes and failures apart.
    assert run["seconds"][:1] == [[0, 10, 0, 20.0]] and run["seconds"][-1] == [5, 0, 30, 1.0]
    assert run["probe_down_seconds"] == [4, 5]
    assert [(f["kind"], f["applied_s"], f["cleared_s"]) for f in run["faults"]] == [
        ("crash", 3.1, None), ("latency", None, None)]
    # The participant's target is nowhere in it.
    assert "127.0.0.1:9" not in str(answer)


def test_a_follower_gets_only_the_seconds_from_since_on(client, running):
    run = progress_json(client, running, since=4).json()["run"]
    assert [row[0] for row in run["seconds"]] == [4, 5]
    assert run["probe_down_seconds"] == [4, 5]
    assert progress_json(client, running, since=6).json()["run"]["seconds"] == []
    # ?format=json asks for the same thing without the header.
    assert client.get(f"/submissions/{running.id}/progress?format=json&since=5").json()["run"]["seconds"][0][0] == 5


@pytest.mark.parametrize("since", ["-1", "x", "1.5", "²", "99999999999"])
def test_a_malformed_since_is_a_400_in_json(client, running, since):
    response = client.get(f"/submissions/{running.id}/progress", {"since": since}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["details"] == {"since": ["must be a whole number of at least 0"]}


def test_the_json_answer_stays_a_few_small_queries_however_long_the_run(client, alice,
                                                                        django_assert_max_num_queries):
    run = run_make(duration_s=600, per_second=[(10, 10, 20.0)] * 600, status=RunStatus.RUNNING)
    submission = submission_make(participant=alice[0], challenge=challenge_get("robust-service"),
                                 status=SubmissionStatus.RUNNING, run=run)
    with django_assert_max_num_queries(8):
        answer = progress_json(client, submission, since=598).json()
    assert [row[0] for row in answer["run"]["seconds"]] == [598, 599]


def test_a_queued_submission_answers_its_place_and_no_run(client, alice):
    submission = submission_make(participant=alice[0], challenge=challenge_get("robust-service"),
                                 run=run_make(status=RunStatus.QUEUED))
    answer = progress_json(client, submission).json()
    assert answer["status"] == "queued" and answer["run"] is None
    assert "position 1 in the queue" in answer["progress_html"]


def test_a_finished_submission_says_so_so_the_page_reloads_once(client, alice):
    submission = submission_make(participant=alice[0], challenge=challenge_get("robust-service"),
                                 status=SubmissionStatus.FAILED, run=run_make(status=RunStatus.FAILED))
    answer = progress_json(client, submission).json()
    assert answer["finished"] is True and answer["run"] is None


def test_without_asking_for_json_the_endpoint_still_answers_the_progress_block(client, running):
    response = client.get(f"/submissions/{running.id}/progress")
    assert response["Content-Type"].startswith("text/html")
    assert response.content.decode().lstrip().startswith('<div id="progress"')


def test_a_running_submission_page_draws_the_chart_so_far_and_follows_it(client, running):
    content = client.get(f"/submissions/{running.id}/").content.decode()
    assert 'id="live-chart"' in content and 'data-span="20"' in content
    chart = re.search(r'<svg class="chart".*?</svg>', content, flags=re.S).group(0)
    assert re.search(r'class="series-success" d="M[^"]+"', chart)
    assert re.search(r'class="series-failure" d="M[^"]+"', chart)
    assert chart.count('class="down-band"') == 1  # seconds 4-5, one band
    assert ">crash</text>" in chart and ">latency</text>" not in chart  # applied faults only
    faults = re.search(r'<ul id="live-faults".*?</ul>', content, flags=re.S).group(0)
    assert "crash — <strong>in force</strong> since 3.1 s" in faults and "latency — planned at 12.0 s" in faults
    assert "progress.js" in content and 'aria-label="Load test progress"' in content
    # No result yet, and no final chart.
    assert "<h2>Result</h2>" not in content


def test_a_queued_submission_page_has_an_empty_live_chart_waiting_for_its_first_second(client, alice):
    submission = submission_make(participant=alice[0], challenge=challenge_get("longest-upkeep"),
                                 run=run_make(status=RunStatus.QUEUED, per_second=[]))
    content = client.get(f"/submissions/{submission.id}/").content.decode()
    assert 'id="live-chart"' in content and "Waiting for the first recorded second" in content
    assert 'class="series-success" d=""' in content
