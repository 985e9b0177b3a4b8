"""Bundle submissions: the competition's side (which challenges take them, the verified mark and filter).

The sandbox itself is tested in sandbox/tests; here its place is stood in for
by a spec builder of the test's own, registered the way the sandbox app does.
"""

from __future__ import annotations

import pytest

from common.validation import FieldError
from leaderboard import selectors, services
from leaderboard.models import ChallengeEntry, Submission, SubmissionStatus
from leaderboard.tests.conftest import participant_make, scored_make
from loadtest import hooks
from loadtest.models import LoadTestRun

BUNDLE = "apiVersion: v1\nkind: Service\nmetadata: {name: entrypoint}\n"
URL = "http://127.0.0.1:8080"


@pytest.fixture
def sandbox_place(monkeypatch):
    """A 'sandbox' place whose spec builder accepts the test bundle and refuses anything else."""
    seen = []

    def spec_build(given: dict) -> dict:
        seen.append(given)
        if given["bundle"] != BUNDLE:
            raise FieldError("bundle[0].spec.template.spec.containers[0].securityContext.privileged", "is not allowed")
        return {"target_url": "http://entrypoint:80", "ready_s": 20, "objects": []}

    monkeypatch.setitem(hooks._places, "sandbox", (lambda *, run: None, spec_build))
    return seen


@pytest.fixture
def either(robust):
    robust.accepts = ChallengeEntry.BOTH
    robust.save()
    return robust


def test_a_bundle_submission_runs_in_the_sandbox_under_the_challenges_quota_and_is_verified(alice, either, sandbox_place):
    submission, created = services.submission_create(participant=alice[0], challenge_slug=either.slug, bundle=BUNDLE)
    assert created and submission.verified and submission.target_url == ""
    run = LoadTestRun.objects.get(id=submission.run_id)
    assert (run.place, run.target_url, run.place_spec["ready_s"]) == ("sandbox", "http://entrypoint:80", 20)
    assert sandbox_place[0]["quota"] == {"cpu_millicores": either.quota_cpu_millicores,
                                         "memory_bytes": either.quota_memory_mib * 2**20, "pods": either.quota_pods}


def test_a_refused_bundle_names_the_field_inside_the_bundle_and_stores_nothing(alice, either, sandbox_place):
    with pytest.raises(FieldError) as caught:
        services.submission_create(participant=alice[0], challenge_slug=either.slug, bundle="kind: Pod\n")
    assert caught.value.field == "bundle[0].spec.template.spec.containers[0].securityContext.privileged"
    assert not Submission.objects.exists() and not LoadTestRun.objects.exists()


def test_a_challenge_takes_only_what_it_accepts(alice, robust, sandbox_place):
    with pytest.raises(FieldError, match="takes the URL of a setup you run") as caught:
        services.submission_create(participant=alice[0], challenge_slug=robust.slug, bundle=BUNDLE)
    assert caught.value.field == "bundle"
    robust.accepts = ChallengeEntry.BUNDLE
    robust.save()
    with pytest.raises(FieldError, match="takes a bundle") as caught:
        services.submission_create(participant=alice[0], challenge_slug=robust.slug, target_url=URL)
    assert caught.value.field == "target_url"


@pytest.mark.parametrize("given", [{}, {"target_url": URL, "bundle": BUNDLE}])
def test_a_submission_is_either_a_url_or_a_bundle(alice, either, sandbox_place, given):
    with pytest.raises(FieldError, match="give either target_url"):
        services.submission_create(participant=alice[0], challenge_slug=either.slug, **given)


def test_without_a_sandbox_bundles_are_refused_with_a_clear_message(alice, either, monkeypatch):
    monkeypatch.delitem(hooks._places, "sandbox", raising=False)
    with pytest.raises(FieldError, match="bundle submissions are not available") as caught:
        services.submission_create(participant=alice[0], challenge_slug=either.slug, bundle=BUNDLE)
    assert caught.value.field == "bundle"


def test_the_verified_filter_ranks_each_participants_best_verified_result(alice, either, client):
    bob, _ = participant_make("bob")
    unverified_best = scored_make(participant=alice[0], challenge=either, statistics=(1, 1, 1), score=90.0)
    verified = scored_make(participant=alice[0], challenge=either, statistics=(1, 1, 1), score=50.0)
    scored_make(participant=bob, challenge=either, statistics=(1, 1, 1), score=70.0)
    Submission.objects.filter(id=verified.id).update(verified=True, target_url="", bundle=BUNDLE)
    services.submission_best_refresh(participant_id=alice[0].id, challenge_id=either.id)
    everyone = selectors.leaderboard_page(challenge=either)
    assert everyone.rows[0].submission.id == unverified_best.id
    only = selectors.leaderboard_page(challenge=either, verified_only=True)
    assert [row.submission.id for row in only.rows] == [verified.id]
    page = client.get(f"/leaderboard/{either.slug}/?verified=1").content.decode()
    assert "✓ verified" in page and "show all" in page
    assert client.get(f"/leaderboard/{either.slug}/?verified=yes").status_code == 400


def test_a_verified_submission_page_shows_its_bundle(alice, either, client):
    submission = scored_make(participant=alice[0], challenge=either, statistics=(1, 1, 1), score=1.0)
    Submission.objects.filter(id=submission.id).update(verified=True, target_url="", bundle=BUNDLE,
                                                       status=SubmissionStatus.SCORED)
    page = client.get(f"/submissions/{submission.id}/").content.decode()
    assert "✓ verified" in page and "kind: Service" in page


def test_the_api_takes_a_bundle_and_answers_a_refused_one_with_the_field(alice_api, either, sandbox_place):
    created = alice_api.post("/api/v1/submissions", {"challenge": either.slug, "bundle": BUNDLE}, format="json")
    assert created.status_code == 202, created.content
    assert Submission.objects.get(id=created.json()["id"]).verified
    Submission.objects.update(status=SubmissionStatus.CANCELLED)
    refused = alice_api.post("/api/v1/submissions", {"challenge": either.slug, "bundle": "kind: Pod\n"}, format="json")
    assert refused.status_code == 400
    field = "bundle[0].spec.template.spec.containers[0].securityContext.privileged"
    assert refused.json()["details"] == {field: ["is not allowed"]}
    both = alice_api.post("/api/v1/submissions", {"challenge": either.slug, "bundle": BUNDLE, "target_url": URL},
                          format="json")
    assert both.status_code == 400 and "give either" in both.json()["error"]
