"""QC of jobs with sparse frame lists and reprocess takes: expected frames from the job files, flags per take."""

from __future__ import annotations

from pathlib import Path

from recast.pipeline.jobs.reprocess import reprocess
from recast.pipeline.jobs.runner import Runner, RunOptions, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from recast.qc.scoring import QCOptions, score_job
from tests.test_job_support import make_plate


def _run_job(tmp_path: Path, frames: str | None = None) -> tuple[Store, str, Path]:
    pattern = make_plate(tmp_path / "plates", range(1, 9))
    store = Store(tmp_path / "home" / "recast.db")
    d = {"plate": pattern, "actor": "ada", "out": str(tmp_path / "out"), "processor": "passthrough"}
    if frames is not None:
        d["frames"] = frames
    job = submit(store, JobSpec.from_dict(d))
    Runner(store, RunOptions(pipelined=False)).run(job)
    return store, job, tmp_path / "out"


def _auto(store: Store, job: str) -> list[tuple[int, int | None]]:
    return [(f["frame"], f["take"]) for f in store.flags(job) if f["source"] == "auto"]


def test_frames_outside_a_sparse_spec_are_not_missing(tmp_path: Path) -> None:
    store, job, out = _run_job(tmp_path, frames="2,5-6")
    doc = score_job(out, QCOptions(identity=False), job_id=job, store=store)
    assert [f["frame"] for f in doc["frames"]] == [2, 5, 6]
    assert doc["summary"]["fail"] == 0 and not any("missing frame" in r for f in doc["frames"] for r in f["reasons"])
    assert _auto(store, job) == []
    assert sorted(store.scores(job, take=1)) == [(2, 1), (5, 1), (6, 1)]


def test_a_reprocess_take_is_scored_on_its_own_frames_and_keeps_take_1_flags(tmp_path: Path) -> None:
    store, job, out = _run_job(tmp_path)
    (out / "comp" / "shot.0003.exr").unlink()  # take 1 frame 3 is now broken
    doc1 = score_job(out, QCOptions(identity=False), job_id=job, store=store)
    assert doc1["summary"]["flagged"] == [3]
    assert _auto(store, job) == [(3, 1)]

    reprocess(store, Runner(store, RunOptions(pipelined=False)), job, [3, 7], None, {}, who="kim")
    doc2 = score_job(out, QCOptions(identity=False, take=2), job_id=job, store=store)
    assert [f["frame"] for f in doc2["frames"]] == [3, 7]  # not 3..7 with 4-6 "missing"
    assert doc2["summary"]["fail"] == 0
    # take 2's good frame 3 does not wipe take 1's verdict on its own frame 3
    assert _auto(store, job) == [(3, 1)]
    assert sorted(store.scores(job, take=2)) == [(3, 2), (7, 2)]
    # rescoring take 1 replaces take 1's flags only
    (out / "records" / "0005.json").unlink()
    doc1b = score_job(out, QCOptions(identity=False), job_id=job, store=store)
    assert doc1b["summary"]["flagged"] == [3, 5] and "missing frame" in " ".join(doc1b["frames"][4]["reasons"])
    assert _auto(store, job) == [(3, 1), (5, 1)]
