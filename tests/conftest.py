"""Shared test set-up.

- Qt runs offscreen.
- Every test gets its own RECAST_HOME / RECAST_MODELS so nothing touches ~/.recast.
- ``test_media`` points at ../shared/data via RECAST_TEST_MEDIA (set by .ci/run).
- ``actor``: the warp actor built from insightface's Tom Hanks sample, once per module (a
  module may define its own ``actor`` instead).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("recast_home")
    monkeypatch.setenv("RECAST_HOME", str(home))
    monkeypatch.setenv("RECAST_MODELS", str(home / "models"))


@pytest.fixture(scope="session")
def test_media() -> Path:
    """Directory of shared test media; skips (with the reason) when not configured."""
    env = os.environ.get("RECAST_TEST_MEDIA")
    path = Path(env) if env else None
    if path is None or not (path / "Megamind.avi").is_file():
        reason = f"RECAST_TEST_MEDIA={env!r} has no Megamind.avi (CI sets it to ../shared/data)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI must never skip the media tests silently
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def actor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A warp actor from insightface's Tom_Hanks sample with a test consent file, built once per
    module; RECAST_MODELS (which building it points at its models folder) is put back after."""
    from _engine_fixtures import build_tom_hanks_actor

    work = tmp_path_factory.mktemp("actor")
    old = os.environ.get("RECAST_MODELS")
    try:
        return build_tom_hanks_actor(work / "models", work)
    finally:
        if old is None:
            os.environ.pop("RECAST_MODELS", None)
        else:
            os.environ["RECAST_MODELS"] = old
