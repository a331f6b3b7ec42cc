"""The installed distribution puts everything under ``recast`` (+ the bridge's own ``recast_bridge``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _build_wheel(dest: Path) -> Path:
    """Builds from a copy of the tracked files, so no stale build/ folder or untracked file leaks in."""
    src = dest / "src"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr
    (wheel,) = dest.glob("recast-*.whl")
    return wheel


def test_wheel_top_level_is_recast_and_bridge(tmp_path: Path) -> None:
    names = zipfile.ZipFile(_build_wheel(tmp_path)).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"recast", "recast_bridge"}, top
    # every source package of the checkout is in the wheel under recast.*
    for part in ("pipeline", "models", "qc", "review_ui"):
        for init in (REPO / part).rglob("__init__.py"):
            rel = init.relative_to(REPO).as_posix()
            assert f"recast/{rel}" in names, rel
    assert "recast/qc/thresholds.toml" in names  # package data travels
    assert "recast/__main__.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    eps = zipfile.ZipFile(_build_wheel(tmp_path / "again")).read(entry).decode()
    assert "recast = recast.pipeline.cli:main" in eps
    assert "[recast.swappers]" in eps and "warp = recast.models.swappers.warp:make_swapper" in eps


def test_no_module_imports_the_old_top_level_names() -> None:
    """`from pipeline...` would work in a checkout (cwd on sys.path) and break once installed."""
    bad = re.compile(r"^\s*(from|import)\s+(pipeline|models|qc|review_ui)(\.|\s|$)", re.M)
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("pipeline", "models", "qc", "review_ui", "recast", "tests", "benchmarks")
        for p in (REPO / folder).rglob("*.py")
        if bad.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_installed_wheel_runs_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "w")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import recast, recast.pipeline.cli, recast.qc.rules; "
        "print(recast.pipeline.cli.__file__); print(recast.__path__); "
        "from recast.models.base import SWAPPERS; p = SWAPPERS.providers()['warp']; print(p.origin); "
        "print(type(SWAPPERS.create('warp')).__module__)"
    )
    # site-packages stay on (numpy, OIIO ...); the extracted wheel comes first on sys.path
    res = subprocess.run([sys.executable, "-c", probe, str(site)], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0].startswith(str(site)), out  # the wheel's copy, not the checkout's
    assert str(REPO) not in out[1]
    # installed (no checkout): the built-in plugins come from the wheel's own entry points
    assert out[2].startswith(str(site)) and out[2].endswith(".dist-info"), out
    assert out[3] == "recast.models.swappers.warp"
