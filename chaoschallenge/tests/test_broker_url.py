"""The embedded filesystem broker: a URL kombu takes without complaint, however the environment spells it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from common.testing import BASE_DIR, child_env, database_url_of_tests

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("given", [None, "", "filesystem://", "filesystem:///"])
def test_a_command_that_enqueues_on_the_filesystem_broker_says_nothing_about_a_hostname(tmp_path, given):
    env = child_env({"VAR_DIR": str(tmp_path), "REDIS_URL": "", "LOG_LEVEL": "INFO",
                     "DATABASE_URL": database_url_of_tests()})
    env.pop("CELERY_BROKER_URL", None)
    if given is not None:
        env["CELERY_BROKER_URL"] = given
    result = subprocess.run(
        [sys.executable, "manage.py", "run_loadtest", "--target", "http://127.0.0.1:8080", "--duration", "3",
         "--async"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "No hostname was supplied" not in result.stderr
    assert "queued run" in result.stdout
    # The message really went to this VAR_DIR's broker, not to a default one.
    assert len(list((tmp_path / "celery-broker" / "queue").iterdir())) == 1
