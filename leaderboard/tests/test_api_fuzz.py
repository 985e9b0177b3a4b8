"""Schemathesis against the real platform: the served schema must describe every answer the API gives.

One gunicorn serves the test database. Schemathesis reads ``/api/schema/``
from it and runs all its phases (the schema's examples, boundary values,
random valid and invalid requests, then sequences that follow the
``Location`` of a new submission) with every check: no server error, every
status code, content type, body and header as documented, valid input
accepted, invalid input refused, authentication enforced.

It runs through Schemathesis' engine (what ``st run`` drives) rather than
``schemathesis.pytest.from_fixture``: that one sets ``Node._nodeid``, which
pytest 9.2 no longer has, and would start the server once per operation.

Bounded and repeatable: a fixed seed, derandomized generation, no example
database or cache carried between runs, and at most ``MAX_EXAMPLES``
generated cases per operation and phase. No ``max-time``: with one, the
engine goes on cycling its random phases until the time is used up. Submissions it makes stay queued: no
worker consumes the queue they are sent to, and the one-active-submission
rule (a documented 429) keeps them to a handful.
"""

from __future__ import annotations

import importlib
import uuid
from collections import Counter

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, StopReason, events

from common.testing import database_url_of_tests, gunicorn_server
from leaderboard.models import Challenge
from leaderboard.tests.conftest import participant_make, scored_make

SEED = 20261101
MAX_EXAMPLES = 300
# Negative cases may add undeclared headers, with any name: one named like
# these replaces what the HTTP client itself sends, and the answer (Django's
# 400 for a Host it does not serve, a broken body) is the transport's, for
# every URL alike, not the API's.
TRANSPORT_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "expect", "content-type"}

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def challenges_create() -> None:
    """The three challenges as the migration makes them: a transactional test starts from an empty database."""
    migration = importlib.import_module("leaderboard.migrations.0002_the_three_challenges")
    for row in migration.CHALLENGES:
        Challenge.objects.update_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})


@pytest.fixture
def platform(tmp_path):
    challenges_create()
    _, key = participant_make("alice", "Alice A.")
    bob, _ = participant_make("bob")
    scored_make(participant=bob, challenge=Challenge.objects.get(slug="robust-service"),
                statistics=(100.0, 10.0, 100.0), score=100.0)
    env = {
        "DATABASE_URL": database_url_of_tests(),
        "VAR_DIR": str(tmp_path / "var"),
        # Throttle counters and cached answers of this run alone, even in a shared Redis.
        "LEADERBOARD_CACHE_NAMESPACE": f"fuzz-{uuid.uuid4().hex}",
        # The broker is a folder of this test and the queue a name nobody consumes.
        "CELERY_BROKER_URL": "filesystem://",
        "LOADTEST_QUEUE": f"fuzz-{uuid.uuid4().hex}",
        # Throttled, nearly every request would be a (documented) 429 and test
        # nothing else; test_api_retry_after.py covers the throttles.
        "API_RATE_PER_IP": "1000000/minute",
        "API_RATE_PER_KEY": "1000000/minute",
        "API_RATE_SUBMIT_PER_KEY": "1000000/hour",
    }
    with gunicorn_server("chaoschallenge.wsgi", tmp_path=tmp_path, workers=2, env=env) as server:
        yield server, key


def fuzz_config(*, base_url: str, key: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "continue-on-failure": True,
            "cache": {"enabled": False},
            # No shrinking: a failure is reported as found, which keeps a failing run as short as a passing one.
            "generation": {
                "mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none", "no-shrink": True,
            },
            "phases": {"stateful": {"max-steps": 10, "generation": {"max-examples": 40}}},
            "checks": {"enabled": True},
            "operations": [
                {
                    # A schema-valid submission may still be refused with a 400:
                    # its challenge must exist and its target's host must be on
                    # the deployment's allow-list, which no schema keyword can say.
                    "include-name": "POST /api/v1/submissions",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 403, 404, 409, 429]}},
                },
                {
                    # The sort keys of a challenge's statistics depend on its
                    # slug: the schema lists every challenge's, and a leaderboard
                    # refuses another challenge's with a 400, as it says.
                    "include-name": "GET /api/v1/leaderboards/{slug}",
                    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 404, 429]}},
                },
            ],
            "auth": {"openapi": {"participantKey": {"bearer": key}}},
        }
    )


def test_every_answer_of_the_api_is_the_one_its_schema_describes(platform):
    server, key = platform
    schema = schemathesis.openapi.from_url(server.url + "/api/schema/?format=json", config=fuzz_config(base_url=server.url, key=key))

    @schema.hook
    def filter_headers(context: object, headers: dict | None) -> bool:
        return not any(name.lower() in TRANSPORT_HEADERS for name in headers or {})

    problems: dict[str, str] = {}
    statuses: Counter = Counter()
    cases = 0
    finished = None
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    statuses[(event.recorder.label, interaction.response.status_code)] += 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        # One example of each kind of failure is enough to read.
                        problems.setdefault(
                            f"[{check.name}] {failure.operation}: {failure.title}",
                            f"{failure.message}\n{check.failure_info.code_sample}",
                        )
        elif isinstance(event, events.NonFatalError):
            problems.setdefault(f"[error] {event.label}", event.info.format())
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            finished = event
    # Shown with -s (and on failure): what was sent and what came back.
    print(f"\nschemathesis: {cases} cases, {sum(statuses.values())} requests in {finished.running_time:.1f}s")
    for (label, code), count in sorted(statuses.items()):
        print(f"  {label}: {code} x{count}")
    assert not problems, "\n\n".join(f"{title}\n{detail}" for title, detail in problems.items())
    assert finished.stop_reason == StopReason.COMPLETED, f"stopped early: {finished.stop_reason}"
    # Every operation was reached, and the successful paths too, not only refusals.
    labels = {label for label, _ in statuses}
    assert {"POST /api/v1/submissions", "GET /api/v1/submissions/{submission_id}",
            "POST /api/v1/submissions/{submission_id}/cancel", "GET /api/v1/challenges",
            "GET /api/v1/leaderboards/{slug}"} <= labels
    assert statuses[("POST /api/v1/submissions", 202)] >= 1
    assert statuses[("POST /api/v1/submissions", 429)] >= 1
    assert statuses[("GET /api/v1/leaderboards/{slug}", 200)] >= 1
