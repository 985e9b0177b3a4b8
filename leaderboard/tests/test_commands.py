"""create_participant and seed_demo."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from leaderboard.models import Challenge, Participant, Submission
from leaderboard.selectors import participant_by_key


def test_create_participant_prints_a_working_key_once(db):
    out, err = StringIO(), StringIO()
    call_command("create_participant", "zoe", "--display-name", "Zoe Z.", stdout=out, stderr=err)
    key = out.getvalue().strip()
    participant = Participant.objects.get(username="zoe")
    assert participant.display_name == "Zoe Z."
    assert participant_by_key(key=key) == participant
    assert "shown only this once" in err.getvalue()


def test_create_participant_refuses_a_taken_username(db):
    call_command("create_participant", "zoe", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_participant", "zoe", stdout=StringIO(), stderr=StringIO())


def test_seed_demo_creates_the_key_once_and_queues_one_submission(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", "--submit-url", "http://127.0.0.1:8080", stdout=out)
    key = (tmp_path / "demo-api-key").read_text().strip()
    assert key in out.getvalue()
    assert (tmp_path / "demo-api-key").stat().st_mode & 0o077 == 0
    assert participant_by_key(key=key).username == "demo"
    assert Submission.objects.count() == 1

    again = StringIO()
    call_command("seed_demo", "--submit-url", "http://127.0.0.1:8080", stdout=again)
    assert key not in again.getvalue()
    assert "Already queued earlier" in again.getvalue()
    assert (tmp_path / "demo-api-key").read_text().strip() == key
    assert Submission.objects.count() == 1
    assert Participant.objects.count() == 1


def test_seed_demo_refuses_a_disallowed_target(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match="not allowed"):
        call_command("seed_demo", "--submit-url", "http://example.com", stdout=StringIO())


def test_seed_demo_only_warns_when_the_demo_participant_is_busy(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    demo = Participant.objects.get(username="demo")
    Submission.objects.create(participant=demo, challenge=Challenge.objects.get(slug="longest-upkeep"), target_url="http://127.0.0.1:1")
    err = StringIO()
    call_command("seed_demo", "--submit-url", "http://127.0.0.1:8080", stdout=StringIO(), stderr=err)
    assert "not queued" in err.getvalue()
    assert Submission.objects.count() == 1
