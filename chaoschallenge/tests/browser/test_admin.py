"""The admin in a browser: an operator edits a challenge's profile and chaos plan, checked by the engine's validators."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from common.testing import tiny_profile
from leaderboard.models import Challenge
from loadtest import services

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-1"


def test_an_admin_is_shown_a_bad_chaos_plan_and_then_saves_a_good_one(platform_server, page):
    User.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    before = Challenge.objects.get(slug="graceful-degradation")

    page.goto(f"{platform_server.url}/admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Challenges", exact=True).click()
    # The list of challenges (its filters name the scorings the same way).
    page.get_by_role("table").get_by_role("link", name="Graceful Degradation", exact=True).click()

    profile, plan = page.get_by_label("Profile"), page.get_by_label("Chaos plan")
    expect(plan).to_have_value(re.compile(r'"kind":\s*"crash"'))  # the plan as the migration made it
    profile.fill(json.dumps(tiny_profile(duration_s=20)))
    plan.fill(json.dumps([{"at_s": 2, "duration_s": 3, "kind": "meteor", "params": {}}]))
    page.get_by_role("button", name="Save and continue editing").click()

    expect(page.get_by_text(re.compile(r"must be one of latency, error, hang, crash, unhealthy"))).to_be_visible()
    expect(page.get_by_text(re.compile("correct the error", re.IGNORECASE))).to_be_visible()
    unchanged = Challenge.objects.get(slug="graceful-degradation")
    assert (unchanged.profile, unchanged.chaos_plan) == (before.profile, before.chaos_plan)

    plan.fill(json.dumps([{"at_s": 2, "duration_s": 3, "kind": "latency", "params": {"ms": 250}}]))
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_text(re.compile("was changed successfully"))).to_be_visible()

    saved = Challenge.objects.get(slug="graceful-degradation")
    assert saved.profile["duration_s"] == 20 and saved.profile["users"] == 3
    # Stored as the engine normalized it, defaults filled in; the form shows the stored plan.
    assert saved.chaos_plan == [
        {
            "at_s": 2.0,
            "duration_s": 3.0,
            "kind": "latency",
            "params": {"ms": 250.0, "jitter_ms": 0.0, "probability": 1.0},
            "scope": "all",
        },
    ]
    expect(plan).to_have_value(re.compile(r'"jitter_ms":\s*0\.0'))


def _logged_in(page, url: str) -> None:
    page.goto(f"{url}/admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out"))).to_be_visible()


@pytest.mark.parametrize("path", ["/admin/leaderboard/submission/", "/admin/loadtest/loadtestrun/"])
def test_the_admins_busiest_lists_fit_a_1400_pixel_window(platform_server, page, path):
    from leaderboard.tests.conftest import participant_make, scored_make

    User.objects.create_superuser("operator", "operator@example.com", PASSWORD)
    participant, _ = participant_make("a-participant-with-a-long-name", "A Participant With A Rather Long Name")
    challenge = Challenge.objects.get(slug="graceful-degradation")
    for score in (1797.0, 48.0, 123456.0):
        scored_make(participant=participant, challenge=challenge, statistics=(score, 12.5, 340.25), score=score)
        # Runs as participants name them: long URLs.
        services.run_create(target_url="http://127.0.0.1:8080/" + "a-long-path-segment/" * 6,
                            profile=tiny_profile(), origin="submission", origin_ref="1", owner=participant.username)
    page.set_viewport_size({"width": 1400, "height": 900})
    _logged_in(page, platform_server.url)
    page.goto(f"{platform_server.url}{path}")
    expect(page.locator("#result_list")).to_be_visible()
    # The admin scrolls a wide list inside its box: what does not fit is cut off from view.
    widths = page.evaluate("""() => {
        const box = document.querySelector('#changelist .results');
        return [document.documentElement.scrollWidth, box.scrollWidth, box.clientWidth];
    }""")
    assert widths[0] <= 1400 and widths[1] <= widths[2], f"{path}: {widths} (page, list, its box): cut off at 1400 px"
