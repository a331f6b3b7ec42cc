"""Failed reads and writes name the OS cause (ENOSPC, EROFS, EACCES), never just
"Failed to write pixel data".

Real file systems: a 1 MiB tmpfs (disk full) and the same tmpfs remounted read-only,
mounted by the test (root only; skipped with the reason otherwise). EACCES goes the
same way (the OS's errno, asked by a probe write) but cannot be produced as root.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from recast.pipeline.plateio import write_image
from tests.test_job_support import recast, write_spec


def _noise_plate(directory: Path, frames: range, size: int = 320) -> str:
    """Incompressible float RGBA frames (~1.6 MB each, more than the tmpfs holds)."""
    directory.mkdir(parents=True)
    spec = oiio.ImageSpec(size, size, 4, oiio.FLOAT)
    spec.attribute("compression", "none")
    for f in frames:
        write_image(directory / f"n.{f:04d}.exr", np.random.default_rng(f).random((size, size, 4), np.float32), spec)
    return str(directory / "n.####.exr")


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a 1 MiB tmpfs needs root")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _run_job(tmp_path: Path, out: Path, pattern: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    home = tmp_path / "home"
    spec = write_spec(tmp_path / "spec.json", plate=pattern, actor="a", out=str(out), processor="passthrough", qc=False)
    sub = recast("submit", str(spec), home=home)
    assert sub.returncode == 0, sub.stderr
    run = recast("job", "run", sub.stdout.strip(), "--retries", "0", "--json", home=home)
    return run, json.loads(run.stdout) if run.stdout.strip().startswith("{") else {}


def test_disk_full_names_enospc(tmp_path: Path, small_fs: Path) -> None:
    pattern = _noise_plate(tmp_path / "plates", range(1, 3))
    run, summary = _run_job(tmp_path, small_fs / "out", pattern)
    assert run.returncode == 1, run.stdout + run.stderr
    errors = list(summary["failed"].values())
    assert len(errors) == 2 and all("No space left on device (ENOSPC)" in e for e in errors), errors
    assert all("\n" not in e for e in errors)
    leftovers = [p.name for p in (small_fs / "out").rglob("*") if p.is_file() and ".tmp-" in p.name]
    assert leftovers == []  # no half file left behind


def test_read_only_fs_names_erofs(tmp_path: Path, small_fs: Path) -> None:
    pattern = _noise_plate(tmp_path / "plates", range(1, 2), size=16)
    out = small_fs / "out"
    home = tmp_path / "home"
    spec = write_spec(tmp_path / "spec.json", plate=pattern, actor="a", out=str(out), processor="passthrough", qc=False)
    job = recast("submit", str(spec), home=home, check=True).stdout.strip()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    run = recast("job", "run", job, "--retries", "0", "--json", home=home)
    assert run.returncode == 1, run.stdout + run.stderr
    (err,) = json.loads(run.stdout)["failed"].values()
    assert "Read-only file system (EROFS)" in err, err
