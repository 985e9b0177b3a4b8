"""The server-rendered pages: leaderboards, participants, submissions."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from leaderboard import services
from leaderboard.models import Submission, SubmissionStatus
from leaderboard.scoring import COLUMNS
from leaderboard.tests.conftest import challenge_get, participant_make, run_make, scored_make, submission_make
from loadtest.models import ChaosEvent, RunSample, RunStatus


def row_cells(content: str, name: str) -> list[str]:
    """The texts of the numeric cells of the leaderboard row of participant ``name``."""
    page = content if isinstance(content, str) else content.decode()
    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        if f">{name}</a>" in row:
            cells = re.findall(r'<td class="num[^"]*">(.*?)</td>', row, flags=re.S)
            return [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in cells]
    raise AssertionError(f"no row for {name}")


def score_a_run(*, participant, challenge, run):
    """Score a stored run the way the worker does, through the real scoring service."""
    submission_make(participant=participant, challenge=challenge, status=SubmissionStatus.RUNNING, run=run)
    return services.submission_finish(run_id=run.id)


# --- each challenge shows its three statistics right (the original's bug) ----------


def test_robust_service_shows_sustained_rps_avg_latency_and_uptime(client, alice):
    challenge = challenge_get("robust-service")
    # 10 s, ramp-up ceil(10 users / 5 per s) = 2 s → 8 measured seconds of 10 successes at 20 ms;
    # the probe fails in second 5 → 7 of 8 up = 87.5 %; score 10 x 0.875 = 8.75.
    run = run_make(duration_s=10, spawn_rate=5.0, down={5})
    score_a_run(participant=alice[0], challenge=challenge, run=run)
    response = client.get("/leaderboard/robust-service/")
    assert response.status_code == 200
    content = response.content.decode()
    for header in ("Sustained RPS", "Avg Latency", "Uptime", "req/s", "(ms)", "(%)"):
        assert header in content
    assert row_cells(content, "Alice A.") == ["1", "10.0", "20.0", "87.50", "8.75"]


def test_graceful_degradation_shows_requests_handled_error_rate_and_p95(client, alice):
    challenge = challenge_get("graceful-degradation")
    # Ramp-up 1 s; seconds 1-9: 90 requests, 85 successes → 5/90 = 5.56 % errors; every latency
    # 20 ms, whose histogram bucket reports 20.1 ms.
    per_second = [(10, 10, 20.0)] * 10
    per_second[4] = (10, 5, 20.0)
    run = run_make(duration_s=10, per_second=per_second)
    score_a_run(participant=alice[0], challenge=challenge, run=run)
    content = client.get("/leaderboard/graceful-degradation/").content.decode()
    for header in ("Requests Handled", "Error Rate", "p95 Latency"):
        assert header in content
    assert row_cells(content, "Alice A.") == ["1", "85", "5.56", "20.1", "85"]


def test_longest_upkeep_shows_uptime_duration_last_downtime_and_restarts(client, alice):
    challenge = challenge_get("longest-upkeep")
    # Ramp-up 1 s; down in seconds 3-4; up 5-9 → longest streak 5 s, last down at 4 s;
    # a new process serves from second 7 → 1 restart.
    run = run_make(duration_s=10, down={3, 4})
    RunSample.objects.filter(run=run, second__gte=7).update(instances=["boot-b"])
    score_a_run(participant=alice[0], challenge=challenge, run=run)
    content = client.get("/leaderboard/longest-upkeep/").content.decode()
    for header in ("Uptime Duration", "Last Downtime", "Restarts"):
        assert header in content
    assert row_cells(content, "Alice A.") == ["1", "5", "4", "1", "5"]


def test_a_service_never_down_reads_never_and_absent_figures_a_dash(client, alice, outsider):
    upkeep = challenge_get("longest-upkeep")
    scored_make(participant=alice[0], challenge=upkeep, statistics=(59.0, None, 0.0), score=59.0)
    robust = challenge_get("robust-service")
    scored_make(participant=outsider[0], challenge=robust, statistics=(0.0, None, 0.0), score=0.0)
    assert row_cells(client.get("/leaderboard/longest-upkeep/").content.decode(), "Alice A.")[2] == "never"
    assert row_cells(client.get("/leaderboard/robust-service/").content.decode(), "mallory")[1:4] == ["0.0", "—", "0.00"]


# --- ranking, sorting, paging ------------------------------------------------


def test_a_leaderboard_page_shows_a_tab_per_challenge_and_marks_its_own(client, db):
    content = client.get("/leaderboard/robust-service/").content.decode()
    for name in ("Robust Service", "Graceful Degradation", "Longest Upkeep"):
        assert name in content
    assert 'aria-current="page">Robust Service' in content


def test_leaderboard_without_a_slug_goes_to_the_first_challenge(client, db):
    response = client.get("/leaderboard/")
    assert response.status_code == 302 and response["Location"] == "/leaderboard/robust-service/"


def test_it_ranks_each_participants_best_and_ties_go_to_the_earlier_submission(client, db):
    robust = challenge_get("robust-service")
    now = timezone.now()
    early, _ = participant_make("early")
    late, _ = participant_make("late")
    top, _ = participant_make("top")
    scored_make(participant=late, challenge=robust, statistics=(50.0, 9.0, 100.0), score=50.0, created_at=now - timedelta(hours=1))
    scored_make(participant=early, challenge=robust, statistics=(50.0, 8.0, 100.0), score=50.0, created_at=now - timedelta(hours=2))
    scored_make(participant=top, challenge=robust, statistics=(10.0, 1.0, 100.0), score=10.0, created_at=now - timedelta(hours=5))
    scored_make(participant=top, challenge=robust, statistics=(90.0, 1.0, 100.0), score=90.0, created_at=now)
    content = client.get("/leaderboard/robust-service/").content.decode()
    assert content.index(">top</a>") < content.index(">early</a>") < content.index(">late</a>")
    assert row_cells(content, "top")[0] == "1" and row_cells(content, "early")[0] == "2" and row_cells(content, "late")[0] == "3"
    assert content.count(">top</a>") == 1


def test_sorting_by_a_column_keeps_the_rank(client, db):
    robust = challenge_get("robust-service")
    fast, _ = participant_make("fast")
    slow, _ = participant_make("slow")
    scored_make(participant=fast, challenge=robust, statistics=(100.0, 5.0, 100.0), score=100.0)
    scored_make(participant=slow, challenge=robust, statistics=(10.0, 50.0, 100.0), score=10.0)
    content = client.get("/leaderboard/robust-service/?sort=-statistic_2").content.decode()
    assert content.index(">slow</a>") < content.index(">fast</a>")
    assert row_cells(content, "slow")[0] == "2"
    content = client.get("/leaderboard/robust-service/?sort=participant").content.decode()
    assert content.index(">fast</a>") < content.index(">slow</a>")
    content = client.get("/leaderboard/robust-service/?sort=-rank").content.decode()
    assert content.index(">slow</a>") < content.index(">fast</a>")
    assert row_cells(content, "slow")[0] == "2"


def test_bad_sort_or_page_is_400_and_unknown_challenge_404(client, db):
    assert client.get("/leaderboard/robust-service/?sort=speed").status_code == 400
    assert client.get("/leaderboard/robust-service/?page=abc").status_code == 400
    assert client.get("/leaderboard/no-such-challenge/").status_code == 404


def test_the_leaderboard_pages_through_participants(client, db, settings):
    settings.LEADERBOARD_PAGE_SIZE = 2
    robust = challenge_get("robust-service")
    for index in range(5):
        participant, _ = participant_make(f"p{index}")
        scored_make(participant=participant, challenge=robust, statistics=(index, 1.0, 100.0), score=float(index))
    content = client.get("/leaderboard/robust-service/?page=2").content.decode()
    assert "page 2 of 3" in content
    assert row_cells(content, "p2")[0] == "3"


@pytest.mark.parametrize("participants", [3, 60])
def test_the_leaderboard_page_needs_the_same_few_queries_for_any_number_of_participants(
    client, db, participants, django_assert_max_num_queries
):
    robust = challenge_get("robust-service")
    for index in range(participants):
        participant, _ = participant_make(f"user{index}")
        scored_make(participant=participant, challenge=robust, statistics=(index, 2.0, 99.0), score=float(index))
    with django_assert_max_num_queries(3):
        response = client.get("/leaderboard/robust-service/")
    assert response.status_code == 200
    assert response.content.decode().count('<td class="num">') >= min(participants, 50)
    with django_assert_max_num_queries(3):
        assert client.get("/leaderboard/robust-service/?sort=-statistic_3").status_code == 200


def test_the_page_is_served_from_the_process_cache_until_a_score_or_a_challenge_edit(
    client, db, settings, django_capture_on_commit_callbacks, django_assert_num_queries
):
    settings.LEADERBOARD_CACHE_S = 60
    robust = challenge_get("robust-service")
    assert ">newcomer</a>" not in client.get("/leaderboard/robust-service/").content.decode()
    with django_assert_num_queries(0):
        assert client.get("/leaderboard/robust-service/").status_code == 200
    newcomer, _ = participant_make("newcomer")
    with django_capture_on_commit_callbacks(execute=True):
        scored_make(participant=newcomer, challenge=robust, statistics=(1.0, 1.0, 100.0), score=1.0)
    assert ">newcomer</a>" in client.get("/leaderboard/robust-service/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        robust.name = "Robust Service II"
        robust.save()
    assert "Robust Service II" in client.get("/leaderboard/robust-service/").content.decode()


# --- participant and submission pages -------------------------------------------


def test_a_participant_page_lists_submissions_and_charts_scores_over_time(client, alice):
    robust = challenge_get("robust-service")
    now = timezone.now()
    scored_make(participant=alice[0], challenge=robust, statistics=(10.0, 1.0, 100.0), score=10.0, created_at=now - timedelta(days=1))
    scored_make(participant=alice[0], challenge=robust, statistics=(30.0, 1.0, 100.0), score=30.0, created_at=now)
    submission_make(participant=alice[0], challenge=challenge_get("longest-upkeep"), status=SubmissionStatus.FAILED)
    content = client.get("/participants/alice/").content.decode()
    assert "<svg" in content and "<polyline" in content
    assert ">10.00<" in content and ">30.00<" in content  # every point labelled with its score, as the table shows it
    assert "Failed" in content
    assert client.get("/participants/nobody/").status_code == 404


def test_a_queued_submission_shows_its_place_in_the_queue_and_refreshes(client, alice, outsider):
    robust = challenge_get("robust-service")
    ahead = submission_make(participant=outsider[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run_make(status=RunStatus.RUNNING))
    mine = submission_make(participant=alice[0], challenge=robust, run=run_make(status=RunStatus.QUEUED))
    content = client.get(f"/submissions/{mine.id}/").content.decode()
    assert "position 2 in the queue" in content
    assert "progress.js" in content and 'http-equiv="refresh"' in content
    assert ahead.id != mine.id


def test_a_running_submission_shows_elapsed_time_and_current_figures(client, alice):
    robust = challenge_get("robust-service")
    run = run_make(duration_s=5, status=RunStatus.RUNNING)
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.RUNNING, run=run)
    Submission.objects.filter(id=submission.id).update(started_at=timezone.now() - timedelta(seconds=4))
    response = client.get(f"/submissions/{submission.id}/progress")
    content = response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert 'data-status="running"' in content
    assert "s of 5 s elapsed" in content
    assert "current rate 10.0 req/s" in content and "current p95 20.0 ms" in content


def test_a_scored_submission_shows_statistics_and_a_chart_with_down_seconds_and_chaos(client, alice):
    challenge = challenge_get("longest-upkeep")
    run = run_make(duration_s=10, down={3, 4})
    ChaosEvent.objects.create(run=run, index=0, kind="crash", spec={}, at_s=3, duration_s=1, applied_second=3.0, cleared_second=4.0)
    submission = score_a_run(participant=alice[0], challenge=challenge, run=run)
    content = client.get(f"/submissions/{submission.id}/").content.decode()
    assert 'data-statistic="uptime_duration_s">5<' in content
    assert 'data-statistic="last_downtime_s">4<' in content
    assert 'data-statistic="restarts">0<' in content
    assert "Mean time to recover" in content
    assert "<svg" in content and "<title>down</title>" in content and ">crash</text>" in content
    assert "progress.js" not in content


def test_a_failed_submission_shows_its_error(client, alice):
    robust = challenge_get("robust-service")
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.FAILED, run=run_make(status=RunStatus.FAILED))
    Submission.objects.filter(id=submission.id).update(error="connection refused by <target>")
    content = client.get(f"/submissions/{submission.id}/").content.decode()
    assert "connection refused by &lt;target&gt;" in content
    assert client.get("/submissions/999999/").status_code == 404


def test_a_public_submission_page_does_not_show_the_participants_target_url(client, alice):
    robust = challenge_get("robust-service")
    url = "http://127.0.0.1:8123"
    submission = submission_make(participant=alice[0], challenge=robust, status=SubmissionStatus.FAILED,
                                 run=run_make(status=RunStatus.FAILED), target_url=url)
    Submission.objects.filter(id=submission.id).update(error=f"target unreachable: {url}/healthz: refused")
    content = client.get(f"/submissions/{submission.id}/").content.decode()
    assert "target unreachable: the target/healthz: refused" in content
    assert "8123" not in content


# --- sorted columns: which one, which way, best first ---------------------------


def headers_of(content: str) -> dict[str, dict]:
    """Per sort key of the table's heads: the sort its link asks for, its aria-sort and its arrow."""
    result = {}
    for th in re.findall(r'<th scope="col" data-sort-key=.*?</th>', content, flags=re.S):
        key = re.search(r'data-sort-key="([^"]+)"', th).group(1)
        aria = re.search(r'aria-sort="([^"]+)"', th)
        arrow = re.search(r'class="sort-arrow"[^>]*>([^<]+)<', th)
        result[key] = {
            "href": html.unescape(re.search(r'href="\?sort=([^"&]+)', th).group(1)),
            "aria_sort": aria.group(1) if aria else None,
            "arrow": arrow.group(1) if arrow else None,
        }
    return result


def test_each_columns_first_click_sorts_it_best_first(client, alice):
    for slug in ("robust-service", "longest-upkeep"):
        scored_make(participant=alice[0], challenge=challenge_get(slug), statistics=(1.0, 1.0, 1.0), score=1.0)
    heads = headers_of(client.get("/leaderboard/robust-service/").content.decode())
    # Lower latency is better, higher rate, uptime and score are; names and dates read from the top,
    # and the rank, sorted already (the default order), reverses.
    assert {key: head["href"] for key, head in heads.items()} == {
        "rank": "-rank", "participant": "participant", "sustained_rps": "-sustained_rps",
        "avg_latency_ms": "avg_latency_ms", "uptime_pct": "-uptime_pct", "score": "-score", "when": "when",
    }
    upkeep = headers_of(client.get("/leaderboard/longest-upkeep/").content.decode())
    assert [upkeep[key]["href"] for key in ("uptime_duration_s", "last_downtime_s", "restarts")] == [
        "-uptime_duration_s", "last_downtime_s", "restarts"]


def test_the_sorted_column_shows_its_direction_and_a_second_click_reverses_it(client, db):
    robust = challenge_get("robust-service")
    fast, _ = participant_make("fast")
    slow, _ = participant_make("slow")
    scored_make(participant=fast, challenge=robust, statistics=(100.0, 5.0, 100.0), score=100.0)
    scored_make(participant=slow, challenge=robust, statistics=(10.0, 50.0, 100.0), score=10.0)

    content = client.get("/leaderboard/robust-service/?sort=avg_latency_ms").content.decode()
    assert content.index(">fast</a>") < content.index(">slow</a>")
    heads = headers_of(content)
    assert heads["avg_latency_ms"] == {"href": "-avg_latency_ms", "aria_sort": "ascending", "arrow": "\u25b2"}
    assert [key for key, head in heads.items() if head["aria_sort"]] == ["avg_latency_ms"]

    content = client.get("/leaderboard/robust-service/?sort=-avg_latency_ms").content.decode()
    assert content.index(">slow</a>") < content.index(">fast</a>")
    assert headers_of(content)["avg_latency_ms"] == {"href": "avg_latency_ms", "aria_sort": "descending", "arrow": "\u25bc"}

    # The default order is the rank's, and says so.
    heads = headers_of(client.get("/leaderboard/robust-service/").content.decode())
    assert heads["rank"]["aria_sort"] == "ascending" and heads["rank"]["href"] == "-rank"
    assert heads["sustained_rps"] == {"href": "-sustained_rps", "aria_sort": None, "arrow": None}


def test_never_down_sorts_first_when_last_downtime_is_sorted_best_first(client, db):
    upkeep = challenge_get("longest-upkeep")
    for name, last_down in (("late", 50.0), ("never", None), ("early", 3.0)):
        participant, _ = participant_make(name)
        scored_make(participant=participant, challenge=upkeep, statistics=(10.0, last_down, 0.0), score=10.0)
    content = client.get("/leaderboard/longest-upkeep/?sort=last_downtime_s").content.decode()
    assert content.index(">never</a>") < content.index(">early</a>") < content.index(">late</a>")
    content = client.get("/leaderboard/longest-upkeep/?sort=-last_downtime_s").content.decode()
    assert content.index(">late</a>") < content.index(">early</a>") < content.index(">never</a>")


def test_an_absent_figure_sorts_as_the_worst_of_its_column(client, db):
    robust = challenge_get("robust-service")
    for name, latency in (("slow", 80.0), ("none", None), ("fast", 4.0)):
        participant, _ = participant_make(name)
        scored_make(participant=participant, challenge=robust, statistics=(1.0, latency, 100.0), score=1.0)
    content = client.get("/leaderboard/robust-service/?sort=avg_latency_ms").content.decode()
    assert content.index(">fast</a>") < content.index(">slow</a>") < content.index(">none</a>")
    content = client.get("/leaderboard/robust-service/?sort=-avg_latency_ms").content.decode()
    assert content.index(">none</a>") < content.index(">slow</a>") < content.index(">fast</a>")


def test_the_page_sorts_by_column_keys_and_refuses_an_unknown_one(client, alice):
    mine = scored_make(participant=alice[0], challenge=challenge_get("robust-service"), statistics=(1.0, 1.0, 1.0), score=1.0)
    Submission.objects.filter(id=mine.id).update(verified=True)
    services.submission_best_refresh(participant_id=alice[0].id, challenge_id=mine.challenge_id)
    response = client.get("/leaderboard/robust-service/?sort=requests_handled")
    assert response.status_code == 400
    assert "avg_latency_ms" in response.content.decode()
    assert client.get("/leaderboard/graceful-degradation/?sort=-requests_handled").status_code == 200
    # Sorting keeps the verified filter.
    heads = client.get("/leaderboard/robust-service/?verified=1").content.decode()
    assert 'href="?sort=-score&amp;verified=1"' in heads


# --- one way to write each figure, on every page ----------------------------------


def figures_on_every_page(client, submission) -> dict[str, list[str]]:
    """The statistics and the score of one submission as each page prints them (units left out)."""
    leaderboard = row_cells(client.get(f"/leaderboard/{submission.challenge.slug}/").content.decode(),
                            submission.participant.shown_name)[1:]
    page = client.get(f"/submissions/{submission.id}/").content.decode()
    keys = [c.key for c in COLUMNS[submission.challenge.scoring]] + ["score"]
    on_submission = [html.unescape(re.search(rf'data-statistic="{key}">([^<]*)<', page).group(1)) for key in keys]
    participant = client.get(f"/participants/{submission.participant.username}/").content.decode()
    row = re.search(rf'<tr>\s*<td><a href="/submissions/{submission.id}/">.*?</tr>', participant, flags=re.S).group(0)
    stats = re.search(r"<td>([^<]*Requests Handled[^<]*|[^<]*Uptime Duration[^<]*|[^<]*Sustained RPS[^<]*)</td>", row)
    figures = [part.split(": ", 1)[1].split(" ")[0] for part in html.unescape(stats.group(1)).split(" · ")]
    score = html.unescape(re.search(r'data-statistic="score">([^<]*)<', row).group(1))
    chart_labels = re.findall(r'dy="-8" text-anchor="middle" font-size="11">([^<]*)<', participant)
    return {"leaderboard": leaderboard, "submission": on_submission, "participant": [*figures, score],
            "chart": chart_labels}


@pytest.mark.parametrize(
    ("slug", "statistics", "score", "expected"),
    [
        # Counts are whole numbers; rates and latencies keep their decimals; thousands are separated.
        ("graceful-degradation", (1797.0, 1.5, 20.04), 1797.0, ["1,797", "1.50", "20.0", "1,797"]),
        ("longest-upkeep", (48.0, 12.0, 4.0), 48.0, ["48", "12", "4", "48"]),
        ("robust-service", (1234.56, 12.25, 99.5), 1228.387, ["1,234.6", "12.2", "99.50", "1,228.39"]),
    ],
)
def test_a_score_and_its_statistics_read_the_same_on_every_page(client, alice, slug, statistics, score, expected):
    submission = scored_make(participant=alice[0], challenge=challenge_get(slug), statistics=statistics, score=score)
    submission = Submission.objects.select_related("challenge", "participant").get(id=submission.id)
    figures = figures_on_every_page(client, submission)
    assert figures["leaderboard"] == expected
    assert figures["submission"] == expected
    assert figures["participant"] == expected
    assert figures["chart"] == [expected[-1]]


# --- the home page: what this is, how to take part, the challenges ---------------


def test_the_home_page_tells_a_first_time_visitor_how_to_take_part_in_three_steps(client, db):
    response = client.get("/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<h1>SRE Chaos Challenge</h1>" in content and "url-anvil" in content
    steps = re.search(r'<ol class="step-list">(.*?)</ol>', content, flags=re.S).group(1)
    headings = re.findall(r"<h3>(.*?)</h3>", steps)
    assert headings == ["Get a participant and its API key", "Build around url-anvil", "Submit it and watch it live"]
    assert "create_participant" in steps
    assert "<strong>URL</strong>" in steps and "<strong>bundle</strong>" in steps
    assert "/api/v1/submissions" in steps and "page_url" in steps
    assert '<a href="/api/docs/">Read the API docs</a>' in steps


def test_the_home_page_lists_the_open_challenges_in_order_with_rules_link_and_top_score(client, alice, outsider):
    robust = challenge_get("robust-service")
    scored_make(participant=alice[0], challenge=robust, statistics=(30.0, 1.0, 100.0), score=30.0)
    scored_make(participant=outsider[0], challenge=robust, statistics=(10.0, 1.0, 100.0), score=10.0)
    closed = challenge_get("graceful-degradation")
    closed.is_active = False
    closed.save()
    content = client.get("/").content.decode()
    cards = re.findall(r'<li class="challenge-card" data-challenge="([^"]+)">(.*?)</li>', content, flags=re.S)
    assert [slug for slug, _ in cards] == ["robust-service", "longest-upkeep"]
    robust_card, upkeep_card = (card for _, card in cards)
    assert '<a href="/leaderboard/robust-service/">Robust Service</a>' in robust_card
    assert robust.description in robust_card and "Score = Sustained RPS" in robust_card
    top = html.unescape(re.sub(r"<[^>]+>|\s+", " ", re.search(r'<p class="challenge-top">(.*?)</p>', robust_card,
                                                               flags=re.S).group(1))).split()
    assert " ".join(top) == "Top score 30.00 by Alice A. · 2 participants ranked"
    assert '<a href="/leaderboard/longest-upkeep/">Longest Upkeep</a>' in upkeep_card
    assert "No score yet" in upkeep_card


def test_the_home_page_is_kept_until_a_new_score(client, alice, settings, django_capture_on_commit_callbacks,
                                                 django_assert_num_queries):
    settings.LEADERBOARD_CACHE_S = 60
    assert "No score yet" in client.get("/").content.decode()
    with django_assert_num_queries(0):
        assert client.get("/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        scored_make(participant=alice[0], challenge=challenge_get("longest-upkeep"), statistics=(42.0, None, 0.0),
                    score=42.0)
    assert '<strong class="top-score">42</strong>' in client.get("/").content.decode()


@pytest.mark.parametrize("path", ["/", "/leaderboard/robust-service/", "/participants/alice/", "/api/docs/"])
def test_every_page_has_the_same_navigation_and_marks_where_you_are(client, alice, path):
    content = client.get(path).content.decode()
    nav = re.search(r'<nav aria-label="Site">(.*?)</nav>', content, flags=re.S)
    links = re.findall(r'<a href="([^"]+)"([^>]*)>([^<]+)</a>', nav.group(1))
    assert [(href, text) for href, _, text in links] == [("/", "Home"), ("/leaderboard/", "Leaderboards"),
                                                        ("/api/docs/", "API docs")]
    current = [text for _, attrs, text in links if 'aria-current="page"' in attrs]
    expected = {"/": ["Home"], "/leaderboard/robust-service/": ["Leaderboards"], "/api/docs/": ["API docs"]}
    assert current == expected.get(path, [])


# --- the participant page: improvement over time ---------------------------------------


def test_a_participants_charts_come_in_the_challenges_order(client, alice):
    now = timezone.now()
    # Submitted in the reverse of the challenges' order: the newest first would reverse the charts.
    for hours, slug in enumerate(["robust-service", "graceful-degradation", "longest-upkeep"]):
        scored_make(participant=alice[0], challenge=challenge_get(slug), statistics=(1.0, 1.0, 1.0), score=1.0,
                    created_at=now - timedelta(hours=hours))
    content = client.get("/participants/alice/").content.decode()
    assert re.findall(r'<figure class="score-chart" data-challenge="([^"]+)"', content) == [
        "robust-service", "graceful-degradation", "longest-upkeep"]


def test_every_score_chart_is_drawn_at_one_fixed_size(client, alice):
    for slug in ("robust-service", "graceful-degradation", "longest-upkeep"):
        scored_make(participant=alice[0], challenge=challenge_get(slug), statistics=(1.0, 1.0, 1.0), score=1.0)
    content = client.get("/participants/alice/").content.decode()
    sizes = re.findall(r'<figure class="score-chart"[^>]*>.*?<svg class="chart" width="(\d+)" height="(\d+)" '
                       r'viewBox="0 0 (\d+) (\d+)"', content, flags=re.S)
    assert len(sizes) == 3
    # Width and height in CSS pixels equal to the viewBox: one user unit is one pixel, so 11 is 11 px.
    assert {(w, h) for w, h, _, _ in sizes} == {(vw, vh) for _, _, vw, vh in sizes} and len(set(sizes)) == 1
    css = (django_settings.BASE_DIR / "static/css/site.css").read_text()
    # Laid out on a grid of equal tracks: no chart grows to fill a row of its own.
    assert "display: grid" in re.search(r"\.score-charts \{([^}]*)\}", css).group(1)
    assert "flex" not in re.search(r"\.score-charts figure \{([^}]*)\}", css).group(1)


def test_a_participant_page_shows_the_best_score_so_far_and_how_far_it_came(client, alice):
    robust = challenge_get("robust-service")
    now = timezone.now()
    for hours, score in ((3, 10.0), (2, 30.0), (1, 20.0)):
        scored_make(participant=alice[0], challenge=robust, statistics=(score, 1.0, 100.0), score=score,
                    created_at=now - timedelta(hours=hours))
    content = client.get("/participants/alice/").content.decode()
    assert "Improvement over time" in content
    assert 'class="series-best"' in content and "best so far" in content
    summary = " ".join(re.sub(r"<[^>]+>", "", re.search(r'<span class="score-summary">(.*?)</span>', content,
                                                        flags=re.S).group(1)).split())
    assert html.unescape(summary) == ("3 scored submissions · first 10.00 · best 30.00 (+200.0% on the first) · "
                                      "latest 20.00")
    # Each point opens its submission.
    ids = list(Submission.objects.filter(participant=alice[0]).order_by("created_at").values_list("id", flat=True))
    assert re.findall(r'<a href="/submissions/(\d+)/" aria-label="Submission \d+: score [^"]+">', content) == [
        str(i) for i in ids]


# --- the run chart: successes and failures apart ---------------------------------------


def test_the_submission_chart_stacks_failed_requests_on_successful_ones(client, alice):
    challenge = challenge_get("graceful-degradation")
    # Seconds 0-4 serve, 5-9 fail every request.
    per_second = [(10, 10, 20.0)] * 5 + [(33, 0, 1.0)] * 5
    run = run_make(duration_s=10, per_second=per_second, down=set(range(5, 10)))
    submission = score_a_run(participant=alice[0], challenge=challenge, run=run)
    content = client.get(f"/submissions/{submission.id}/").content.decode()
    chart = re.search(r'<svg class="chart".*?</svg>', content, flags=re.S).group(0)
    success = re.search(r'class="series-success" d="([^"]*)"', chart).group(1)
    failure = re.search(r'class="series-failure" d="([^"]*)"', chart).group(1)
    assert success and failure and success != failure
    assert "Successful requests per second" in content and "failed requests per second, stacked" in content
    # Colours come from the stylesheet (light or dark), never from the markup.
    assert not re.search(r'(fill|stroke)="#', chart)
