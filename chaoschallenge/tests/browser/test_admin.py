"""The admin in a browser: an operator edits a challenge's profile and chaos plan, checked by the engine's validators."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from common.testing import tiny_profile
from leaderboard.models import Challenge

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
    page.get_by_role("link", name="Graceful Degradation", exact=True).click()

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
