"""Reindex from files: QC scores and auto flags come back from qc/scores*.json; approvals keep their times."""

from __future__ import annotations

import json
from pathlib import Path

from recast.pipeline.jobs.publish import set_approval
from recast.pipeline.jobs.reindex import reindex
from recast.pipeline.jobs.reprocess import reprocess
from recast.pipeline.jobs.runner import Runner, RunOptions, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from recast.qc.scoring import QCOptions, score_job
from tests.test_job_support import make_plate, recast


def _flags(store: Store, job: str) -> list[tuple]:
    return [(f["frame"], f["take"], f["source"], f["reason"], f["created"]) for f in store.flags(job) if f["source"] == "auto"]


def test_reindex_restores_scores_auto_flags_and_approval_times(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", range(1, 6))
    store = Store(tmp_path / "home" / "recast.db")
    out = tmp_path / "out"
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough"}))
    runner = Runner(store, RunOptions(pipelined=False))
    runner.run(job)  # take 1 scored by the runner
    (out / "comp" / "shot.0004.exr").unlink()
    score_job(out, QCOptions(), job_id=job, store=store)  # frame 4 of take 1 now fails and is auto-flagged
    reprocess(store, runner, job, [2, 4], None, {}, who="kim")  # take 2 scored by the runner
    set_approval(store, job, [1, 2], "kim")
    set_approval(store, job, [5], "lee", state="rejected")
    assert _flags(store, job) and store.scores(job, take=2)

    fresh = Store(tmp_path / "fresh" / "recast.db")
    res = reindex(fresh, out)
    assert res["qc"] == {"restored": [1, 2], "skipped": {}}
    assert fresh.scores(job) == store.scores(job)
    assert _flags(fresh, job) == _flags(store, job) == [(4, 1, "auto", _flags(store, job)[0][3], _flags(store, job)[0][4])]
    assert "comp file missing" in _flags(fresh, job)[0][3]
    assert fresh.approvals(job) == store.approvals(job)  # same take, who and *when*
    assert all(a["action"] not in ("approved", "rejected") for a in fresh.audit_log(job))  # no approvals made up now


def test_a_corrupt_scores_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", range(1, 4))
    out = tmp_path / "out"
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough"}))
    job = json.loads(recast("submit", str(spec), "--json", home=home, check=True).stdout)["job"]
    recast("job", "run", job, "--json", home=home, check=True)
    (out / "qc" / "scores.json").write_text("{not json")
    res = json.loads(recast("job", "reindex", str(out), "--json", home=tmp_path / "fresh", check=True).stdout)
    assert res["job"] == job and res["frames"]["done"] == 3
    assert res["qc"]["restored"] == [] and "not a QC scores file" in res["qc"]["skipped"]["1"]
    assert Store(tmp_path / "fresh" / "recast.db").scores(job) == {}
