"""The public pages in a real browser: each challenge's leaderboard, sorting, paging, a participant's history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from leaderboard.models import Challenge, SubmissionStatus
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS
from leaderboard.tests.conftest import participant_make, scored_make, submission_make

from .pages import PAGE_SIZE, cell_texts, column_header, data_rows, row_of, whole_word

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _in_order(*names: str) -> list[re.Pattern]:
    """What ``to_have_text`` wants of rows that should name these participants, one a row, in this order."""
    return [whole_word(name) for name in names]


def test_each_challenges_leaderboard_shows_its_three_statistics_and_their_values(platform_server, page):
    challenges = list(Challenge.objects.order_by("position"))
    assert len(challenges) == 3
    figures = {}
    for number, challenge in enumerate(challenges, start=1):
        participant, _ = participant_make(f"ranked{number}", f"Ranked {number}")
        statistics = (1234.5 * number, 12.25 * number, 99.5 - number)
        figures[challenge.slug] = scored_make(
            participant=participant, challenge=challenge, statistics=statistics, score=500.0 * number
        )

    page.goto(platform_server.url + "/")
    for number, challenge in enumerate(challenges, start=1):
        page.get_by_role("link", name=challenge.name, exact=True).first.click()
        expect(page.get_by_role("heading", level=1, name=challenge.name)).to_be_visible()
        table = page.get_by_role("table").first
        for column in COLUMNS[challenge.scoring]:
            expect(column_header(page, column.label)).to_have_count(1)
        expect(column_header(page, "Score")).to_have_count(1)
        expect(data_rows(page, table)).to_have_count(1)
        submission = figures[challenge.slug]
        cells = cell_texts(row_of(page, f"Ranked {number}"))
        values = (submission.statistic_1, submission.statistic_2, submission.statistic_3)
        for column, value in zip(COLUMNS[challenge.scoring], values, strict=True):
            assert column.text(value) in cells, (column.label, cells)
        assert SCORE_COLUMNS[challenge.scoring].text(submission.score) in cells, cells


def test_clicking_a_column_header_sorts_by_it_and_marks_the_column_sorted(platform_server, page):
    robust = Challenge.objects.get(slug="robust-service")
    # (sustained req/s, avg latency ms, uptime %), score: the ranking, the latency and the rate each order them differently.
    for name, statistics, score in [
        ("Ann Arbor", (300.0, 80.0, 99.0), 297.0),
        ("Ben Bolt", (200.0, 20.0, 100.0), 200.0),
        ("Cid Crane", (150.0, 50.0, 60.0), 90.0),
    ]:
        participant, _ = participant_make(name.split()[0].lower(), name)
        scored_make(participant=participant, challenge=robust, statistics=statistics, score=score)

    page.goto(f"{platform_server.url}/leaderboard/robust-service/")
    rows = data_rows(page)
    expect(rows).to_have_text(_in_order("Ann Arbor", "Ben Bolt", "Cid Crane"))  # by rank: the score
    latency = column_header(page, "Avg Latency")
    expect(latency).not_to_have_attribute("aria-sort", re.compile("."))

    latency.get_by_role("link").click()
    # Lower is better: the first click puts the fastest first.
    expect(latency).to_have_attribute("aria-sort", "ascending")
    expect(rows).to_have_text(_in_order("Ben Bolt", "Cid Crane", "Ann Arbor"))
    expect(column_header(page, "Rank")).not_to_have_attribute("aria-sort", re.compile("."))

    latency.get_by_role("link").click()
    expect(latency).to_have_attribute("aria-sort", "descending")
    expect(rows).to_have_text(_in_order("Ann Arbor", "Cid Crane", "Ben Bolt"))

    uptime = column_header(page, "Uptime")
    uptime.get_by_role("link").click()
    # Higher is better: best first is the highest uptime.
    expect(uptime).to_have_attribute("aria-sort", "descending")
    expect(latency).not_to_have_attribute("aria-sort", re.compile("."))
    expect(rows).to_have_text(_in_order("Ben Bolt", "Ann Arbor", "Cid Crane"))


def test_a_long_leaderboard_pages_forward_and_back(platform_server, page):
    robust = Challenge.objects.get(slug="robust-service")
    count = PAGE_SIZE + 2
    for number in range(1, count + 1):
        participant, _ = participant_make(f"p{number:02d}", f"Player {number:02d}")
        # Player 01 has the best score, Player 12 the worst.
        scored_make(
            participant=participant,
            challenge=robust,
            statistics=(10.0 * (count - number + 1), 10.0, 100.0),
            score=10.0 * (count - number + 1),
        )

    page.goto(f"{platform_server.url}/leaderboard/robust-service/")
    rows = data_rows(page)
    expect(page.get_by_text(re.compile(r"page 1 of 2", re.IGNORECASE))).to_be_visible()
    expect(rows).to_have_count(PAGE_SIZE)
    expect(rows.first).to_contain_text("Player 01")
    expect(rows.last).to_contain_text(f"Player {PAGE_SIZE:02d}")
    expect(page.get_by_role("link", name=re.compile("previous", re.IGNORECASE))).to_have_count(0)

    page.get_by_role("link", name=re.compile("next", re.IGNORECASE)).click()
    expect(page.get_by_text(re.compile(r"page 2 of 2", re.IGNORECASE))).to_be_visible()
    expect(rows).to_have_count(2)
    expect(rows).to_have_text([whole_word(f"Player {number:02d}") for number in (count - 1, count)])
    # Ranks go on from the first page.
    assert [cell_texts(rows.nth(i))[0] for i in range(2)] == [str(count - 1), str(count)]
    expect(page.get_by_role("link", name=re.compile("next", re.IGNORECASE))).to_have_count(0)

    page.get_by_role("link", name=re.compile("previous", re.IGNORECASE)).click()
    expect(page.get_by_text(re.compile(r"page 1 of 2", re.IGNORECASE))).to_be_visible()
    expect(rows).to_have_count(PAGE_SIZE)
    expect(rows.first).to_contain_text("Player 01")


def test_a_participants_page_lists_their_submissions_and_leads_to_each_result(platform_server, page):
    robust = Challenge.objects.get(slug="robust-service")
    graceful = Challenge.objects.get(slug="graceful-degradation")
    alice, _ = participant_make("alice", "Alice A.")
    best = scored_make(participant=alice, challenge=robust, statistics=(151.25, 33.5, 99.5), score=150.49)
    scored_make(participant=alice, challenge=graceful, statistics=(4321.0, 1.5, 120.0), score=4321.0)
    submission_make(participant=alice, challenge=robust, status=SubmissionStatus.FAILED)

    page.goto(f"{platform_server.url}/leaderboard/robust-service/")
    page.get_by_role("link", name="Alice A.", exact=True).click()
    expect(page.get_by_role("heading", level=1, name=re.compile("Alice A."))).to_be_visible()
    expect(page.get_by_role("heading", name="Submissions")).to_be_visible()
    table = page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Challenge"))
    rows = data_rows(page, table)
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="Graceful Degradation")).to_contain_text("4,321")
    expect(rows.filter(has_text="Failed")).to_contain_text("Robust Service")
    robust_scored = rows.filter(has_text="Robust Service").filter(has_text="Scored")
    expect(robust_scored).to_contain_text(SCORE_COLUMNS["robust_service"].text(best.score))

    robust_scored.get_by_role("link", name=str(best.id), exact=True).click()
    expect(page.get_by_role("heading", level=1, name=f"Submission {best.id}")).to_be_visible()
    expect(page.get_by_role("heading", name="Result")).to_be_visible()
    main = page.get_by_role("main")
    for column, value in zip(COLUMNS["robust_service"], (151.25, 33.5, 99.5), strict=True):
        expect(main).to_contain_text(whole_word(column.text(value)))
    expect(main).to_contain_text(whole_word(SCORE_COLUMNS["robust_service"].text(best.score)))
