"""The local tracker in a browser (ENABLE_LOCAL_TRACKER=true): its targets, a target's runs, two runs compared."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from common.testing import ServerProcess, database_url_of_tests
from tracker import services
from tracker.tests.conftest import BOTH_DATABASES, client_payload

from .pages import cell_texts, data_rows, row_of
from .servers import platform_running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES),
]

TARGET = "http://127.0.0.1:8080"


@pytest.fixture(scope="module")
def tracker_platform(chromium, django_db_setup, tmp_path_factory) -> Iterator[ServerProcess]:
    env = {"ENABLE_LOCAL_TRACKER": "true", "TRACKER_DATABASE_URL": database_url_of_tests("tracker")}
    with platform_running(tmp_path=tmp_path_factory.mktemp("tracker-platform"), env=env) as server:
        yield server


def _logged(*, minute: int, rps: float, commit: str, url: str = TARGET) -> int:
    payload = client_payload(
        timestamp=f"2026-03-01T12:{minute:02d}:00",
        runDetails={"rps": rps, "commit_hash": commit, "session_id": "morning", "target_url": url},
    )
    return services.run_ingest(payload=payload)[0]


def test_the_tracker_lists_its_targets_and_compares_two_of_their_runs(tracker_platform, page):
    first = _logged(minute=0, rps=400.0, commit="aaaa1111")
    second = _logged(minute=5, rps=500.0, commit="bbbb2222")
    _logged(minute=1, rps=90.0, commit="cccc3333", url="http://127.0.0.1:9000")

    page.goto(f"{tracker_platform.url}/tracker/")
    expect(page.get_by_role("heading", level=1, name="Targets")).to_be_visible()
    targets = data_rows(page)
    expect(targets).to_have_count(2)
    expect(targets.first).to_contain_text(TARGET)  # the most recently active first
    row = row_of(page, TARGET)
    expect(row).to_contain_text("500.0")  # its latest run
    assert "2" in cell_texts(row)  # runs logged

    page.get_by_role("link", name=TARGET, exact=True).click()
    expect(page.get_by_role("heading", level=1, name=TARGET)).to_be_visible()
    runs = data_rows(page, page.get_by_role("table").filter(has=page.get_by_role("columnheader", name="Req/s")))
    expect(runs).to_have_count(2)

    page.get_by_label(f"compare from run {first}").check()
    page.get_by_label(f"compare to run {second}").check()
    page.get_by_role("button", name=re.compile("Compare")).click()

    expect(page.get_by_role("heading", level=1, name=re.compile(rf"#{first}\D+#{second}\b"))).to_be_visible()
    rate = page.get_by_role("row").filter(has_text=re.compile(r"^\s*Requests/s"))
    expect(rate).to_contain_text("400")
    expect(rate).to_contain_text("500")
    expect(rate).to_contain_text("+25.0%")
