"""The platform under test: a real gunicorn on a free port, against the test databases, with folders of its own."""

from __future__ import annotations

import contextlib
import importlib
import uuid
from collections.abc import Iterator

from common.testing import ServerProcess, database_url_of_tests, gunicorn_server

from .pages import PAGE_SIZE


@contextlib.contextmanager
def platform_running(*, tmp_path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """The platform (chaoschallenge.wsgi) under gunicorn on a free port, against the test databases."""
    run = uuid.uuid4().hex[:10]
    full_env = {
        "DATABASE_URL": database_url_of_tests(),
        # The cache, the broker's folders and the metrics of this platform alone.
        "VAR_DIR": str(tmp_path / "var"),
        # Its own throttle counters and ranking version, even in a shared Redis.
        "LEADERBOARD_CACHE_NAMESPACE": f"browser-{run}",
        # Tests write their rows straight into the database and empty it after
        # each test; a leaderboard page kept by a worker would outlive them.
        "LEADERBOARD_CACHE_S": "0",
        "LEADERBOARD_PAGE_SIZE": str(PAGE_SIZE),
        # A queue nobody else consumes: a test that needs runs starts its own worker on it.
        "LOADTEST_QUEUE": f"browser-{run}",
        **(env or {}),
    }
    with gunicorn_server("chaoschallenge.wsgi", tmp_path=tmp_path, workers=2, env=full_env) as server:
        yield server


def challenges_restore() -> None:
    """The three challenges exactly as the migration makes them: transactional tests start from an empty database."""
    from leaderboard.models import Challenge

    migration = importlib.import_module("leaderboard.migrations.0002_the_three_challenges")
    for row in migration.CHALLENGES:
        Challenge.objects.update_or_create(slug=row["slug"], defaults={k: v for k, v in row.items() if k != "slug"})
