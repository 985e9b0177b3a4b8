"""The commands around sandboxes: run_loadtest --bundle, sandbox_up / sandbox_down, sandbox_firewall."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sandbox.tests.bundles import EXAMPLES, as_yaml, base, put

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

BARE = str(EXAMPLES / "bare-anvil.yaml")
SHORT = ["--duration", "3", "--users", "2", "--wait-min", "0.05", "--wait-max", "0.15"]


def run_loadtest(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("run_loadtest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_run_loadtest_runs_a_bundle_and_prints_its_sandbox_section(sandbox_ready):
    out, _ = run_loadtest("--bundle", BARE, *SHORT, "--json")

    result = json.loads(out)
    assert result["status"] == "completed" and result["totals"]["successes"] > 0
    assert result["target_url"] == "http://entrypoint:80"
    assert result["sandbox"]["backend"] == "docker" and result["sandbox"]["torn_down"] is True
    assert result["sandbox"]["id"] == result["generator"]["sandbox"]["id"]


def test_run_loadtest_prints_the_sandbox_line_in_its_summary(sandbox_ready):
    out, _ = run_loadtest("--bundle", BARE, *SHORT)

    assert re.search(r"sandbox +[0-9a-f]{10} \(docker\): ready in [0-9.]+s, 1 pods, 0 restarts, torn down", out), out


def test_a_refused_bundle_exits_2_naming_the_field(sandbox_ready, tmp_path):
    bundle = tmp_path / "privileged.yaml"
    bundle.write_text(as_yaml(_privileged()))

    with pytest.raises(CommandError) as refused:
        run_loadtest("--bundle", str(bundle), *SHORT)

    assert refused.value.returncode == 2
    assert "refused: bundle[1].spec.template.spec.containers[0].securityContext.privileged" in str(refused.value)


def test_a_bundle_that_fails_to_start_exits_1_with_the_reason(sandbox_ready, tmp_path):
    from sandbox.tests.test_sandbox_lifecycle import CRASHING

    bundle = tmp_path / "crashing.yaml"
    bundle.write_text(CRASHING)

    with pytest.raises(CommandError) as failed:
        run_loadtest("--bundle", str(bundle), *SHORT)

    assert failed.value.returncode == 1
    assert "exit code 3" in str(failed.value)


@pytest.mark.parametrize("args", [["--bundle", BARE, "--target", "http://127.0.0.1:8080"], []])
def test_run_loadtest_takes_a_target_or_a_bundle(args):
    with pytest.raises(CommandError) as refused:
        run_loadtest(*args, *SHORT)

    assert refused.value.returncode == 2 and "--target URL or --bundle FILE" in str(refused.value)


def test_a_missing_bundle_file_exits_2():
    with pytest.raises(CommandError) as refused:
        run_loadtest("--bundle", "/nonexistent/bundle.yaml", *SHORT)

    assert refused.value.returncode == 2


def test_sandbox_up_prints_the_entry_point_on_the_bridge_and_sandbox_down_removes_it(sandbox_ready):
    import urllib.request

    out = StringIO()
    call_command("sandbox_up", BARE, "--json", stdout=out)
    found = json.loads(out.getvalue())
    try:
        with urllib.request.urlopen(f"{found['url']}healthz", timeout=5) as answer:
            assert json.loads(answer.read())["status"] == "ok"
    finally:
        out = StringIO()
        call_command("sandbox_down", found["id"], stdout=out)
    assert f"sandbox {found['id']} removed" in out.getvalue()
    with pytest.raises(CommandError) as gone:
        call_command("sandbox_down", found["id"], stdout=StringIO())
    assert gone.value.returncode == 1


def test_sandbox_firewall_status_says_the_rules_are_in_place(sandbox_ready):
    out = StringIO()
    call_command("sandbox_firewall", "install", stdout=out)
    call_command("sandbox_firewall", "status", stdout=out)

    assert "ipv4: in place" in out.getvalue()
    assert "-A SANDBOX-INPUT -j DROP" in out.getvalue()


def _privileged():
    objects = base()
    put(1, "spec", "template", "spec", "containers", 0, "securityContext", "privileged", True)(objects)
    return objects
