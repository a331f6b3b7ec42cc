"""Atomic publish under kill -9: a visible ``publish/vNNN`` is always complete.

Real ``recast publish`` processes are killed with SIGKILL at random points
(several seeds): while the hidden version folder fills up, right after start,
or after it finished. Afterwards every visible ``vNNN`` has its manifest and
every file the manifest lists (byte-identical to its source), the version
numbers have no holes, ``recast publish --repair`` sweeps the hidden leftovers
and the next publish gets the next number.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


from recast.pipeline.jobs.publish import publish, set_approval
from recast.pipeline.jobs.runner import Runner, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from tests.test_job_support import REPO, make_plate, recast

SEEDS = (11, 23, 37, 41, 59, 73)
FRAMES = range(1001, 1041)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _hidden_temps(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.name.startswith(".") and ".tmp-" in p.name] if root.is_dir() else []


def _file_count(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def _check_visible(root: Path, sources: dict[int, str]) -> list[int]:
    """Every visible vNNN is complete; returns their numbers."""
    nums = []
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        m = re.fullmatch(r"v(\d{3,})", p.name)
        if not m:
            assert p.name.startswith("."), f"unexpected visible entry {p}"
            continue
        manifest = json.loads((p / "manifest.json").read_text())  # raises if missing: a partial version
        assert manifest["version"] == p.name
        assert [e["frame"] for e in manifest["frames"]] == list(FRAMES)
        for e in manifest["frames"]:
            comp = p / "comp" / Path(e["comp"]).name
            assert _sha(comp) == sources[e["frame"]], f"{comp} differs from its source"
        assert {q.name for q in (p / "comp").iterdir()} == {Path(e["comp"]).name for e in manifest["frames"]}
        nums.append(int(m.group(1)))
    return nums


def _kill_publish(home: Path, job: str, root: Path, rng: random.Random) -> str:
    env = {**os.environ, "RECAST_HOME": str(home)}
    before = _file_count(root)
    proc = subprocess.Popen(
        [sys.executable, "-m", "recast", "publish", job, "--by", "kim"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    mode = rng.choice(["files", "files", "files", "delay"])
    deadline = time.monotonic() + 60
    if mode == "files":  # kill once the new version holds k files (whatever its folder is called)
        k = rng.randrange(1, len(FRAMES) + 2)
        while proc.poll() is None and time.monotonic() < deadline:
            if _file_count(root) - before >= k:
                break
            time.sleep(0.0005)
    else:  # a random moment of the process's life, start-up included
        time.sleep(rng.uniform(0.0, 2.5))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return "killed"
    return "finished"


def test_publish_killed_at_random_points_leaves_only_complete_versions(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", FRAMES, size=(32, 24))
    home = tmp_path / "home"
    store = Store(home / "recast.db")
    out = tmp_path / "out"
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough"}))
    Runner(store).run(job)
    set_approval(store, job, None, "kim")
    sources = {f: _sha(out / "comp" / f"shot.{f:04d}.exr") for f in FRAMES}
    root = out / "publish"

    outcomes = []
    left_hidden = 0
    for seed in SEEDS:
        outcomes.append(_kill_publish(home, job, root, random.Random(seed)))
        left_hidden += bool(_hidden_temps(root))
        nums = _check_visible(root, sources)
        assert nums == list(range(1, len(nums) + 1)), f"seed {seed}: version numbers {nums} have a hole"
    assert outcomes.count("killed") >= 3 and left_hidden >= 1, f"too few kills landed inside a publish: {outcomes}"

    r = recast("publish", job, "--repair", "--json", home=home, check=True)
    assert _hidden_temps(root) == []
    assert json.loads(r.stdout)["hidden"] == []  # nothing visible was ever incomplete
    done = _check_visible(root, sources)
    assert sorted(v["version"] for v in Store(home / "recast.db").versions(job)) == [f"v{n:03d}" for n in done]
    m = publish(Store(home / "recast.db"), job, by="kim")
    assert m["version"] == f"v{len(done) + 1:03d}"
    assert _check_visible(root, sources) == list(range(1, len(done) + 2))


def test_repair_hides_legacy_partial_version(tmp_path: Path) -> None:
    """A manifest-less ``vNNN`` made by an older Recast is moved aside by --repair, its number kept used."""
    pattern = make_plate(tmp_path / "plates", range(1, 4), size=(32, 24))
    home = tmp_path / "home"
    store = Store(home / "recast.db")
    out = tmp_path / "out"
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough"}))
    Runner(store).run(job)
    set_approval(store, job, None, "kim")
    (out / "publish" / "v001" / "comp").mkdir(parents=True)
    (out / "publish" / "v001" / "comp" / ".shot.0001.exr.tmp-999999-abcd.exr").write_bytes(b"half")
    r = json.loads(recast("publish", job, "--repair", "--json", home=home, check=True).stdout)
    assert len(r["hidden"]) == 1 and not (out / "publish" / "v001").exists()
    assert publish(store, job)["version"] == "v001"  # the hidden folder never was a version


def test_cache_write_is_whole_or_absent(tmp_path: Path) -> None:
    """Cache entries (per-frame history, the display LUT) are temp file + rename without
    fsync: the parts land in order, a failed write returns False and leaves neither the
    entry nor its temp file, and an existing entry is replaced whole."""
    from recast.pipeline.atomic import is_temp_name, write_cache_bytes

    entry = tmp_path / "cache" / "7" / "1001.pkl"
    assert write_cache_bytes(entry, [b"head\n", b"blob"]) is True
    assert entry.read_bytes() == b"head\nblob"
    assert write_cache_bytes(entry, b"new") is True
    assert entry.read_bytes() == b"new"
    assert not [p for p in entry.parent.iterdir() if is_temp_name(p.name)]

    blocked = tmp_path / "file"
    blocked.write_bytes(b"x")  # a file where the entry's folder should be
    assert write_cache_bytes(blocked / "1002.pkl", b"blob") is False
    assert blocked.read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "file"]
