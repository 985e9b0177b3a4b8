"""Fixtures of the browser tests: a real platform under gunicorn, and Debian's Chromium driven by Playwright.

The platform runs against the test database (each test writes its own rows,
through the ORM and the services, and the database is emptied after it) with
a folder of its own for the cache, the broker and its metrics. When a test
fails, every page it opened is saved as a screenshot (and its HTML) under
``test-artifacts/browser/<test name>/``, with the list of URLs it visited.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Error, Page, expect, sync_playwright

from common.env import env_bool
from common.testing import BASE_DIR, ServerProcess

from .servers import challenges_restore, platform_running

ARTIFACTS = BASE_DIR / "test-artifacts" / "browser"
# Tests talk to loopback only: without these, Chromium's background services
# (updates, sync, safe browsing …) keep dialling out, and on a closed network
# fill the logs with refusals.
# --no-sandbox: CI runs as root, where Chromium's own sandbox will not start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
]
# The machine may be busy (load tests, other suites): generous, as waits end
# as soon as their condition holds.
ACTION_TIMEOUT_MS = 20_000
expect.set_options(timeout=15_000)

_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Kept on the item so that the page fixture knows, while it tears down, whether the test failed.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def chromium_path() -> str:
    """Debian's Chromium; skipped locally when missing, a failure in CI (REQUIRE_REAL_SERVICES=true)."""
    path = shutil.which("chromium")
    if path:
        return path
    problem = "Chromium is not installed (apt-get install chromium)"
    if env_bool("REQUIRE_REAL_SERVICES", False):
        pytest.fail(f"{problem}; CI must have it (.ci/run installs it)")
    pytest.skip(f"{problem}; the browser tests need it")
    raise AssertionError("unreachable")


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for this package's tests (each test gets a fresh context of its own)."""
    executable = chromium_path()
    # Playwright's sync API keeps an asyncio loop running in this thread for
    # as long as it lives, and Django then refuses every ORM call as if it
    # came from async code. The calls here are plain synchronous ones, made
    # one at a time, so the check is lifted, and only while the browser lives:
    # package scope ends it before the rest of the suite runs.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if saved is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


def _artifact_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120] or "page"


def _artifacts_save(*, test_name: str, pages: list[Page], visited: list[str]) -> None:
    folder = ARTIFACTS / _artifact_name(test_name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "visited.txt").write_text("".join(f"{url}\n" for url in visited))
    for index, opened in enumerate(pages, start=1):
        if opened.is_closed():
            continue
        stem = f"{index:02d}-{_artifact_name(opened.url.split('://', 1)[-1].split('/', 1)[-1] or 'home')}"
        # Saving must not hide the test's own failure: a page that cannot be captured is skipped.
        with contextlib.suppress(Error):
            opened.screenshot(path=str(folder / f"{stem}.png"), full_page=True, timeout=10_000)
        with contextlib.suppress(Error):
            (folder / f"{stem}.html").write_text(opened.content())
    print(f"browser artifacts of {test_name}: {folder}")


@pytest.fixture
def page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies); on failure every page the test opened is saved."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(30_000)
    pages: list[Page] = []
    visited: list[str] = []

    def follow(opened: Page) -> None:
        pages.append(opened)
        opened.on("framenavigated", lambda frame: visited.append(frame.url) if frame == opened.main_frame else None)

    context.on("page", follow)
    first = context.new_page()
    try:
        yield first
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if any(report.failed for report in reports.values()):
            _artifacts_save(test_name=request.node.name, pages=pages, visited=visited)
        context.close()


@pytest.fixture(scope="package")
def platform_server(chromium, django_db_setup, tmp_path_factory) -> Iterator[ServerProcess]:
    """The platform as participants see it (the local tracker off); not started when no browser can look at it."""
    with platform_running(tmp_path=tmp_path_factory.mktemp("platform")) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_installation(transactional_db) -> None:
    """Every test starts where a freshly installed platform does: its three challenges and nothing else."""
    challenges_restore()
