"""A submission made through the API, watched in a browser while a real worker load-tests a real url-anvil."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from common.testing import celery_worker, http_json, tiny_profile
from leaderboard import services
from leaderboard.models import Challenge, Submission, SubmissionStatus
from leaderboard.scoring import COLUMNS, SCORE_COLUMNS

from .pages import whole_word

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_submission_page_follows_the_run_live_and_then_shows_its_score(
    platform_server, anvil_server, anvil_store, tmp_path, page
):
    # A few users for a few seconds: long enough for the page to see the run going.
    Challenge.objects.filter(slug="robust-service").update(profile=tiny_profile(duration_s=6), chaos_plan=[])
    _, key = services.participant_create(username="livia", display_name="Livia L.")
    status, _, body = http_json(
        "POST", f"{platform_server.url}/api/v1/submissions",
        {"challenge": "robust-service", "target_url": anvil_server.url},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "browser-live"},
    )  # fmt: skip
    assert status == 202, body
    submission_id = body["id"]

    # Opened while no worker runs yet: what follows reaches the page on its own.
    page.goto(f"{platform_server.url}/submissions/{submission_id}/")
    expect(page.get_by_role("heading", level=1, name=f"Submission {submission_id}")).to_be_visible()
    main = page.get_by_role("main")
    expect(main).to_contain_text(whole_word("Queued"))
    expect(main).not_to_contain_text(whole_word("Running"))
    # Gone if the page is loaded again: proves the progress below arrived in place.
    page.evaluate("window.stillTheSamePage = true")

    worker_env = {**anvil_store, "VAR_DIR": platform_server.env["VAR_DIR"]}
    with celery_worker(tmp_path=tmp_path, queue=platform_server.env["LOADTEST_QUEUE"], env=worker_env):
        # Checked in the page in one go: the status turns to Running in the page first opened.
        try:
            page.wait_for_function(
                "() => window.stillTheSamePage === true && /\\bRunning\\b/.test(document.querySelector('main').innerText)",
                polling=250, timeout=90_000,
            )  # fmt: skip
        except PlaywrightTimeoutError:
            reloaded = not page.evaluate("window.stillTheSamePage === true")
            pytest.fail(
                "the page was loaded again instead of updated in place"
                if reloaded
                else "the page never showed the submission running"
            )
        # Then the result, with no reload asked for by anyone but the page itself.
        expect(page.get_by_role("heading", name="Result")).to_be_visible(timeout=120_000)

    submission = Submission.objects.get(id=submission_id)
    assert submission.status == SubmissionStatus.SCORED, submission.error
    expect(main).to_contain_text(whole_word("Scored"))
    expect(main).not_to_contain_text(re.compile(r"\b(Queued|Running)\b"))
    values = (submission.statistic_1, submission.statistic_2, submission.statistic_3)
    for column, value in zip(COLUMNS["robust_service"], values, strict=True):
        expect(main).to_contain_text(whole_word(column.text(value)))
    expect(main).to_contain_text(whole_word(SCORE_COLUMNS["robust_service"].text(submission.score)))
