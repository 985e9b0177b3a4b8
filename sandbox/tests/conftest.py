"""Fixtures of the sandbox's tests that need a real Docker engine."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sandbox.catalogue import Catalogue, catalogue_load
from sandbox.tests.docker import ROOT, engine_or_skip

BUILD_TIMEOUT_S = 1800


def build_images(var_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "build-images.sh")],
        cwd=ROOT,
        env={**os.environ, "VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[Catalogue, Path]:
    """The catalogue, built (or found up to date) by scripts/build-images.sh, and its VAR_DIR."""
    engine_or_skip()
    var_dir = tmp_path_factory.mktemp("images")
    result = build_images(var_dir)
    if result.returncode != 0:
        pytest.fail(f"scripts/build-images.sh failed:\n{result.stderr[-3000:]}")
    return catalogue_load(path=var_dir / "sandbox" / "catalogue.json"), var_dir
