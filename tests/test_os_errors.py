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
import sys
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


# -- EACCES: a plate the user may not read, an output folder the user may not write ------
#
# Root reads and writes through any file mode (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so as
# root the `recast swap` child drops those two capabilities from its bounding set before it
# execs: it is still root (its interpreter under /root stays reachable), but file modes now
# apply to it as to any user. A probe child checks that they do (else: skipped, with why).

_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _PR_CAPBSET_DROP = 1, 2, 24


def _drop_dac_caps() -> None:
    """preexec_fn: the child (and what it execs) honours file modes, even as root."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _as_user(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Run ``args`` so that file modes apply: as is for a user, without the DAC capabilities as root."""
    return subprocess.run(args, capture_output=True, text=True, check=False,
                          preexec_fn=_drop_dac_caps if os.geteuid() == 0 else None, **kw)  # type: ignore[call-overload]


@pytest.fixture()
def modes_apply(tmp_path: Path) -> None:
    """Skip (saying why) unless a child started by :func:`_as_user` is refused by a 0o555 folder."""
    box = tmp_path / "probe"
    box.mkdir()
    box.chmod(0o555)
    try:
        probe = _as_user([sys.executable, "-c", f"open({str(box / 'x')!r}, 'w')"])
    except OSError as exc:
        pytest.skip(f"cannot drop the DAC capabilities in a child here: {exc}")
    finally:
        box.chmod(0o755)
    if probe.returncode == 0:
        pytest.skip("a child writes into a 0o555 folder here (capabilities kept): EACCES cannot be produced")
    assert "PermissionError" in probe.stderr, probe.stderr


@pytest.fixture()
def face_plate(tmp_path: Path) -> str:
    """Two 512x512 RGB half EXR frames of skimage's astronaut (one face each)."""
    from _engine_fixtures import astronaut_linear

    plates = tmp_path / "plates"
    plates.mkdir()
    for f in (1, 2):
        px = astronaut_linear(shift=4 * f)
        spec = oiio.ImageSpec(px.shape[1], px.shape[0], 3, oiio.HALF)
        write_image(plates / f"face.{f:04d}.exr", px, spec)
    return str(plates / "face.####.exr")


@pytest.fixture()
def hanks(tmp_path: Path) -> str:
    from _engine_fixtures import build_tom_hanks_actor

    build_tom_hanks_actor(Path(os.environ["RECAST_MODELS"]), tmp_path)
    return "hanks"


def _swap(pattern: str, out: Path, actor: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    from tests.test_job_support import REPO

    res = _as_user([sys.executable, "-m", "recast", "swap", pattern, "--actor", actor, "--out", str(out), "--json"],
                   cwd=REPO, env=dict(os.environ), timeout=300)
    return res, json.loads(res.stdout) if res.stdout.strip().startswith("{") else {}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("locked", ["", "element", "records"])
def test_unwritable_output_names_eacces(tmp_path: Path, modes_apply: None, face_plate: str, hanks: str, locked: str) -> None:
    """The output folder (or its element or records folder) is not writable: every frame fails
    with EACCES named in one line, and no comp, element or temp file is left for it."""
    out = tmp_path / "out"
    locked_dir = out / locked if locked else out
    locked_dir.mkdir(parents=True)
    locked_dir.chmod(0o555)
    try:
        res, summary = _swap(face_plate, out, hanks)
    finally:
        locked_dir.chmod(0o755)
    assert res.returncode == 1, res.stdout + res.stderr
    assert summary["failed_frames"] == [1, 2], summary
    for e in summary["errors"]:
        assert "Permission denied (EACCES)" in e["error"] and "\n" not in e["error"], e
    if locked == "element":  # the comp was written, then the element refused: the comp goes too
        assert all("element" in e["error"] for e in summary["errors"]), summary["errors"]
    left = _files(out)
    assert not [f for f in left if f.startswith(("comp/", "element/", "embeddings/")) or ".tmp-" in f], left
    if locked == "element":  # the records folder is writable: the failures are on record
        assert [json.loads((out / "records" / f"{f:04d}.json").read_text())["status"] for f in (1, 2)] == ["failed"] * 2


def test_unreadable_plate_names_eacces(tmp_path: Path, modes_apply: None, face_plate: str, hanks: str) -> None:
    """A plate frame the user may not read (mode 0): that frame fails naming EACCES; the other is swapped."""
    frame2 = Path(face_plate.replace("####", "0002"))
    frame2.chmod(0)
    out = tmp_path / "out"
    try:
        res, summary = _swap(face_plate, out, hanks)
    finally:
        frame2.chmod(0o644)
    assert res.returncode == 1, res.stdout + res.stderr
    assert summary["failed_frames"] == [2] and summary["done"] == 1, summary
    (err,) = [e["error"] for e in summary["errors"]]
    assert "Permission denied (EACCES)" in err and str(frame2) in err and "\n" not in err, err
    assert _files(out / "comp") == ["face.0001.exr"]
    assert not [f for f in _files(out) if ".tmp-" in f]
