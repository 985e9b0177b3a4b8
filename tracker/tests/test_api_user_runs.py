"""GET /tracker/api/track/<userId>: runs grouped by target URL, then session, newest first, in bounded pages."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tracker.tests.conftest import BOTH_DATABASES, client_payload, post_json

pytestmark = [pytest.mark.django_db(databases=BOTH_DATABASES), pytest.mark.usefixtures("tracker_on")]

A, B = "http://127.0.0.1:8080", "http://127.0.0.1:9000"


def _log(client, *, target: str, session: str, minute: int, user: str = "alice", **details) -> int:
    payload = client_payload(userId=user, timestamp=f"2026-03-01T12:{minute:02d}:00",
                             runDetails={"target_url": target, "session_id": session, **details})
    response = post_json(client, "/tracker/api/track", payload)
    assert response.status_code == 200, response.content
    return response.json()["id"]


def test_it_groups_by_target_then_session_newest_first(client):
    a1 = _log(client, target=A, session="s1", minute=1)
    b1 = _log(client, target=B, session="s1", minute=2)
    a2 = _log(client, target=A, session="s2", minute=3)
    a3 = _log(client, target=A, session="s1", minute=4)
    _log(client, target=A, session="s1", minute=5, user="bob")

    response = client.get("/tracker/api/track/alice")
    assert response.status_code == 200
    grouped = response.json()
    assert list(grouped) == [A, B]
    assert list(grouped[A]) == ["s1", "s2"]
    assert [run["id"] for run in grouped[A]["s1"]] == [a3, a1]
    assert [run["id"] for run in grouped[A]["s2"]] == [a2]
    assert [run["id"] for run in grouped[B]["s1"]] == [b1]
    assert "X-Next-Cursor" not in response


def test_each_run_comes_back_in_the_shape_it_was_sent(client):
    sent = client_payload(runDetails={"p95_latency_ms": 91.0})
    run_id = post_json(client, "/tracker/api/track", sent).json()["id"]
    run = client.get("/tracker/api/track/alice").json()[A]["session-1"][0]
    expected = {**sent, "id": run_id, "timestamp": "2026-03-01T12:00:00Z"}
    assert run == expected


def test_an_unknown_user_gets_an_empty_object(client):
    response = client.get("/tracker/api/track/nobody")
    assert response.status_code == 200
    assert response.json() == {}


def test_it_pages_with_a_cursor_until_every_run_was_seen(client):
    ids = [_log(client, target=A, session="s", minute=m) for m in range(7)]
    # Two runs with the same timestamp must not be lost at a page boundary.
    ids.append(_log(client, target=A, session="s", minute=6))
    seen, url, pages = [], "/tracker/api/track/alice?limit=3", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [run["id"] for run in response.json()[A]["s"]]
        pages += 1
        url = None
        if "X-Next-Cursor" in response:
            assert 'rel="next"' in response["Link"]
            url = response["Link"].split(">")[0].lstrip("<")
    assert pages == 3
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


def test_the_default_page_is_bounded(client):
    for minute in range(5):
        _log(client, target=A, session="s", minute=minute)
    with override_settings(TRACKER_PAGE_DEFAULT=2):
        response = client.get("/tracker/api/track/alice")
    assert len(response.json()[A]["s"]) == 2
    assert response["X-Next-Cursor"]


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "limit=100000", "cursor=%%%", "cursor=bm9wZQ"])
def test_it_refuses_a_bad_page_request(client, query):
    response = client.get(f"/tracker/api/track/alice?{query}")
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert response.json()["field"] in {"limit", "cursor"}


def test_it_requires_the_key_like_the_post(client):
    with override_settings(LOCAL_TRACKER_API_KEY="k"):
        assert client.get("/tracker/api/track/alice").status_code == 401
        assert client.get("/tracker/api/track/alice", HTTP_X_API_KEY="k").status_code == 200
