"""The rankings kept at write time (LeaderboardEntry): after every score, re-score and deletion, and under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard import selectors, services
from leaderboard.models import Challenge, LeaderboardEntry, Participant, Submission, SubmissionStatus
from leaderboard.tests.conftest import T0, challenge_get, participant_make, run_make, submission_make
from loadtest.models import LoadTestRun, RunStatus

BUNDLE = "kind: Service\n"


def scored(participant: Participant, challenge: Challenge, score: float, *, minute: int = 0, verified: bool = False,
           refresh: bool = True) -> Submission:
    """A scored submission made at T0 + ``minute``, ranked the way the scoring service ranks it."""
    submission = Submission.objects.create(
        participant=participant, challenge=challenge, status=SubmissionStatus.SCORED, verified=verified,
        target_url="" if verified else "http://127.0.0.1:9", bundle=BUNDLE if verified else "",
        statistic_1=score, statistic_2=float(minute), statistic_3=100.0, score=score,
    )
    Submission.objects.filter(id=submission.id).update(created_at=T0 + timedelta(minutes=minute))
    if refresh:
        services.submission_best_refresh(participant_id=participant.id, challenge_id=challenge.id)
    submission.refresh_from_db()
    return submission


def stored(challenge: Challenge, *, verified_only: bool = False) -> list[tuple]:
    return list(
        LeaderboardEntry.objects.filter(challenge=challenge, verified_only=verified_only).order_by("rank")
        .values_list("rank", "participant_id", "submission_id", "score", "statistic_1", "statistic_2", "statistic_3",
                     "submitted_at", "verified", "username", "display_name")
    )


def recounted(challenge: Challenge, *, verified_only: bool = False) -> list[tuple]:
    """The ranking counted again from scratch, from the submissions alone."""
    scored_rows = Submission.objects.filter(challenge=challenge, status=SubmissionStatus.SCORED, score__isnull=False)
    if verified_only:
        scored_rows = scored_rows.filter(verified=True)
    order = sorted(scored_rows.select_related("participant"), key=lambda s: (-s.score, s.created_at, s.id))
    best: dict[int, Submission] = {}
    for submission in order:
        best.setdefault(submission.participant_id, submission)
    ranked = sorted(best.values(), key=lambda s: (-s.score, s.created_at, s.id))
    return [
        (rank, s.participant_id, s.id, s.score, s.statistic_1, s.statistic_2, s.statistic_3, s.created_at, s.verified,
         s.participant.username, s.participant.display_name)
        for rank, s in enumerate(ranked, start=1)
    ]


def assert_ranked_from_scratch(*challenges: Challenge) -> None:
    for challenge in challenges:
        for verified_only in (False, True):
            assert stored(challenge, verified_only=verified_only) == recounted(challenge, verified_only=verified_only)
        best = set(Submission.objects.filter(challenge=challenge, is_best=True).values_list("id", flat=True))
        assert best == {row[2] for row in recounted(challenge)}


def names(challenge: Challenge, *, verified_only: bool = False) -> list[str]:
    return [row[9] for row in stored(challenge, verified_only=verified_only)]


@pytest.fixture
def cast(db):
    return [participant_make(name)[0] for name in ("ann", "ben", "cat", "dan")]


# --- what each write does to the ranks ----------------------------------------------


def test_each_new_participant_enters_at_their_place_and_those_below_move_down(cast, robust):
    ann, ben, cat, _ = cast
    scored(ann, robust, 20.0)
    assert stored(robust)[0][:3] == (1, ann.id, Submission.objects.get(participant=ann).id)
    scored(ben, robust, 10.0)
    scored(cat, robust, 30.0)
    assert names(robust) == ["cat", "ann", "ben"]
    assert [row[0] for row in stored(robust)] == [1, 2, 3]
    assert_ranked_from_scratch(robust)


def test_a_better_score_moves_a_participant_up_and_a_worse_one_changes_nothing(cast, robust):
    ann, ben, cat, _ = cast
    scored(ann, robust, 30.0)
    scored(ben, robust, 20.0)
    first = scored(cat, robust, 10.0)
    better = scored(cat, robust, 25.0, minute=5)
    assert names(robust) == ["ann", "cat", "ben"]
    assert stored(robust)[1][2] == better.id
    scored(cat, robust, 1.0, minute=9)
    assert names(robust) == ["ann", "cat", "ben"] and stored(robust)[1][2] == better.id
    assert first.id not in {row[2] for row in stored(robust)}
    assert_ranked_from_scratch(robust)


def test_a_rescore_that_lowers_the_best_moves_it_down_behind_the_next_best(cast, robust):
    ann, ben, _, _ = cast
    earlier = scored(ann, robust, 15.0, minute=1)
    best = scored(ann, robust, 40.0, minute=2)
    scored(ben, robust, 20.0)
    Submission.objects.filter(id=best.id).update(score=5.0, statistic_1=5.0)
    services.submission_best_refresh(participant_id=ann.id, challenge_id=robust.id)
    assert names(robust) == ["ben", "ann"]
    assert stored(robust)[1][2] == earlier.id
    assert_ranked_from_scratch(robust)


def test_equal_scores_rank_the_earlier_submission_first_then_the_lower_id(cast, robust):
    ann, ben, cat, dan = cast
    scored(cat, robust, 50.0, minute=3)
    scored(ben, robust, 50.0, minute=1)
    a = scored(ann, robust, 50.0, minute=2)
    d = scored(dan, robust, 50.0, minute=2)
    assert names(robust) == ["ben", "ann", "dan", "cat"] and a.id < d.id
    # A participant's own tie: the earlier one stays their best.
    again = scored(ben, robust, 50.0, minute=7)
    assert again.id not in {row[2] for row in stored(robust)}
    assert_ranked_from_scratch(robust)


def test_the_verified_board_ranks_each_participants_best_verified_result(cast, robust):
    ann, ben, cat, _ = cast
    scored(ann, robust, 90.0)
    mine = scored(ann, robust, 40.0, minute=1, verified=True)
    scored(ben, robust, 60.0, verified=True)
    scored(cat, robust, 70.0)
    assert names(robust) == ["ann", "cat", "ben"]
    assert names(robust, verified_only=True) == ["ben", "ann"]
    assert stored(robust, verified_only=True)[1][2] == mine.id
    page = selectors.leaderboard_page(challenge=robust, verified_only=True)
    assert [(row.rank, row.username) for row in page.rows] == [(1, "ben"), (2, "ann")] and page.total == 2
    assert_ranked_from_scratch(robust)


def test_deleting_a_best_submission_promotes_the_next_best_and_re_ranks(cast, robust):
    ann, ben, cat, _ = cast
    scored(ann, robust, 10.0, minute=1)
    top = scored(ann, robust, 50.0, minute=2)
    scored(ben, robust, 30.0)
    scored(cat, robust, 20.0)
    assert names(robust) == ["ann", "ben", "cat"]
    assert services.submissions_delete(submission_ids=[top.id]) == 1
    assert names(robust) == ["ben", "cat", "ann"]
    assert_ranked_from_scratch(robust)


def test_deleting_participants_closes_the_gaps_they_leave(cast, robust):
    _, ben, _, dan = cast
    upkeep = challenge_get("longest-upkeep")
    for index, person in enumerate(cast):
        scored(person, robust, 10.0 * (index + 1))
        scored(person, upkeep, 10.0 * (4 - index), verified=True)
    assert services.participants_delete(participant_ids=[ben.id, dan.id]) == 2
    assert names(robust) == ["cat", "ann"] and names(upkeep, verified_only=True) == ["ann", "cat"]
    assert_ranked_from_scratch(robust, upkeep)


def test_the_admins_deletions_re_rank(admin_client, cast, robust):
    ann, ben, cat, _ = cast
    scored(ann, robust, 30.0)
    middle = scored(ben, robust, 20.0)
    scored(cat, robust, 10.0)
    admin_client.post(f"/admin/leaderboard/submission/{middle.id}/delete/", {"post": "yes"})
    assert names(robust) == ["ann", "cat"]
    admin_client.post("/admin/leaderboard/participant/", {"action": "delete_selected", "_selected_action": [ann.id],
                                                          "post": "yes"})
    assert names(robust) == ["cat"]
    assert_ranked_from_scratch(robust)


def test_a_renamed_participant_is_renamed_in_the_rankings(cast, robust, django_capture_on_commit_callbacks):
    ann = cast[0]
    scored(ann, robust, 1.0)
    ann.display_name = "Ann the Great"
    with django_capture_on_commit_callbacks() as callbacks:
        ann.save()
    assert stored(robust)[0][10] == "Ann the Great" and callbacks  # and the cached answers go stale
    ann.save(update_fields=["is_active"])  # nothing to copy
    assert_ranked_from_scratch(robust)


def test_a_finished_run_is_ranked_in_the_transaction_that_scores_it(cast, robust):
    ann, ben, _, _ = cast
    scored(ben, robust, 5.0)
    run = run_make(duration_s=10, spawn_rate=5.0)
    submission = submission_make(participant=ann, challenge=robust, status=SubmissionStatus.RUNNING, run=run)
    LoadTestRun.objects.filter(id=run.id).update(status=RunStatus.COMPLETED)
    finished = services.submission_finish(run_id=run.id)
    assert finished.status == SubmissionStatus.SCORED and finished.score == 10.0 and finished.is_best
    assert names(robust) == ["ann", "ben"] and stored(robust)[0][2] == submission.id
    assert_ranked_from_scratch(robust)


def test_a_rebuild_writes_the_boards_the_scoring_service_keeps(cast, robust):
    ann, ben, cat, _ = cast
    graceful = challenge_get("graceful-degradation")
    scored(ann, robust, 10.0)
    scored(ann, robust, 30.0, minute=1, verified=True)
    scored(ben, robust, 30.0, minute=1)
    scored(cat, graceful, 7.0, verified=True)
    kept = stored(robust), stored(robust, verified_only=True)
    LeaderboardEntry.objects.filter(challenge=robust).update(rank=99, score=0.0)
    assert services.challenge_ranking_rebuild(challenge_id=robust.id) == 3
    assert (stored(robust), stored(robust, verified_only=True)) == kept
    assert_ranked_from_scratch(robust, graceful)


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_ranks_the_submissions_scored_before_it():
    executor = MigrationExecutor(connection)
    before, filled = ("leaderboard", "0005_leaderboard_entries"), ("leaderboard", "0006_leaderboard_entries_fill")
    try:
        executor.migrate([before])
        old = executor.loader.project_state([before]).apps
        challenge = old.get_model("leaderboard", "Challenge").objects.create(
            slug="old", name="Old", scoring="robust_service", profile={})
        Participant, Submission = old.get_model("leaderboard", "Participant"), old.get_model("leaderboard", "Submission")
        people = [Participant.objects.create(username=name, display_name=name.title(), key_prefix=name, key_hash="x")
                  for name in ("ann", "ben", "cat")]
        rows = [  # (participant, score, minutes after T0, verified, is_best) as the scoring service had marked them
            (0, 10.0, 0, False, False), (0, 40.0, 1, False, True), (0, 20.0, 2, True, False),
            (1, 40.0, 0, True, True), (2, 5.0, 0, False, True)]
        made = []
        for person, score, minute, verified, best in rows:
            made.append(Submission.objects.create(
                participant=people[person], challenge=challenge, status="scored", score=score, is_best=best,
                verified=verified, target_url="" if verified else "http://127.0.0.1:9", bundle=BUNDLE if verified else ""))
            Submission.objects.filter(id=made[-1].id).update(created_at=T0 + timedelta(minutes=minute))
        executor = MigrationExecutor(connection)
        executor.migrate([filled])
        Entry = executor.loader.project_state([filled]).apps.get_model("leaderboard", "LeaderboardEntry")
        board = Entry.objects.filter(challenge_id=challenge.id).order_by("verified_only", "rank")
        assert [(e.verified_only, e.rank, e.submission_id, e.username) for e in board] == [
            (False, 1, made[3].id, "ben"), (False, 2, made[1].id, "ann"), (False, 3, made[4].id, "cat"),
            (True, 1, made[3].id, "ben"), (True, 2, made[2].id, "ann")]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


# --- reading what is stored ---------------------------------------------------------


def test_a_page_reads_its_rows_in_one_query_and_past_the_last_page_shows_the_last(cast, robust, settings,
                                                                                django_assert_num_queries):
    settings.LEADERBOARD_PAGE_SIZE = 3
    for index, person in enumerate([*cast, participant_make("eve")[0]]):
        scored(person, robust, float(index))
    with django_assert_num_queries(1):
        first = selectors.leaderboard_page_by_slug(slug="robust-service")
    assert [row.rank for row in first.rows] == [1, 2, 3] and first.total == 5 and first.page_count == 2
    last = selectors.leaderboard_page_by_slug(slug="robust-service", page=9)
    assert last.page == 2 and [(row.rank, row.username) for row in last.rows] == [(4, "ben"), (5, "ann")]
    reverse = selectors.leaderboard_page(challenge=robust, sort="-rank")
    assert [row.rank for row in reverse.rows] == [5, 4, 3]
    assert selectors.leaderboard_page_by_slug(slug="no-such-challenge") is None
    robust.is_active = False
    robust.save()
    assert selectors.leaderboard_page_by_slug(slug="robust-service") is None
    assert selectors.leaderboard_page_by_slug(slug="robust-service", sort="-score") is None


def test_a_row_holds_the_figures_and_builds_its_submission_and_participant_without_a_query(
    cast, robust, django_assert_num_queries
):
    ann = cast[0]
    mine = scored(ann, robust, 12.5, minute=4, verified=True)
    [row] = selectors.leaderboard_page_by_slug(slug="robust-service").rows
    assert row.submitted_at == mine.created_at and row.submitted_at.tzinfo is not None
    assert row.verified is True and row.score == 12.5 and row.shown_name == "ann"
    with django_assert_num_queries(0):
        assert row.submission.id == mine.id and row.submission.verified is True
        assert row.submission.created_at == mine.created_at and row.submission.challenge == robust
        assert row.participant.username == "ann" and row.participant.shown_name == "ann"
    # Any other field is read when asked for, as with QuerySet.only().
    with django_assert_num_queries(1):
        assert row.submission.target_url == ""


def test_the_api_serves_its_first_page_in_one_query(api, cast, robust, django_assert_num_queries):
    for index, person in enumerate(cast):
        scored(person, robust, float(index))
    with django_assert_num_queries(1):
        data = api.get("/api/v1/leaderboards/robust-service").json()
    assert [(r["rank"], r["participant"]) for r in data["results"]] == [(1, "dan"), (2, "cat"), (3, "ben"), (4, "ann")]
    assert data["count"] == 4 and data["pages"] == 1 and data["sort"] == "rank"
    assert api.get("/api/v1/leaderboards/robust-service", {"sort": "rank"}).json() == data


# --- whatever happens, the stored ranks are a recount from scratch ---------------------

OPERATIONS = st.lists(
    st.one_of(
        # A new scored submission: (participant, challenge, score, minute, verified). Few values: many ties.
        st.tuples(st.just("score"), st.integers(0, 3), st.integers(0, 1), st.sampled_from([1.0, 2.0, 2.5, 4.0]),
                  st.integers(0, 3), st.booleans()),
        # A stored score changes (a re-score), or a submission goes (the admin's delete): the n-th one so far.
        st.tuples(st.just("rescore"), st.integers(0, 50), st.sampled_from([0.5, 2.0, 5.0])),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        # A submission that failed changes nothing.
        st.tuples(st.just("fail"), st.integers(0, 3), st.integers(0, 1)),
    ),
    min_size=1, max_size=25,
)


class _Rollback(Exception):
    pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_the_stored_ranks_always_equal_a_recount_from_scratch(db, operations):
    challenges = [challenge_get("robust-service"), challenge_get("graceful-degradation")]
    try:
        # Each example starts from the same empty boards.
        with transaction.atomic():
            people = [Participant.objects.create(username=f"p{index}", key_prefix=f"hyp{index}", key_hash="x")
                      for index in range(4)]
            made: list[Submission] = []
            for operation in operations:
                kind, *args = operation
                if kind == "score":
                    person, challenge, score, minute, verified = args
                    made.append(scored(people[person], challenges[challenge], score, minute=minute,
                                       verified=verified))
                elif kind == "rescore" and made:
                    submission = made[args[0] % len(made)]
                    Submission.objects.filter(id=submission.id).update(score=args[1])
                    services.submission_best_refresh(participant_id=submission.participant_id,
                                                     challenge_id=submission.challenge_id)
                elif kind == "delete" and made:
                    services.submissions_delete(submission_ids=[made.pop(args[0] % len(made)).id])
                elif kind == "fail":
                    submission_make(participant=people[args[0]], challenge=challenges[args[1]],
                                    status=SubmissionStatus.FAILED)
                    services.submission_best_refresh(participant_id=people[args[0]].id,
                                                     challenge_id=challenges[args[1]].id)
            assert_ranked_from_scratch(*challenges)
            for challenge in challenges:
                for verified_only in (False, True):
                    rows = selectors.leaderboard_page(challenge=challenge, verified_only=verified_only, per_page=100).rows
                    assert [(row.rank, row.submission_id) for row in rows] == [
                        (row[0], row[2]) for row in recounted(challenge, verified_only=verified_only)]
            raise _Rollback
    except _Rollback:
        pass


# --- concurrency: two scores of one challenge at the same moment ------------------------


def _challenge_for_threads() -> Challenge:
    # A transactional test starts from an empty database: no challenges from the migration.
    return Challenge.objects.create(slug="race", name="Race", scoring="robust_service",
                                    profile={"shape": "constant", "users": 10, "spawn_rate": 5.0, "duration_s": 10})


def _in_thread(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_score_recorded_while_another_is_being_ranked_waits_for_it():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's: SQLite's IMMEDIATE transactions take turns for the whole database")
    race = _challenge_for_threads()
    ann, ben = participant_make("ann")[0], participant_make("ben")[0]
    first, second = scored(ann, race, 10.0, refresh=False), scored(ben, race, 20.0, refresh=False)
    holding, release, done = threading.Event(), threading.Event(), threading.Event()

    def rank_and_hold() -> None:
        with transaction.atomic():
            services.submission_best_refresh(participant_id=ann.id, challenge_id=race.id)
            holding.set()
            release.wait(10)

    def rank() -> None:
        services.submission_best_refresh(participant_id=ben.id, challenge_id=race.id)
        done.set()

    holder = _in_thread(rank_and_hold)
    assert holding.wait(10)
    waiter = _in_thread(rank)
    # Without the challenge's lock it would rank from a board missing ann's uncommitted entry.
    assert not done.wait(1.0)
    release.set()
    holder.join(10)
    waiter.join(10)
    assert done.is_set()
    assert [row[2] for row in stored(race)] == [second.id, first.id]
    assert_ranked_from_scratch(race)


@pytest.mark.django_db(transaction=True)
def test_runs_of_one_challenge_finished_at_the_same_moment_are_all_ranked_right():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's: SQLite's IMMEDIATE transactions take turns for the whole database")
    race = _challenge_for_threads()
    people = [participant_make(f"runner{index}")[0] for index in range(4)]
    runs = []
    for index, person in enumerate(people):
        # Different scores: 10, 20, 30, 40 requests a second.
        run = run_make(duration_s=10, spawn_rate=5.0, per_second=[(10 * (index + 1),) * 2 + (20.0,)] * 10)
        submission_make(participant=person, challenge=race, status=SubmissionStatus.RUNNING, run=run)
        runs.append(run)
    LoadTestRun.objects.update(status=RunStatus.COMPLETED)
    start = threading.Barrier(len(runs))

    def finish(run_id: int) -> None:
        start.wait(10)
        services.submission_finish(run_id=run_id)

    threads = [_in_thread(finish, run.id) for run in runs]
    for thread in threads:
        thread.join(30)
    assert [row[1] for row in stored(race)] == [person.id for person in reversed(people)]
    assert [row[0] for row in stored(race)] == [1, 2, 3, 4]
    assert_ranked_from_scratch(race)
