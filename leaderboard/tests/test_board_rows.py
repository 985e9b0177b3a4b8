"""Rows rendered when an entry is written: what the page and the API serve, kept true across releases and edits."""

from __future__ import annotations

import json

from django.core.management import call_command

from leaderboard import services
from leaderboard.board_rows import FIGURE_FIELDS, Figures, entry_renderings, rendering_stamp
from leaderboard.models import LeaderboardEntry
from leaderboard.tests.conftest import challenge_get, participant_make, scored_make
from leaderboard.tests.test_pages import row_cells

PAGE = "/leaderboard/graceful-degradation/"
API = "/api/v1/leaderboards/graceful-degradation"


def entry_of(participant) -> LeaderboardEntry:
    return LeaderboardEntry.objects.get(participant=participant, challenge=challenge_get("graceful-degradation"),
                                        verified_only=False)


def rendered_now(entry: LeaderboardEntry, scoring_kind: str) -> dict[str, str]:
    return entry_renderings(figures=Figures(**{name: getattr(entry, name) for name in FIGURE_FIELDS}),
                            scoring_kind=scoring_kind)


def made_stale(entry: LeaderboardEntry) -> None:
    """As if an earlier release had written the entry: other text, another stamp."""
    LeaderboardEntry.objects.filter(id=entry.id).update(row_html="<td>old</td>", row_json='{"old":1}', rendering="old")


def api_row(client, name: str) -> dict:
    return next(r for r in client.get(API).json()["results"] if r["participant"] == name)


def test_a_scored_entry_stores_the_rows_its_figures_render_to(db):
    alice, _ = participant_make("alice", "Alice A.")
    scored_make(participant=alice, challenge=challenge_get("graceful-degradation"), statistics=(1797.0, 1.5, 20.0),
                score=1797.0)
    entry = entry_of(alice)
    assert {"row_html": entry.row_html, "row_json": entry.row_json, "rendering": entry.rendering} == rendered_now(
        entry, "graceful_degradation")
    assert entry.rendering == rendering_stamp("graceful_degradation")
    assert json.loads(entry.row_json)["statistics"]["requests_handled"] == 1797


def test_the_page_and_the_api_show_the_stored_rows_with_the_rank_in_front(client, db):
    alice, _ = participant_make("alice", "Alice A.")
    bob, _ = participant_make("bob")
    challenge = challenge_get("graceful-degradation")
    scored_make(participant=alice, challenge=challenge, statistics=(1797.0, 1.5, 20.0), score=1797.0)
    scored_make(participant=bob, challenge=challenge, statistics=(2000.0, 0.0, 10.0), score=2000.0)
    page = client.get(PAGE).content.decode()
    assert f'<tr><td class="num">1</td>\n{entry_of(bob).row_html}</tr>' in page
    assert f'<tr><td class="num">2</td>\n{entry_of(alice).row_html}</tr>' in page
    results = client.get(API).json()["results"]
    assert [r["rank"] for r in results] == [1, 2]
    assert results[1] == {"rank": 2, **json.loads(entry_of(alice).row_json)}
    assert results[1]["score"] == 1797 and isinstance(results[1]["score"], int)


def test_an_entry_rendered_by_an_earlier_release_is_shown_as_this_one_renders_it_until_migrate_stores_that(client, db):
    alice, _ = participant_make("alice", "Alice A.")
    scored_make(participant=alice, challenge=challenge_get("graceful-degradation"), statistics=(1797.0, 1.5, 20.0),
                score=1797.0)
    made_stale(entry_of(alice))
    assert row_cells(client.get(PAGE).content.decode(), "Alice A.")[:2] == ["1", "1,797"]
    assert api_row(client, "alice")["statistics"]["requests_handled"] == 1797
    # A read does not write.
    assert entry_of(alice).rendering == "old"
    call_command("migrate", verbosity=0)
    entry = entry_of(alice)
    assert entry.rendering == rendering_stamp("graceful_degradation")
    assert entry.row_html == rendered_now(entry, "graceful_degradation")["row_html"]
    assert services.entries_rerender() == 0


def test_rerendering_in_batches_reaches_every_stale_entry_once(db):
    challenge = challenge_get("graceful-degradation")
    people = [participant_make(f"p{i}")[0] for i in range(5)]
    for i, person in enumerate(people):
        scored_make(participant=person, challenge=challenge, statistics=(100.0 + i, 0.0, 5.0), score=100.0 + i)
    for person in people[:3]:
        made_stale(entry_of(person))
    assert services.entries_rerender(batch_size=2) == 3
    assert {entry_of(person).rendering for person in people} == {rendering_stamp("graceful_degradation")}
    assert services.entries_rerender(batch_size=2) == 0


def test_changing_a_challenges_scoring_kind_renders_its_entries_with_the_new_columns(client, db):
    alice, _ = participant_make("alice")
    challenge = challenge_get("graceful-degradation")
    scored_make(participant=alice, challenge=challenge, statistics=(1797.0, 1.5, 20.0), score=1797.0)
    challenge.scoring = "longest_upkeep"
    challenge.save()
    entry = entry_of(alice)
    assert entry.rendering == rendering_stamp("longest_upkeep")
    assert set(json.loads(entry.row_json)["statistics"]) == {"uptime_duration_s", "last_downtime_s", "restarts"}
    assert set(api_row(client, "alice")["statistics"]) == {"uptime_duration_s", "last_downtime_s", "restarts"}


def test_a_renamed_participant_shows_the_new_name_in_the_stored_rows(client, db):
    alice, _ = participant_make("alice", "Alice A.")
    scored_make(participant=alice, challenge=challenge_get("graceful-degradation"), statistics=(1797.0, 1.5, 20.0),
                score=1797.0)
    alice.display_name = "Alice Anvil"
    alice.save()
    assert ">Alice Anvil</a>" in entry_of(alice).row_html
    assert row_cells(client.get(PAGE).content.decode(), "Alice Anvil")[0] == "1"
    assert api_row(client, "alice")["display_name"] == "Alice Anvil"


def test_markup_in_a_display_name_is_stored_and_served_escaped(client, db):
    mallory, _ = participant_make("mallory", '<script>alert("x")</script>')
    scored_make(participant=mallory, challenge=challenge_get("graceful-degradation"), statistics=(5.0, 0.0, 5.0),
                score=5.0)
    page = client.get(PAGE).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert api_row(client, "mallory")["display_name"] == '<script>alert("x")</script>'
