"""Approve / reject / publish: versions v001, v002 ... never overwrite, manifests say what is inside."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from recast.pipeline.errors import JobError
from recast.pipeline.jobs.publish import publish, set_approval
from recast.pipeline.jobs.reindex import reindex
from recast.pipeline.jobs.runner import Runner, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from tests.test_job_support import files_under, make_plate, recast, write_spec


@pytest.fixture()
def done_job(tmp_path: Path) -> tuple[Store, str, Path, str]:
    pattern = make_plate(tmp_path / "plates", range(1001, 1007))
    store = Store(tmp_path / "home" / "recast.db")
    out = tmp_path / "out"
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough"}))
    Runner(store).run(job)
    return store, job, out, pattern


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_publish_twice_never_overwrites(done_job: tuple[Store, str, Path, str]) -> None:
    store, job, out, pattern = done_job
    with pytest.raises(JobError, match="no approved frames"):
        publish(store, job)
    picks = set_approval(store, job, [1001, 1002, 1003], "kim")
    assert picks == {1001: 1, 1002: 1, 1003: 1}
    set_approval(store, job, [1003], "lee", state="rejected")
    m1 = publish(store, job, "plate", by="kim")
    v1 = out / "publish" / "v001"
    assert m1["version"] == "v001" and Path(m1["path"]) == v1
    assert [(e["frame"], e["source"]) for e in m1["frames"]] == [
        (1001, "approved"), (1002, "approved"), (1003, "plate"), (1004, "plate"), (1005, "plate"), (1006, "plate")
    ]
    assert m1["frames"][0]["approved_by"] == "kim" and m1["by"] == "kim"
    # approved frames are the job's comp, filled frames the untouched plate, byte for byte
    assert _sha(v1 / "comp" / "shot.1001.exr") == _sha(out / "comp" / "shot.1001.exr")
    assert _sha(v1 / "comp" / "shot.1004.exr") == _sha(Path(pattern.replace("####", "1004")))
    assert not os.access(v1 / "comp" / "shot.1001.exr", os.W_OK) or os.geteuid() == 0
    assert oct((v1 / "manifest.json").stat().st_mode & 0o777) == "0o444"
    assert oct(v1.stat().st_mode & 0o777) == "0o555" and oct((v1 / "comp").stat().st_mode & 0o777) == "0o555"
    before = files_under(v1)

    m2 = publish(store, job, "none")
    v2 = out / "publish" / "v002"
    assert m2["version"] == "v002" and m2["filled"] == 0 and m2["approved"] == 2
    assert sorted(p.name for p in (v2 / "comp").iterdir()) == ["shot.1001.exr", "shot.1002.exr"]
    assert files_under(v1) == before  # v001 untouched
    # an interrupted publish (folder without manifest) is skipped, not reused
    (out / "publish" / "v003").mkdir()
    assert publish(store, job)["version"] == "v004"
    assert [v["version"] for v in store.versions(job)] == ["v001", "v002", "v004"]
    # reindex from files finds the versions and the approvals
    fresh = Store(out.parent / "fresh.db")
    res = reindex(fresh, out)
    assert res["versions"] == ["v001", "v002", "v004"]
    assert fresh.approvals(job) == store.approvals(job)  # times included: reindex does not re-stamp them


def test_approve_unfinished_frame_refused(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", range(1, 4))
    store = Store(tmp_path / "db.db")
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "a", "out": str(tmp_path / "o"), "processor": "passthrough"}))
    with pytest.raises(JobError, match="frame 1 has no finished result"):
        set_approval(store, job, [1], "kim")
    with pytest.raises(JobError, match="frame 7 is not one of its frames"):
        set_approval(store, job, [7], "kim")


def test_publish_cli_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", range(1001, 1004))
    spec = write_spec(tmp_path / "s.json", plate=pattern, actor="ada", out=str(tmp_path / "out"), processor="passthrough")
    job = json.loads(recast("submit", str(spec), "--json", home=home, check=True).stdout)["job"]
    recast("job", "run", job, home=home, check=True)
    res = recast("approve", job, "--frames", "all", "--by", "kim", "--json", home=home, check=True)
    assert json.loads(res.stdout)["frames"] == {"1001": 1, "1002": 1, "1003": 1}
    first = json.loads(recast("publish", job, "--json", home=home, check=True).stdout)
    second = json.loads(recast("publish", job, "--fill", "none", "--json", home=home, check=True).stdout)
    assert (first["version"], second["version"]) == ("v001", "v002")
    assert Path(second["path"]).name == "v002" and (Path(second["path"]) / "manifest.json").is_file()
    res = recast("publish", job, "--fill", "bogus", home=home)
    assert res.returncode == 2 and "--fill" in res.stderr
