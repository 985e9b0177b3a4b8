"""``run_loadtest`` with numbers Python's json reads but no load test can use: exit 2 naming the field, no traceback."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from common.testing import BASE_DIR, child_env, database_url_of_tests
from loadtest.models import LoadTestRun

pytestmark = pytest.mark.django_db

TARGET = "http://127.0.0.1:9"
BAD_PLANS = [
    ('[{"at_s": 1, "duration_s": 2, "kind": "error", "params": {"status": Infinity}}]', "chaos_plan[0].params.status"),
    ('[{"at_s": 1, "duration_s": 2, "kind": "error", "params": {"status": NaN}}]', "chaos_plan[0].params.status"),
    ('[{"at_s": 1, "duration_s": 2, "kind": "error", "params": {"status": 1e400}}]', "chaos_plan[0].params.status"),
    ('[{"at_s": NaN, "duration_s": 2, "kind": "latency"}]', "chaos_plan[0].at_s"),
    ('[{"at_s": 1, "duration_s": Infinity, "kind": "latency"}]', "chaos_plan[0].duration_s"),
    ('[{"at_s": 1, "duration_s": 2, "kind": "latency", "params": {"ms": 1e400}}]', "chaos_plan[0].params.ms"),
]


@pytest.mark.parametrize(("plan", "field"), BAD_PLANS)
def test_a_chaos_plan_with_a_non_finite_number_exits_2_naming_the_field(tmp_path, plan, field):
    path = tmp_path / "plan.json"
    path.write_text(plan)
    with pytest.raises(CommandError, match=field.replace("[", r"\[").replace("]", r"\]")) as caught:
        call_command("run_loadtest", "--target", TARGET, "--duration", "5", "--chaos-plan", str(path),
                     stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 2
    assert not LoadTestRun.objects.exists()


@pytest.mark.parametrize(("tasks", "field"), [('{"index": Infinity}', "tasks.index"), ('{"index": NaN}', "tasks.index")])
def test_task_weights_with_a_non_finite_number_exit_2(tasks, field):
    with pytest.raises(CommandError, match=field) as caught:
        call_command("run_loadtest", "--target", TARGET, "--duration", "5", "--tasks", tasks,
                     stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 2


@pytest.mark.parametrize("flag", ["--spawn-rate", "--timeout", "--wait-max"])
def test_a_non_finite_float_flag_exits_2(flag):
    with pytest.raises(CommandError, match=flag.removeprefix("--").replace("-", "_")) as caught:
        call_command("run_loadtest", "--target", TARGET, "--duration", "5", flag, "nan",
                     stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 2


@pytest.mark.django_db(transaction=True)
def test_from_the_shell_it_is_one_line_on_stderr_not_a_traceback(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text(BAD_PLANS[0][0])
    env = child_env({"DATABASE_URL": database_url_of_tests()})
    process = subprocess.run(
        [sys.executable, "manage.py", "run_loadtest", "--target", TARGET, "--duration", "5", "--chaos-plan", str(path)],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 2, process.stderr
    assert "chaos_plan[0].params.status" in process.stderr
    assert "Traceback" not in process.stderr


def test_a_chaos_plan_nested_too_deeply_for_the_json_reader_exits_2(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CommandError, match="nested too deeply") as caught:
        call_command("run_loadtest", "--target", TARGET, "--chaos-plan", str(path), stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 2
