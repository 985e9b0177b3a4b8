"""Numbers and cursors typed into URLs and forms: a 400 naming the field, never a 500.

``"²".isdigit()`` is true and ``int("²")`` raises; a cursor can decode to a
valid datetime that no database can compare with. Examples through HTTP,
then properties of the parsers over any text.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.tests.strategies import AWKWARD_TEXT, json_values
from common.validation import FieldError
from tracker.models import RecordingSession
from tracker.selectors import cursor_decode, cursor_encode, page_limit_parse, runs_grouped_for_user
from tracker.tests.conftest import BOTH_DATABASES, client_payload, post_json

pytestmark = [pytest.mark.django_db(databases=BOTH_DATABASES), pytest.mark.usefixtures("tracker_on")]

URL = "http://127.0.0.1:8080"


def _cursor(raw: str) -> str:
    # surrogatepass: a lone surrogate makes bytes that are no UTF-8, as a forged cursor may hold.
    return base64.urlsafe_b64encode(raw.encode("utf-8", "surrogatepass")).decode().rstrip("=")


class TestThroughHttp:
    @pytest.mark.parametrize("limit", ["²", "٣", "\uff15", "+5", "5.0", "-1", "0", "1e3", "9" * 30])
    def test_a_limit_that_only_looks_like_a_number_is_a_400(self, client, limit):
        response = client.get("/tracker/api/track/alice", {"limit": limit})
        assert response.status_code == 400
        assert response.json()["field"] == "limit"
        assert response.json()["message"].startswith("limit: must be a whole number from 1 to ")

    @pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
    def test_a_cursor_beyond_the_calendar_in_utc_is_a_400(self, client, stamp):
        response = client.get("/tracker/api/track/alice", {"cursor": _cursor(f"{stamp}|5")})
        assert response.status_code == 400
        assert response.json() == {"status": "error", "message": "cursor: is not one this API handed out",
                                   "field": "cursor"}

    @pytest.mark.parametrize("pk", ["²", "٣", "0", "-5", "9" * 30, ""])
    def test_a_cursor_with_a_run_number_that_is_no_number_is_a_400(self, client, pk):
        response = client.get("/tracker/api/track/alice", {"cursor": _cursor(f"2026-03-01T12:00:00+00:00|{pk}")})
        assert response.status_code == 400
        assert response.json()["field"] == "cursor"

    def test_a_cursor_handed_out_still_pages(self, client):
        for minute in range(3):
            post_json(client, "/tracker/api/track", client_payload(timestamp=f"2026-03-01T12:0{minute}:00"))
        first = client.get("/tracker/api/track/alice", {"limit": "2"})
        second = client.get("/tracker/api/track/alice", {"limit": "2", "cursor": first["X-Next-Cursor"]})
        assert second.status_code == 200
        assert len(second.json()[URL]["session-1"]) == 1

    @pytest.mark.parametrize("interval", ["²", "٣", "1e3", "-60", "60.0", "9" * 10])
    def test_a_recording_interval_that_is_no_whole_number_is_a_400(self, client, interval):
        response = client.post("/tracker/recordings/start", {"target_url": URL, "interval_s": interval})
        assert response.status_code == 400
        assert "interval_s must be a whole number of seconds" in response.content.decode()
        assert not RecordingSession.objects.using("tracker").exists()

    def test_a_recording_interval_with_spaces_around_is_read(self, client):
        assert client.post("/tracker/recordings/start", {"target_url": URL, "interval_s": " 60 "}).status_code == 302
        assert RecordingSession.objects.using("tracker").get().interval_s == 60

    @pytest.mark.parametrize("query", ["a=²&b=1", "a=1&b=٣", "a=0&b=1"])
    def test_comparing_run_numbers_that_are_no_numbers_is_a_400(self, client, query):
        response = client.get(f"/tracker/compare/?{query}")
        assert response.status_code == 400
        assert "must be a run number" in response.content.decode()

    def test_pinning_a_baseline_by_a_run_number_that_is_no_number_is_a_400(self, client):
        from tracker.payload import target_key_for

        response = client.post(f"/tracker/targets/{target_key_for(URL)}/baseline", {"run_id": "²"})
        assert response.status_code == 400
        assert "run_id must be a run number" in response.content.decode()


class TestPageLimit:
    def test_no_limit_is_the_default_page(self, settings):
        assert page_limit_parse(raw=None) == settings.TRACKER_PAGE_DEFAULT
        assert page_limit_parse(raw="") == settings.TRACKER_PAGE_DEFAULT

    @given(st.one_of(st.text(max_size=12), st.sampled_from(AWKWARD_TEXT), st.integers(0, 2000).map(str)))
    @settings(max_examples=200, deadline=None)
    def test_any_text_is_a_page_size_in_range_or_a_field_error_on_limit(self, raw):
        from django.conf import settings as django_settings

        try:
            limit = page_limit_parse(raw=raw)
        except FieldError as exc:
            assert exc.field == "limit"
            return
        assert 1 <= limit <= django_settings.TRACKER_PAGE_MAX


offsets = st.builds(timezone, st.timedeltas(min_value=-timedelta(hours=23, minutes=59),
                                            max_value=timedelta(hours=23, minutes=59)).map(
    lambda delta: timedelta(minutes=round(delta.total_seconds() / 60))))
stamps = st.one_of(
    st.datetimes(timezones=offsets),
    st.datetimes(),
    st.sampled_from([datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
                     datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))]),
)
run_numbers = st.one_of(st.integers(min_value=-5, max_value=2**64).map(str), st.sampled_from(AWKWARD_TEXT),
                        st.text(max_size=8))
cursors = st.one_of(
    st.text(max_size=40),
    st.builds(lambda stamp, pk: _cursor(f"{stamp.isoformat()}|{pk}"), stamps, run_numbers),
    st.builds(lambda value, pk: _cursor(f"{value}|{pk}"), json_values.map(str), run_numbers),
)


class TestCursor:
    @given(cursors)
    @settings(max_examples=200, deadline=None)
    def test_any_cursor_is_an_instant_in_utc_and_a_run_number_or_a_field_error_on_cursor(self, cursor):
        try:
            stamp, pk = cursor_decode(cursor=cursor)
        except FieldError as exc:
            assert (exc.field, exc.message) == ("cursor", "is not one this API handed out")
            return
        assert stamp.utcoffset() == timedelta(0)
        assert 0 < pk < 2**63

    @given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=1, max_value=2**63 - 1))
    @settings(max_examples=100, deadline=None)
    def test_a_cursor_handed_out_reads_back_as_what_it_stands_for(self, stamp, pk):
        assert cursor_decode(cursor=cursor_encode(timestamp=stamp, pk=pk)) == (stamp, pk)

    @given(cursors)
    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def test_any_cursor_it_accepts_the_database_can_page_by(self, cursor):
        try:
            decoded = cursor_decode(cursor=cursor)
        except FieldError:
            return
        grouped, _next = runs_grouped_for_user(user_id="alice", limit=5, cursor=decoded)
        assert grouped == {}
