"""JobSpec validation names the field; submit checks the plate, actors and output folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recast.pipeline.errors import ActorError, JobError, SpecError
from recast.pipeline.jobs.runner import Runner, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import Store
from tests.test_job_support import make_plate, recast, write_spec


def test_minimal_spec_and_defaults() -> None:
    s = JobSpec.from_dict({"plate": "/p/sh010_plate.####.exr", "actor": "ada", "out": "/o"})
    assert s.actor == "ada" and s.shot == "sh010_plate" and s.priority == 50 and s.frames is None
    assert s.processor == "engine" and s.owner and s.qc is True
    assert JobSpec.from_dict({**s.to_dict(), "qc": False}).qc is False
    again = JobSpec.from_dict(s.to_dict())
    assert again == s


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"plate": None}, "spec.plate"),
        ({"plate": 12}, "spec.plate"),
        ({"out": ""}, "spec.out"),
        ({"actor": "../etc"}, "spec.actor"),
        ({"actor": None}, "spec.actor"),
        ({"frames": "1001-1000"}, "spec.frames"),
        ({"frames": [1, "2"]}, "spec.frames"),
        ({"priority": 101}, "spec.priority"),
        ({"priority": True}, "spec.priority"),
        ({"settings": [1]}, "spec.settings"),
        ({"processor": "magic"}, "spec.processor"),
        ({"chunk": 0}, "spec.chunk"),
        ({"reference": "1001"}, "spec.reference"),
        ({"qc": "no"}, "spec.qc"),
        ({"qc": 0}, "spec.qc"),
        ({"colour": "x"}, "spec.colour"),
        ({"actors": {"left": "bad name"}}, "spec.actors.left"),
        ({"name": "a/b"}, "spec.name"),
        ({"selection": {"mode": "all"}}, "spec.selection"),
    ],
)
def test_invalid_fields_are_named(patch: dict, field: str) -> None:
    d = {"plate": "/p/a.####.exr", "actor": "ada", "out": "/o", **patch}
    d = {k: v for k, v in d.items() if not (v is None and k in ("plate", "actor"))}
    with pytest.raises(SpecError) as err:
        JobSpec.from_dict(d)
    assert str(err.value).startswith(field), str(err.value)
    assert "\n" not in str(err.value)


def test_frames_text_and_actor_map() -> None:
    s = JobSpec.from_dict({"plate": "/p/a.####.exr", "actors": {"left": "ada", "right": "bo"}, "out": "/o", "frames": "1001-1005x2,1010"})
    assert s.frames == [1001, 1003, 1005, 1010]
    assert s.actors == {"left": "ada", "right": "bo"} and s.actor == "ada"


def test_submit_checks_disk(tmp_path: Path) -> None:
    store = Store(tmp_path / "db" / "recast.db")
    pattern = make_plate(tmp_path / "plates", range(1, 4))
    with pytest.raises(SpecError, match=r"^spec.plate: .*no frames|^spec.plate: .*not found"):
        submit(store, JobSpec.from_dict({"plate": str(tmp_path / "none" / "x.####.exr"), "actor": "a", "out": str(tmp_path / "o")}))
    with pytest.raises(SpecError, match="spec.plate: .*frames not on disk: 9"):
        submit(store, JobSpec.from_dict({"plate": pattern, "actor": "a", "out": str(tmp_path / "o"), "frames": [1, 9]}))
    # engine settings are checked at submit, naming the setting
    with pytest.raises(SpecError, match=r"^settings.mask_blur"):
        submit(store, JobSpec.from_dict({"plate": pattern, "actor": "a", "out": str(tmp_path / "o"), "settings": {"mask_blur": 999}}))
    with pytest.raises(SpecError, match=r"^settings.selection"):
        submit(store, JobSpec.from_dict({"plate": pattern, "actor": "a", "out": str(tmp_path / "o"), "selection": "tallest"}))
    assert not (tmp_path / "o").exists()
    # the engine needs the actor installed
    with pytest.raises(ActorError, match="ghost"):
        submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ghost", "out": str(tmp_path / "o")}))
    j1 = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "a", "out": str(tmp_path / "o"), "processor": "passthrough"}))
    meta = json.loads((tmp_path / "o" / "job.json").read_text())
    assert meta["id"] == j1 and meta["frames"] == [1, 2, 3] and meta["layout"] == {"plate_name": "shot", "padding": 4}
    # the output sequence can be renamed
    spec = {"plate": pattern, "actor": "a", "out": str(tmp_path / "renamed"), "processor": "passthrough", "name": "sh010_comp_v1"}
    j2 = submit(store, JobSpec.from_dict(spec))
    Runner(store).run(j2)
    assert min(p.name for p in (tmp_path / "renamed" / "comp").iterdir()) == "sh010_comp_v1.0001.exr"
    # one output folder holds one job
    with pytest.raises(JobError, match="already holds job"):
        submit(store, JobSpec.from_dict({"plate": pattern, "actor": "a", "out": str(tmp_path / "o"), "processor": "passthrough"}))
    assert {j["id"] for j in store.list_jobs()} == {j1, j2}


def test_cli_submit_and_show_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", range(1001, 1004))
    spec = write_spec(tmp_path / "s.json", plate=pattern, actor="ada", out=str(tmp_path / "out"), processor="passthrough")
    res = recast("submit", str(spec), "--json", home=home, check=True)
    job = json.loads(res.stdout)["job"]
    show = json.loads(recast("job", "show", job, "--json", home=home, check=True).stdout)
    assert show["id"] == job and show["status"] == "queued"
    assert show["frames"]["pending"] == 3 and show["frames"]["done"] == 0 and show["frames"]["failed"] == 0
    listed = json.loads(recast("job", "list", "--json", home=home, check=True).stdout)["jobs"]
    assert [j["id"] for j in listed] == [job]
    bad = write_spec(tmp_path / "b.json", plate=pattern, actor="ada", out=str(tmp_path / "o2"), priority="high")
    res = recast("submit", str(bad), home=home)
    assert res.returncode == 2 and "spec.priority" in res.stderr and res.stderr.count("\n") == 1


def test_cli_cancel_then_resume(tmp_path: Path) -> None:
    """`recast job cancel` on a queued job: it does not run, says so, and resume finishes it."""
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", range(1001, 1004))
    spec = write_spec(tmp_path / "s.json", plate=pattern, actor="ada", out=str(tmp_path / "out"), processor="passthrough")
    job = json.loads(recast("submit", str(spec), "--json", home=home, check=True).stdout)["job"]
    res = json.loads(recast("job", "cancel", job, "--json", home=home, check=True).stdout)
    assert res == {"job": job, "status": "cancelled"}
    run = recast("job", "run", job, home=home)
    assert run.returncode != 0 and "cancelled" in run.stderr and run.stderr.count("\n") == 1
    assert not (tmp_path / "out" / "comp").exists()
    show = json.loads(recast("job", "show", job, "--json", home=home, check=True).stdout)
    assert show["status"] == "cancelled" and show["frames"]["pending"] == 3
    done = json.loads(recast("job", "resume", job, "--json", home=home, check=True).stdout)
    assert done["status"] == "done" and done["done"] == 3
    assert len(list((tmp_path / "out" / "comp").glob("*.exr"))) == 3
    bad = recast("job", "cancel", "no-such-job", home=home)
    assert bad.returncode != 0 and "no-such-job" in bad.stderr and bad.stderr.count("\n") == 1


def test_submit_records_absolute_paths(tmp_path: Path, monkeypatch) -> None:
    """A spec's relative plate and out are taken from the submitting folder and stored
    absolute, so the job resumes from anywhere."""
    from recast.pipeline.jobs.runner import Runner, submit
    from recast.pipeline.jobs.spec import JobSpec
    from recast.pipeline.jobs.store import Store

    make_plate(tmp_path / "plates", range(1, 3))
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "home" / "recast.db")
    job = submit(store, JobSpec.from_dict({"plate": "plates/shot.####.exr", "actor": "ada", "out": "out", "processor": "passthrough"}))
    spec = store.get_job(job)["spec"]
    assert spec["plate"] == str(tmp_path / "plates" / "shot.####.exr") and spec["out"] == str(tmp_path / "out")
    monkeypatch.chdir(tmp_path / "plates")
    assert Runner(store).run(job).status == "done"
    assert len(list((tmp_path / "out" / "comp").glob("*.exr"))) == 2
