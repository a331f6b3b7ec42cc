"""Runner: all frames through the file protocol, retries with backoff, cancel, resume, kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recast.pipeline.atomic import is_temp_name
from recast.pipeline.jobs.processors import FrameJob, FrameProcessor, PassthroughProcessor
from recast.pipeline.jobs.reindex import reindex
from recast.pipeline.jobs.runner import Runner, RunOptions, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from recast.pipeline.plateio import read_plate, same_pixels
from recast.pipeline.sequence import PlateSequence
from tests.test_job_support import REPO, make_plate, recast, write_spec


def _job(tmp_path: Path, n: int = 8, chunk: int = 3) -> tuple[Store, str, str]:
    pattern = make_plate(tmp_path / "plates", range(1001, 1001 + n))
    store = Store(tmp_path / "home" / "recast.db")
    spec = JobSpec.from_dict(
        {"plate": pattern, "actor": "ada", "out": str(tmp_path / "out"), "processor": "passthrough", "chunk": chunk}
    )
    return store, submit(store, spec), pattern


@pytest.mark.parametrize("pipelined", [True, False])
def test_run_writes_every_frame_and_indexes_it(tmp_path: Path, pipelined: bool) -> None:
    store, job_id, pattern = _job(tmp_path)
    seen: list[int] = []
    summary = Runner(store, RunOptions(pipelined=pipelined), on_frame=lambda rec: seen.append(rec["frame"])).run(job_id)
    assert summary.status == "done" and sorted(summary.done) == list(range(1001, 1009))
    assert seen == list(range(1001, 1009))  # write-behind keeps frame order with one writer
    plate = PlateSequence.open(pattern)
    for f in plate.frames:
        rec = json.loads((tmp_path / "out" / "records" / f"{f}.json").read_text())
        assert rec["status"] == "passthrough" and rec["job"] == job_id and rec["take"] == 1
        src, comp = read_plate(plate.path(f)), read_plate(Path(rec["comp"]))
        assert same_pixels(src.pixels, comp.pixels)  # the plate goes through untouched
        assert comp.channel_names == ["R", "G", "B", "A"] and comp.pixel_type == "half"
        assert comp.attributes.get("recast/test") == "astronaut"
    job = store.get_job(job_id)
    assert job["status"] == "done" and job["frames"]["done"] == 8
    with pytest.raises(Exception, match="not queued"):
        Runner(store).run(job_id)


class _Flaky:
    """Wraps the passthrough processor: frame ``transient`` fails once, ``broken`` always (until healed)."""

    def __init__(self, job: FrameJob, calls: dict[str, Any]) -> None:
        self.inner = PassthroughProcessor(job)
        self.calls = calls

    def load(self, frame: int) -> Any:
        return self.inner.load(frame)

    def compute(self, frame: int, loaded: Any) -> Any:
        self.calls.setdefault(frame, 0)
        self.calls[frame] += 1
        if frame == self.calls["transient"] and self.calls[frame] == 1:
            raise OSError("disk hiccup")
        if frame == self.calls["broken"] and not self.calls.get("healed"):
            raise ValueError("corrupt plate")
        return self.inner.compute(frame, loaded)

    def write(self, frame: int, result: Any) -> dict[str, Any]:
        return self.inner.write(frame, result)

    def fail(self, frame: int, error: str) -> dict[str, Any]:
        return self.inner.fail(frame, error)

    def close(self) -> None:
        self.inner.close()


def test_retries_with_backoff_and_failed_frame_does_not_stop_others(tmp_path: Path) -> None:
    store, job_id, _ = _job(tmp_path)
    calls: dict[str, Any] = {"transient": 1002, "broken": 1005}
    waits: list[float] = []

    def factory(job: FrameJob) -> FrameProcessor:
        return _Flaky(job, calls)

    runner = Runner(store, RunOptions(retries=2, backoff_s=0.25), processor_factory=factory, sleep=waits.append)
    summary = runner.run(job_id)
    assert calls[1002] == 2 and calls[1005] == 3
    assert waits == [0.25, 0.25, 0.5]  # 1002: one retry; 1005: two retries, doubling
    assert set(summary.failed) == {1005} and "ValueError: corrupt plate" in summary.failed[1005]
    assert len(summary.done) == 7 and summary.status == "failed"
    rec = json.loads((tmp_path / "out" / "records" / "1005.json").read_text())
    assert rec["status"] == "failed" and "corrupt plate" in rec["error"]
    rows = {r["frame"]: r for r in store.frames(job_id, 1)}
    assert rows[1002]["attempts"] == 2 and rows[1005]["attempts"] == 3 and rows[1005]["status"] == "failed"
    assert store.get_job(job_id)["status"] == "failed"
    # resume retries only the failed frame
    calls["healed"] = True
    before = calls[1001]
    summary = Runner(store, processor_factory=factory, sleep=waits.append).resume(job_id)
    assert summary.done == [1005] and calls[1001] == before and summary.status == "done"


def test_cancel_stops_between_frames_and_resume_finishes(tmp_path: Path) -> None:
    store, job_id, _ = _job(tmp_path, n=8, chunk=2)

    def on_frame(rec: dict[str, Any]) -> None:
        if rec["frame"] == 1003:
            store.cancel_job(job_id, who="test")

    summary = Runner(store, RunOptions(write_behind=1, read_ahead=1), on_frame=on_frame).run(job_id)
    assert summary.cancelled and summary.status == "cancelled"
    done = sorted(summary.done)
    assert 1003 in done and len(done) < 8
    counts = store.get_job(job_id)["frames"]
    assert counts["running"] == 0 and counts["done"] == len(done) and counts["pending"] == 8 - len(done)
    records = sorted(p.stem for p in (tmp_path / "out" / "records").glob("*.json"))
    assert records == [str(f) for f in done]
    summary = Runner(store).resume(job_id)
    assert summary.status == "done" and sorted(summary.skipped) == done
    assert store.get_job(job_id)["frames"]["done"] == 8


def _snapshot(records: Path) -> dict[str, tuple[int, bytes]]:
    """Final-named records only: a temp file of the killed writer is swept by the resume (checked below)."""
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in records.glob("*.json") if not is_temp_name(p.name)}


@pytest.mark.parametrize("seed", [3, 11, 29, 47])
def test_kill9_at_random_point_then_resume(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    n = 24
    pattern = make_plate(tmp_path / "plates", range(1001, 1001 + n), size=(160, 120))
    home = tmp_path / "home"
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "spec.json", plate=pattern, actor="ada", out=str(out), processor="passthrough", chunk=4)
    job_id = json.loads(recast("submit", str(spec), "--json", home=home, check=True).stdout)["job"]
    env = {**os.environ, "RECAST_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recast", "job", "run", job_id], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    target = rng.randint(0, n - 8)  # records written before the kill
    records = out / "records"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(records.glob("[0-9]*.json"))) >= target:
            break
        time.sleep(0.002)
    time.sleep(rng.random() * 0.03)  # land anywhere inside the next frame's read/compute/write
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _snapshot(records)
    stats = f"seed {seed}: target {target}, rc {proc.returncode}, {len(before)} records at kill"
    assert proc.returncode == -signal.SIGKILL, stats  # killed mid-run, not after it finished
    assert len(before) < n, stats

    res = recast("job", "resume", job_id, "--json", home=home)
    assert res.returncode == 0, res.stderr
    after = _snapshot(records)
    # every frame exactly once; frames finished before the kill were not redone
    assert sorted(after) == [f"{f}.json" for f in range(1001, 1001 + n)], stats
    for name, (mtime, data) in before.items():
        assert after[name] == (mtime, data), f"{name} was redone after resume ({stats})"
    comps = sorted(p.name for p in (out / "comp").iterdir())
    assert comps == [f"shot.{f}.exr" for f in range(1001, 1001 + n)]  # no temp files left anywhere
    assert not [p for p in out.rglob("*") if is_temp_name(p.name)]
    for f in (1001, 1001 + n - 1):
        assert same_pixels(read_plate(out / "comp" / f"shot.{f}.exr").pixels, read_plate(Path(pattern.replace("####", str(f)))).pixels)
    show = json.loads(recast("job", "show", job_id, "--json", home=home, check=True).stdout)
    assert show["status"] == "done" and show["frames"]["done"] == n and show["frames"]["pending"] == 0
    # the store agrees with the files, and an index rebuilt from the files equals it
    store = Store(home / "recast.db")
    indexed = {(r["frame"], r["take"], r["status"]) for r in store.frames(job_id)}
    fresh = Store(tmp_path / "fresh" / "recast.db")
    reindex(fresh, out)
    assert {(r["frame"], r["take"], r["status"]) for r in fresh.frames(job_id)} == indexed
    assert fresh.get_job(job_id)["status"] == "done"


def test_resume_refuses_while_a_live_worker_holds_frames(tmp_path: Path) -> None:
    store, job_id, _ = _job(tmp_path)
    store.claim_frames(job_id, 1, [1001], f"{os.uname().nodename}:{os.getppid()}")  # our parent: alive
    with pytest.raises(Exception, match="being run by"):
        Runner(store).resume(job_id)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = recast("submit", str(bad), home=home)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "invalid JSON" in res.stderr
    res = recast("job", "show", "nope", home=home)
    assert res.returncode == 2 and "'nope'" in res.stderr and "Traceback" not in res.stderr
    res = recast("job", "resume", "nope", "--json", home=home)
    assert res.returncode == 2 and "no such job" in res.stderr


def test_job_level_reference_reaches_the_processor(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", range(1001, 1004))
    store = Store(tmp_path / "db.db")
    spec = {"plate": pattern, "actor": "ada", "out": str(tmp_path / "out"), "processor": "passthrough", "reference": 1002}
    job_id = submit(store, JobSpec.from_dict(spec))
    seen: list[tuple[int, int | None]] = []

    def factory(job: FrameJob) -> FrameProcessor:
        seen.append((job.take, job.reference_frame))
        return PassthroughProcessor(job)

    Runner(store, processor_factory=factory).run(job_id)
    assert seen == [(1, 1002)]


def test_each_take_is_scored_when_its_frames_finish(tmp_path: Path) -> None:
    store, job_id, _ = _job(tmp_path, n=4)
    summary = Runner(store, RunOptions(pipelined=False)).run(job_id)
    assert summary.qc == {1: {"frames": 4, "pass": 4, "warn": 0, "fail": 0, "flagged": []}}
    assert sorted(store.scores(job_id)) == [(f, 1) for f in range(1001, 1005)]
    doc = json.loads((tmp_path / "out" / "qc" / "scores.json").read_text())
    assert doc["job"] == job_id and [f["frame"] for f in doc["frames"]] == list(range(1001, 1005))
    assert [a["action"] for a in store.audit_log(job_id)][-2:] == ["qc", "status:done"]
    assert store.get_job(job_id)["error"] is None


@pytest.mark.parametrize("pipelined", [True, False])
def test_frames_are_scored_as_they_are_written(tmp_path: Path, pipelined: bool) -> None:
    """Each frame is scored right after its write (on the write-behind thread when
    pipelined): the take-end QC finds every frame in the per-frame cache."""
    store, job_id, _ = _job(tmp_path, n=4)
    summary = Runner(store, RunOptions(pipelined=pipelined)).run(job_id)
    assert summary.status == "done" and summary.qc[1]["frames"] == 4
    cached = sorted(p.name for p in (tmp_path / "out" / "qc" / "frames" / "t001").glob("*.json"))
    assert cached == [f"{f}.json" for f in range(1001, 1005)]
    doc = json.loads((tmp_path / "out" / "qc" / "scores.json").read_text())
    assert doc["frames_scored"] == 0  # nothing left to score at the end of the take


def test_a_failing_frame_is_auto_flagged_and_the_job_still_scored(tmp_path: Path) -> None:
    store, job_id, _ = _job(tmp_path, n=4)
    calls: dict[str, Any] = {"transient": None, "broken": 1002}
    summary = Runner(store, RunOptions(pipelined=False, retries=0), processor_factory=lambda j: _Flaky(j, calls)).run(job_id)
    assert summary.status == "failed" and summary.qc[1]["flagged"] == [1002]
    flags = store.flags(job_id)
    assert [(f["frame"], f["take"], f["source"]) for f in flags] == [(1002, 1, "auto")] and "swap failed" in flags[0]["reason"]


def test_qc_off_in_the_spec_or_the_options(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", range(1, 4))
    store = Store(tmp_path / "home" / "recast.db")
    spec = JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(tmp_path / "a"), "processor": "passthrough", "qc": False})
    a = submit(store, spec)
    assert Runner(store).run(a).qc == {}
    b = submit(store, JobSpec.from_dict({**spec.to_dict(), "out": str(tmp_path / "b"), "qc": True}))
    assert Runner(store, RunOptions(qc=False)).run(b).qc == {}
    for job, out in ((a, "a"), (b, "b")):
        assert store.scores(job) == {} and not (tmp_path / out / "qc").exists()
        assert store.job_status(job) == "done"


def test_a_qc_failure_never_fails_the_job(tmp_path: Path) -> None:
    from recast.qc.scoring import QCOptions

    store, job_id, _ = _job(tmp_path, n=3)
    broken = tmp_path / "bad.toml"
    broken.write_text("[metrics.ssim_face\nfail = ")
    summary = Runner(store, RunOptions(qc_options=QCOptions(thresholds=broken))).run(job_id)
    assert summary.status == "done" and summary.qc == {} and len(summary.done) == 3
    job = store.get_job(job_id)
    assert job["status"] == "done" and job["frames"]["done"] == 3
    assert job["error"].startswith("QC of take 1 failed:") and "\n" not in job["error"]
    failed = [a for a in store.audit_log(job_id) if a["action"] == "qc:failed"]
    assert len(failed) == 1 and failed[0]["detail"]["take"] == 1 and str(broken) in failed[0]["detail"]["error"]


def test_resume_scores_a_take_whose_qc_was_interrupted(tmp_path: Path) -> None:
    store, job_id, _ = _job(tmp_path, n=3)
    Runner(store, RunOptions(qc=False)).run(job_id)
    store.set_job_status(job_id, "running")  # as if killed during QC: frames all done, no scores yet
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "out" / "qc" / "frames" / "t001" / f".1001.json.tmp-{dead.pid}-0badcafe.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{half a cache entry")
    summary = Runner(store).resume(job_id)
    assert not stale.exists()  # the killed scorer's temp file is swept
    assert summary.skipped and not summary.done and summary.qc[1]["frames"] == 3
    assert (tmp_path / "out" / "qc" / "scores.json").is_file() and len(store.scores(job_id)) == 3
    assert store.job_status(job_id) == "done"
    store.set_job_status(job_id, "running")
    assert Runner(store).resume(job_id).qc == {}  # scored and unchanged: not scored again
