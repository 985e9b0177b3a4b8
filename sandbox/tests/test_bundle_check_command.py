from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sandbox.bundle import MAX_BYTES
from sandbox.catalogue import NAMES
from sandbox.tests.bundles import EXAMPLES, as_yaml, base, put

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_built_catalogue(settings, tmp_path):
    # This test's own VAR_DIR: a catalogue file a developer built must not change the output.
    settings.VAR_DIR = tmp_path / "var"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("bundle_check", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_objects_images_and_total_requests_of_an_accepted_bundle():
    out = run(str(EXAMPLES / "resilient-anvil.yaml"))

    assert "accepted" in out
    assert "Deployment  anvil-2, replicas 1" in out
    assert "haproxy     sre-chaos/haproxy:catalogue" in out
    assert "not built yet" in out
    assert "requests: cpu 850m, memory 832Mi, pods 4" in out
    assert "entrypoint: Service entrypoint:80 → lb" in out


def test_it_prints_the_summary_as_json():
    summary = json.loads(run("--json", str(EXAMPLES / "bare-anvil.yaml")))

    assert summary["requests"] == {"cpu": "250m", "memory": "256Mi", "pods": 1}
    assert summary["images"] == {"url-anvil": "sre-chaos/url-anvil:catalogue"}


def test_it_shows_the_images_pinned_by_the_catalogue_file(tmp_path):
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"images": {name: "sha256:" + "c" * 64 for name in NAMES}}))

    out = run("--catalogue", str(catalogue), str(EXAMPLES / "bare-anvil.yaml"))

    assert f"url-anvil   sha256:{'c' * 64}" in out
    assert "not built yet" not in out


def test_it_reads_the_catalogue_the_image_build_wrote_under_var_dir(settings):
    path = Path(settings.VAR_DIR) / "sandbox" / "catalogue.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"images": {name: "sha256:" + "d" * 64 for name in NAMES}}))

    assert "sha256:" + "d" * 64 in run(str(EXAMPLES / "bare-anvil.yaml"))


def test_it_refuses_a_breach_with_the_field_and_exit_code_2(tmp_path):
    objects = base()
    put(1, "spec", "template", "spec", "containers", 0, "securityContext", {"privileged": True})(objects)
    path = tmp_path / "bundle.yaml"
    path.write_text(as_yaml(objects))

    with pytest.raises(CommandError) as error:
        run(str(path))

    assert error.value.returncode == 2
    assert str(error.value) == (
        "refused: [1].spec.template.spec.containers[0].securityContext.privileged: privileged containers are not allowed"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe not text", "not UTF-8"),
        (b"#" * (MAX_BYTES + 10), "larger than"),
        (b"#" * MAX_BYTES + "é".encode(), "larger than"),
    ],
    ids=["binary", "oversized", "oversized-cut-inside-a-character"],
)
def test_it_refuses_a_file_that_is_not_a_bundle_with_exit_code_2(tmp_path, content, message):
    path = tmp_path / "bundle.yaml"
    path.write_bytes(content)

    with pytest.raises(CommandError, match=message) as error:
        run(str(path))
    assert error.value.returncode == 2


def test_it_refuses_a_missing_file_or_catalogue_with_exit_code_2(tmp_path):
    with pytest.raises(CommandError) as missing_file:
        run(str(tmp_path / "absent.yaml"))
    with pytest.raises(CommandError) as missing_catalogue:
        run("--catalogue", str(tmp_path / "absent.json"), str(EXAMPLES / "bare-anvil.yaml"))

    assert missing_file.value.returncode == missing_catalogue.value.returncode == 2


def test_it_reads_standard_input_and_exits_2_from_the_shell():
    bundle = (EXAMPLES / "bare-anvil.yaml").read_text()
    accepted = subprocess.run(
        [sys.executable, "manage.py", "bundle_check", "-"], input=bundle, capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    refused = subprocess.run(
        [sys.executable, "manage.py", "bundle_check", "-"],
        input=bundle.replace("image: url-anvil", "image: busybox"),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )

    assert accepted.returncode == 0, accepted.stderr
    assert "requests: cpu 250m" in accepted.stdout
    assert refused.returncode == 2
    assert "[0].spec.template.spec.containers[0].image" in refused.stderr
