"""Reprocess: a new take of only the listed frames, old takes kept, reference and overrides recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recast.pipeline.errors import JobError, SpecError
from recast.pipeline.jobs.processors import FrameJob, reference_record
from recast.pipeline.jobs.publish import publish, set_approval
from recast.pipeline.jobs.reindex import reindex
from recast.pipeline.jobs.reprocess import current_takes, parse_overrides, reprocess
from recast.pipeline.jobs.runner import Runner, load_job, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from tests.test_job_support import files_under, make_plate, recast, write_spec


def test_parse_overrides_types() -> None:
    assert parse_overrides(["mask_blur=4.5", "color=false", "selection=left", "reference=\"1001:0\""]) == {
        "mask_blur": 4.5,
        "color": False,
        "selection": "left",
        "reference": "1001:0",
    }
    with pytest.raises(SpecError, match="--set 'oops'"):
        parse_overrides(["oops"])


def test_reprocess_touches_only_listed_frames(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", range(1001, 1009))
    store = Store(tmp_path / "home" / "recast.db")
    out = tmp_path / "out"
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough"}))
    Runner(store).run(job)
    take1 = files_under(out)
    s = reprocess(store, Runner(store), job, [1003, 1004], 1001, {"mask_blur": 6}, who="kim")
    assert s.take == 2 and sorted(s.done) == [1003, 1004]
    # take 1 untouched, take 2 has exactly the listed frames
    assert {k: v for k, v in files_under(out).items() if k in take1} == take1
    t2 = out / "takes" / "t002"
    assert sorted(p.name for p in (t2 / "records").iterdir()) == ["1003.json", "1004.json"]
    assert sorted(p.name for p in (t2 / "comp").iterdir()) == ["shot.1003.exr", "shot.1004.exr"]
    info = json.loads((t2 / "take.json").read_text())
    assert info["reference_frame"] == 1001 and info["overrides"] == {"mask_blur": 6} and info["created_by"] == "kim"
    rec = json.loads((t2 / "records" / "1003.json").read_text())
    assert rec["take"] == 2 and rec["settings"]["mask_blur"] == 6
    job_d = store.get_job(job)
    assert [t["take"] for t in job_d["takes"]] == [1, 2] and job_d["takes"][1]["frames"]["done"] == 2
    assert store.references(job) == [1001]
    # the newest take is current; approving picks it; the engine is pointed at the reference's liked record
    _, spec, layout = load_job(store, job)
    assert current_takes(store, job, layout, [1002, 1003]) == {1002: 1, 1003: 2}
    fj = FrameJob(job, spec, layout, take=3, reference_frame=1003)
    assert reference_record(fj) == t2 / "records" / "1003.json"
    set_approval(store, job, [1003], "kim", take=1)  # the reviewer prefers take 1 after all
    assert current_takes(store, job, layout, [1003]) == {1003: 1}
    assert reference_record(fj) == out / "records" / "1003.json"
    set_approval(store, job, [1004], "kim")
    m = publish(store, job, "none")
    assert [(e["frame"], e["take"]) for e in m["frames"]] == [(1003, 1), (1004, 2)]
    # a third take numbers on
    assert reprocess(store, Runner(store), job, [1008], None, {}).take == 3
    assert (out / "takes" / "t003" / "records" / "1008.json").is_file()
    # an index rebuilt from the files has the same takes and frame states
    fresh = Store(tmp_path / "fresh.db")
    reindex(fresh, out)
    assert fresh.frames(job) and [(r["frame"], r["take"], r["status"]) for r in fresh.frames(job)] == [
        (r["frame"], r["take"], r["status"]) for r in store.frames(job)
    ]
    strip = [{k: t[k] for k in ("take", "reference_frame", "overrides", "frames")} for t in store.takes(job)]
    assert [{k: t[k] for k in ("take", "reference_frame", "overrides", "frames")} for t in fresh.takes(job)] == strip


def test_reprocess_refusals(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", range(1, 5))
    store = Store(tmp_path / "db.db")
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "a", "out": str(tmp_path / "o"), "processor": "passthrough"}))
    with pytest.raises(JobError, match="--reference 2: that frame has no finished result"):
        reprocess(store, Runner(store), job, [1], 2, {})
    Runner(store).run(job)
    with pytest.raises(JobError, match="frame 9 is not one of its frames"):
        reprocess(store, Runner(store), job, [9], 2, {})
    with pytest.raises(JobError, match="--reference 77"):
        reprocess(store, Runner(store), job, [1], 77, {})
    assert [t["take"] for t in store.takes(job)] == [1]  # nothing created by refused requests
    assert not (tmp_path / "o" / "takes").exists()


def test_reprocess_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", range(1001, 1005))
    spec = write_spec(tmp_path / "s.json", plate=pattern, actor="ada", out=str(tmp_path / "out"), processor="passthrough")
    job = json.loads(recast("submit", str(spec), "--json", home=home, check=True).stdout)["job"]
    recast("job", "run", job, home=home, check=True)
    res = recast("reprocess", job, "--frames", "1002", "--reference", "1001", "--set", "color_strength=0.5", "--json", home=home, check=True)
    d = json.loads(res.stdout)
    assert d["take"] == 2 and d["done"] == 1
    show = json.loads(recast("job", "show", job, "--json", home=home, check=True).stdout)
    assert [t["take"] for t in show["takes"]] == [1, 2]
