"""Fixtures of the sandbox's tests that need a real Docker engine."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

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


@contextlib.contextmanager
def sandbox_configured(*, var_dir: Path, state_dir: Path) -> Iterator[None]:
    """The sandbox pointed at a built catalogue, with its files in ``state_dir``.

    On the way out: no container, network or volume of a sandbox made
    inside is left on the engine, however it ended.
    """
    from sandbox.tests.docker import sandbox_ids

    with override_settings(SANDBOX_BACKEND="docker", SANDBOX_CATALOGUE_FILE=var_dir / "sandbox" / "catalogue.json",
                           SANDBOX_STATE_DIR=state_dir, SANDBOX_FIREWALL="install"):
        before = sandbox_ids()
        yield
        left = sandbox_ids() - before
        assert not left, f"sandboxes left on the engine: {sorted(left)}"


@pytest.fixture
def sandbox_ready(built, tmp_path):
    """The catalogue, with the sandbox configured for this test (and nothing of it left afterwards)."""
    catalogue, var_dir = built
    with sandbox_configured(var_dir=var_dir, state_dir=tmp_path / "sandbox-state"):
        yield catalogue


@pytest.fixture(scope="module")
def sandbox_module(built, tmp_path_factory):
    """As ``sandbox_ready``, for fixtures that share one sandbox between the tests of a module."""
    catalogue, var_dir = built
    with sandbox_configured(var_dir=var_dir, state_dir=tmp_path_factory.mktemp("sandbox-state")):
        yield catalogue
