"""The tracker's pages: targets, history charts, run table and filters, compare, baseline, recording."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from tracker import history, services
from tracker.charts import history_charts
from tracker.models import Baseline, RecordingSession, TrackedRun
from tracker.payload import target_key_for
from tracker.tests.conftest import BOTH_DATABASES, client_payload

pytestmark = [pytest.mark.django_db(databases=BOTH_DATABASES), pytest.mark.usefixtures("tracker_on")]

URL = "http://127.0.0.1:8080"
KEY = target_key_for(URL)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def log(minute: int, *, rps: float = 100.0, session: str = "s1", commit: str | None = None, url: str = URL,
        **details) -> int:
    payload = client_payload(timestamp=(T0 + timedelta(minutes=minute)).isoformat(), runDetails={
        "rps": rps, "session_id": session, "commit_hash": commit, "target_url": url, **details})
    return services.run_ingest(payload=payload)[0]


def test_the_index_lists_targets_with_their_latest_figures(client):
    log(0, rps=50)
    log(5, rps=321.5, commit="deadbeefcafe", p95_latency_ms=77.0)
    log(1, url="http://127.0.0.1:9000")
    page = client.get("/tracker/").content.decode()
    assert page.index(URL) < page.index("http://127.0.0.1:9000")  # most recently active first
    assert "321.5" in page
    assert "77.0" in page
    assert "deadbeef" in page


def test_the_index_invites_a_first_run_when_empty(client):
    page = client.get("/tracker/").content.decode()
    assert "No runs yet" in page


def test_the_target_page_charts_history_with_commits_and_sessions(client):
    log(0, rps=100, session="morning", commit="aaaa1111")
    log(1, rps=110, session="morning", commit="aaaa1111")
    log(2, rps=90, session="evening", commit="bbbb2222", p50_latency_ms=30.0, p95_latency_ms=80.0,
        p99_latency_ms=120.0)
    response = client.get(f"/tracker/targets/{KEY}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") == 3  # rps, latency (avg + p95), error rate
    assert "aaaa111" in page and "bbbb222" in page  # commit labels
    assert "session morning" in page and "session evening" in page  # point tooltips
    # Percentiles that clients sent are charted next to the average.
    for dash in ("1 3", "5 3", "9 3 2 3"):
        assert f'stroke-dasharray="{dash}"' in page
    assert "avg 38.2, p50 30.0, p95 80.0, p99 120 ms" in page
    assert "p95: dashed" in page
    assert "Sessions:" in page


def test_the_table_filters_by_session_test_type_and_date(client):
    a = log(0, session="s1", test_type="standard")
    b = log(60 * 24, session="s2", test_type="standard")
    c = log(60 * 48, session="s2", test_type="spike")

    def shown(query: str) -> set[int]:
        response = client.get(f"/tracker/targets/{KEY}/?{query}")
        assert response.status_code == 200
        return {row["id"] for row in response.context["rows"]}

    assert shown("") == {a, b, c}
    assert shown("session=s2") == {b, c}
    assert shown("session=s2&test_type=spike") == {c}
    assert shown("from=2026-03-02") == {b, c}
    assert shown("to=2026-03-02") == {a, b}
    assert shown("session=__all__&from=2026-03-02&to=2026-03-02") == {b}


def test_a_bad_date_filter_is_a_clear_400(client):
    log(0)
    response = client.get(f"/tracker/targets/{KEY}/?from=yesterday")
    assert response.status_code == 400
    assert "from must be a date" in response.content.decode()


def test_an_unknown_target_is_404(client):
    assert client.get("/tracker/targets/ffffffffffffffff/").status_code == 404


def test_the_table_pages_through_many_runs(client):
    for minute in range(60):
        log(minute)
    first = client.get(f"/tracker/targets/{KEY}/")
    second = client.get(f"/tracker/targets/{KEY}/?page=2")
    assert len(first.context["rows"]) == 50 and len(second.context["rows"]) == 10
    assert "older →" in first.content.decode()


class TestCompare:
    def test_it_shows_the_change_in_percent_for_each_figure(self, client):
        a = log(0, rps=100, avg_latency_ms=40.0)
        b = log(1, rps=125, avg_latency_ms=30.0)
        response = client.get(f"/tracker/compare/?a={a}&b={b}")
        assert response.status_code == 200
        figures = {f["metric"].name: f for f in response.context["figures"]}
        assert figures["rps"]["pct"] == pytest.approx(25.0)
        assert figures["rps"]["better"] is True
        assert figures["avg_latency_ms"]["pct"] == pytest.approx(-25.0)
        assert figures["avg_latency_ms"]["better"] is True
        page = response.content.decode()
        assert "+25.0%" in page and "-25.0%" in page

    def test_it_refuses_runs_with_different_load_settings(self, client):
        a = log(0, method="GET")
        b = log(1, method="POST", request_count=50)
        response = client.get(f"/tracker/compare/?a={a}&b={b}")
        page = response.content.decode()
        assert "cannot be compared" in page
        assert "method: GET vs POST" in page and "request count: 1000 vs 50" in page
        assert response.context["figures"] == []

    @pytest.mark.parametrize("query", ["", "a=1", "a=1&b=x", "a=-1&b=2"])
    def test_it_asks_for_two_run_numbers(self, client, query):
        assert client.get(f"/tracker/compare/?{query}").status_code == 400

    def test_an_unknown_run_is_404(self, client):
        a = log(0)
        assert client.get(f"/tracker/compare/?a={a}&b=999999").status_code == 404


class TestBaseline:
    def test_pinning_a_run_flags_newer_runs(self, client):
        base = log(0, rps=100)
        log(1, rps=101)
        worse = log(2, rps=60)
        response = client.post(f"/tracker/targets/{KEY}/baseline", {"run_id": base})
        assert response.status_code == 302
        assert Baseline.objects.using("tracker").get(target_key=KEY).run_id == base
        page = client.get(f"/tracker/targets/{KEY}/")
        rows = {row["id"]: row for row in page.context["rows"]}
        assert rows[worse]["flag"]["summary"] == "regression"
        assert "regression" in page.content.decode()

    def test_pinning_again_moves_the_baseline(self, client):
        first, second = log(0), log(1)
        client.post(f"/tracker/targets/{KEY}/baseline", {"run_id": first})
        client.post(f"/tracker/targets/{KEY}/baseline", {"run_id": second})
        assert Baseline.objects.using("tracker").get().run_id == second

    def test_it_refuses_a_run_of_another_target(self, client):
        other = log(0, url="http://127.0.0.1:9000")
        log(1)
        response = client.post(f"/tracker/targets/{KEY}/baseline", {"run_id": other})
        assert response.status_code == 400
        assert not Baseline.objects.using("tracker").exists()

    def test_it_refuses_a_missing_run_number(self, client):
        assert client.post(f"/tracker/targets/{KEY}/baseline", {}).status_code == 400

    def test_clearing_removes_it(self, client):
        client.post(f"/tracker/targets/{KEY}/baseline", {"run_id": log(0)})
        assert client.post(f"/tracker/targets/{KEY}/baseline/clear").status_code == 302
        assert not Baseline.objects.using("tracker").exists()

    def test_pages_refuse_get_for_actions(self, client):
        assert client.get(f"/tracker/targets/{KEY}/baseline").status_code == 405


class TestRecordingControls:
    def test_starting_and_stopping_a_recording_from_the_page(self, client):
        response = client.post("/tracker/recordings/start", {"target_url": URL, "interval_s": "60"})
        assert response.status_code == 302
        session = RecordingSession.objects.using("tracker").get()
        assert (session.active, session.interval_s, session.target_url) == (True, 60, URL)
        page = client.get(f"/tracker/targets/{KEY}/").content.decode()
        assert "Stop recording" in page
        assert client.post(f"/tracker/recordings/{session.pk}/stop").status_code == 302
        session.refresh_from_db()
        assert session.active is False and session.stopped_at is not None

    def test_it_refuses_a_second_recording_of_the_same_target(self, client):
        client.post("/tracker/recordings/start", {"target_url": URL})
        response = client.post("/tracker/recordings/start", {"target_url": URL})
        assert response.status_code == 400
        assert "already running" in response.content.decode()

    @pytest.mark.parametrize(("data", "message"), [
        ({"target_url": "http://example.org"}, "not allowed"),
        ({"target_url": ""}, "target"),
        ({"target_url": URL, "interval_s": "5"}, "at least 10"),
        ({"target_url": URL, "interval_s": "soon"}, "whole number"),
    ])
    def test_it_refuses_bad_input_with_a_reason(self, client, data, message):
        response = client.post("/tracker/recordings/start", data)
        assert response.status_code == 400
        assert message in response.content.decode()
        assert not RecordingSession.objects.using("tracker").exists()

    def test_stopping_an_unknown_session_is_404(self, client):
        assert client.post("/tracker/recordings/999/stop").status_code == 404


class TestAccess:
    def test_remote_visitors_are_refused(self, client):
        response = client.get("/tracker/", REMOTE_ADDR="192.0.2.9")
        assert response.status_code == 403
        assert "only on this machine" in response.content.decode()

    def test_remote_staff_are_let_in(self, client):
        staff = User.objects.create_user("admin", password="x", is_staff=True)
        client.force_login(staff)
        assert client.get("/tracker/", REMOTE_ADDR="192.0.2.9").status_code == 200


def _bulk(count: int, **details) -> None:
    rows = []
    for i in range(count):
        payload = client_payload(timestamp=(T0 + timedelta(minutes=i)).isoformat(), runDetails={
            "rps": 100.0 + i % 7, "session_id": f"s{i // 2500}", "commit_hash": f"c{i // 100:04d}", **details})
        rows.append(payload)
    services.runs_ingest_batch(payloads=rows)


class TestCharts:
    def test_a_long_history_is_reduced_in_the_database_and_keeps_spikes(self, settings):
        settings.TRACKER_BATCH_MAX = 10_000
        _bulk(5000)
        spike = log(4321, rps=900.0, session="s1")
        dip = log(1234, rps=1.0, session="s0")
        series = history.target_chart_series(target_key=KEY, max_points=300)
        assert series.run_count == 5002
        assert len(series.points) <= 150 * 2 + 4  # one point per session per bucket
        highs = [p.values["rps"][2] for p in series.points]
        lows = [p.values["rps"][0] for p in series.points]
        assert 900.0 in highs and 1.0 in lows
        assert sum(p.runs for p in series.points) == 5002
        for p in series.points:
            low, mean, high = p.values["rps"]
            assert low <= mean <= high
        assert any(p.first_id <= spike <= p.last_id for p in series.points)
        assert dip
        assert len(series.commit_marks) == history.MAX_COMMIT_MARKS
        charts = history_charts(series=series)
        assert [c["title"] for c in charts] == ["Requests per second", "Latency", "Error rate"]
        for chart in charts:
            assert chart["svg"].count("<circle") <= 2 * (150 * 2 + 4)
            assert chart["svg"].count('class="commit"') <= history.MAX_COMMIT_MARKS

    def test_a_short_history_is_drawn_run_by_run(self):
        first = log(0, rps=10.0, commit="aaa", p95_latency_ms=6.0)
        log(1, rps=12.0, commit="bbb")
        series = history.target_chart_series(target_key=KEY)
        assert series.points[0].first_id == first
        assert all(p.runs == 1 for p in series.points)
        assert [mark[1] for mark in series.commit_marks] == ["aaa", "bbb"]
        assert len(history_charts(series=series)) == 3

    def test_a_single_run_still_draws(self):
        log(0)
        charts = history_charts(series=history.target_chart_series(target_key=KEY))
        assert charts and all("<circle" in chart["svg"] for chart in charts)

    def test_text_in_charts_is_escaped(self):
        log(0, session="<script>", commit="<b>")
        svg = "".join(chart["svg"] for chart in history_charts(series=history.target_chart_series(target_key=KEY)))
        assert "<script>" not in svg and "&lt;script&gt;" in svg and "<b>" not in svg

    def test_an_unknown_target_has_no_chart(self):
        assert history_charts(series=history.target_chart_series(target_key="0" * 16)) == []


@override_settings(TRACKER_NOISE_WINDOW=0)
def test_the_page_explains_the_flagging_rule(client):
    client.post(f"/tracker/targets/{KEY}/baseline", {"run_id": log(0)})
    page = client.get(f"/tracker/targets/{KEY}/").content.decode()
    assert "more than 10%" in page and "previous 0 comparable runs" in page
    assert TrackedRun.objects.using("tracker").count() == 1


def test_the_target_page_costs_the_same_queries_for_10_or_400_runs(client, settings):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connections["tracker"]) as captured:
            assert client.get(f"/tracker/targets/{KEY}/").status_code == 200
        return len(captured)

    client.post(f"/tracker/targets/{KEY}/baseline", {"run_id": log(0)})
    _bulk(9)
    few = queries()
    settings.TRACKER_BATCH_MAX = 1000
    _bulk(400)
    assert queries() == few


def test_the_index_costs_the_same_queries_for_one_or_many_targets(client):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connections["tracker"]) as captured:
            assert client.get("/tracker/").status_code == 200
        return len(captured)

    log(0)
    one = queries()
    for port in range(9001, 9011):
        log(port - 9000, url=f"http://127.0.0.1:{port}")
    assert queries() == one
    assert client.get("/tracker/").content.decode().count("/tracker/targets/") == 11


def log_as(user: str, minute: int, **details) -> int:
    payload = client_payload(userId=user, timestamp=(T0 + timedelta(minutes=minute)).isoformat(),
                             runDetails={"target_url": URL, **details})
    return services.run_ingest(payload=payload)[0]


class TestWhoseRunsAndWhatLoad:
    def test_the_run_table_shows_each_runs_user_and_filters_by_user(self, client):
        mine = log_as("alice", 0)
        theirs = log_as("bob", 1)
        page = client.get(f"/tracker/targets/{KEY}/")
        content = page.content.decode()
        assert "<th>User</th>" in content
        assert '<td class="user"><code>alice</code></td>' in content and '<td class="user"><code>bob</code></td>' in content
        assert "logged by 2 users (alice, bob)" in content
        assert re.search(r'<select name="user">\s*<option value="__all__">all</option>\s*'
                         r'<option value="alice">alice</option><option value="bob">bob</option>', content)
        assert {row["id"] for row in client.get(f"/tracker/targets/{KEY}/?user=bob").context["rows"]} == {theirs}
        assert {row["id"] for row in client.get(f"/tracker/targets/{KEY}/?user=alice").context["rows"]} == {mine}
        assert len(client.get(f"/tracker/targets/{KEY}/?user=__all__").context["rows"]) == 2
        assert 'selected>bob</option>' in client.get(f"/tracker/targets/{KEY}/?user=bob").content.decode()

    def test_the_index_names_the_user_of_the_latest_run(self, client):
        log_as("carol", 0)
        assert '<td class="user"><code>carol</code></td>' in client.get("/tracker/").content.decode()

    def test_a_platform_load_test_reads_as_users_and_a_clients_run_as_requests(self, client):
        log_as("local", 0, method="POST", request_count=10, test_type="locust-constant-10u-20s")
        log_as("local", 1, method="POST", request_count=1000, test_type="standard")
        content = client.get(f"/tracker/targets/{KEY}/").content.decode()
        assert '<td class="load">POST /api/test · 10 users</td>' in content
        assert '<td class="load">POST · 1,000 requests</td>' in content
        assert "POST · 10 ·" not in content

    def test_comparing_two_load_tests_speaks_of_users_beside_the_requests_they_made(self, client):
        a = log_as("local", 0, method="POST", request_count=10, test_type="locust-constant-10u-20s", total_requests=398)
        b = log_as("local", 1, method="POST", request_count=10, test_type="locust-constant-10u-20s", total_requests=420)
        content = client.get(f"/tracker/compare/?a={a}&b={b}").content.decode()
        assert "10 requests" not in content
        assert "Both runs: POST /api/test · 10 users" in content and "simulated users" in content
        other = log_as("local", 2, method="POST", request_count=20, test_type="locust-constant-20u-20s")
        refused = client.get(f"/tracker/compare/?a={a}&b={other}").content.decode()
        assert "users: 10 vs 20" in refused and "request count" not in refused

    def test_comparing_runs_of_two_targets_warns(self, client):
        a = log_as("local", 0)
        b = services.run_ingest(payload=client_payload(timestamp=(T0 + timedelta(minutes=1)).isoformat(),
                                                       runDetails={"target_url": "http://127.0.0.1:8081"}))[0]
        response = client.get(f"/tracker/compare/?a={a}&b={b}")
        assert response.context["figures"]  # still compared
        content = response.content.decode()
        assert 'class="warning" role="alert"' in content and "different targets" in content
        assert "http://127.0.0.1:8081" in content
        same = client.get(f"/tracker/compare/?a={a}&b={log_as('local', 2)}").content.decode()
        assert "different targets" not in same

    @override_settings(ANVIL_CORPUS_BASE_URL="http://anvil:8080")
    def test_the_recording_form_suggests_the_configured_anvil(self, client):
        content = client.get("/tracker/").content.decode()
        assert 'placeholder="http://anvil:8080"' in content


def test_the_tracker_tables_scroll_inside_their_wrapper_on_a_narrow_screen(client):
    a, b = log(0), log(1)
    client.post("/tracker/recordings/start", {"target_url": URL, "interval_s": "60"})
    for path in ("/tracker/", f"/tracker/targets/{KEY}/", f"/tracker/compare/?a={a}&b={b}"):
        content = client.get(path).content.decode()
        tables = [m.start() for m in re.finditer(r"<table\b", content)]
        assert tables, path
        for start in tables:
            assert re.search(r'<div class="table-wrap">\s*$', content[:start]), (path, content[start - 60:start])


def test_the_last_commits_label_stays_inside_its_chart(client):
    log(0, rps=100, commit="aaaa1111")
    log(30, rps=110, commit="ffff9999")  # the newest run: its mark is at the plot's right edge
    page = client.get(f"/tracker/targets/{KEY}/").content.decode()
    from tracker.charts import RIGHT, WIDTH

    labels = re.findall(r'<text x="([0-9.]+)" y="[0-9.]+" text-anchor="(start|end)" font-size="10">(\w+)</text>', page)
    newest = [(float(x), anchor) for x, anchor, text in labels if text == "ffff999"]
    assert newest and all(anchor == "end" and x <= WIDTH - RIGHT for x, anchor in newest)
    first = [anchor for _, anchor, text in labels if text == "aaaa111"]
    assert first and set(first) == {"start"}
