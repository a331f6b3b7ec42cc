"""The SQLite job store: schema, contract methods used by QC, claims under concurrency."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recast.pipeline.errors import JobError, SpecError
from recast.pipeline.jobs.store import Store, default_db_path


def _spec(out: Path) -> dict:
    return {"plate": "/plates/a.####.exr", "actor": "ada", "out": str(out), "shot": "sh010", "owner": "kim", "priority": 60}


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "db" / "recast.db")
    s.create_job("j1", _spec(tmp_path / "out"), [1001, 1002, 1003])
    return s


def test_default_path_follows_recast_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECAST_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "recast.db"
    s = Store.open_default()
    assert s.path.is_file()
    con = sqlite3.connect(s.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_job_roundtrip_and_counts(store: Store) -> None:
    job = store.get_job("j1")
    assert job["status"] == "queued"
    assert job["shot"] == "sh010" and job["priority"] == 60
    assert job["frames"] == {"pending": 3, "running": 0, "done": 0, "failed": 0}
    assert job["spec"]["actor"] == "ada"
    store.finish_frame("j1", 1002, 1, "done")
    store.finish_frame("j1", 1003, 1, "failed", error="boom\nsecond line")
    job = store.get_job("j1")
    assert job["frames"]["done"] == 1 and job["frames"]["failed"] == 1 and job["frames"]["pending"] == 1
    failed = [f for f in store.frames("j1") if f["status"] == "failed"]
    assert failed[0]["error"] == "boom second line"
    with pytest.raises(JobError, match="'nope'"):
        store.get_job("nope")
    with pytest.raises(JobError, match="already exists"):
        store.create_job("j1", _spec(Path("/x")), [1])


def test_list_jobs_since(store: Store, tmp_path: Path) -> None:
    store.create_job("j2", _spec(tmp_path / "o2"), [1])
    ids = [j["id"] for j in store.list_jobs()]
    assert set(ids) == {"j1", "j2"}
    future = datetime.now(UTC) + timedelta(hours=1)
    assert store.list_jobs(since=future) == []
    past = datetime.now(UTC) - timedelta(hours=1)
    assert len(store.list_jobs(since=past)) == 2


def test_scores_upsert_and_none(store: Store) -> None:
    store.put_scores("j1", 1001, 1, {"identity": 0.8, "lpips": None, "flicker": float("nan")})
    store.put_scores("j1", 1001, 1, {"identity": 0.9})
    store.put_scores("j1", 1001, 2, {"identity": 0.5})
    got = store.scores("j1")
    assert got[(1001, 1)] == {"identity": 0.9, "lpips": None, "flicker": None}
    assert got[(1001, 2)] == {"identity": 0.5}
    assert list(store.scores("j1", take=2)) == [(1001, 2)]
    with pytest.raises(SpecError, match="scores.identity"):
        store.put_scores("j1", 1001, 1, {"identity": "high"})  # type: ignore[dict-item]
    with pytest.raises(JobError):
        store.put_scores("zz", 1001, 1, {"identity": 0.1})


def test_flags_auto_and_reviewer(store: Store) -> None:
    a = store.add_flag("j1", 1001, "auto", "identity below 0.4")
    b = store.add_flag("j1", 1002, "auto", "flicker")
    r = store.add_flag("j1", 1002, "reviewer", "wrong face", note="use ref 1001", author="kim")
    assert len({a, b, r}) == 3
    store.clear_auto_flags("j1", [1002])
    left = store.flags("j1")
    assert [(f["frame"], f["source"]) for f in left] == [(1001, "auto"), (1002, "reviewer")]
    assert left[1]["note"] == "use ref 1001" and left[1]["author"] == "kim"
    store.clear_auto_flags("j1")
    assert [f["source"] for f in store.flags("j1")] == ["reviewer"]
    with pytest.raises(SpecError, match="flag source"):
        store.add_flag("j1", 1001, "robot", "x")
    actions = [a["action"] for a in store.audit_log("j1")]
    assert "flag" in actions and "submit" in actions


def test_auto_flags_are_cleared_per_take(store: Store) -> None:
    store.add_flag("j1", 1002, "auto", "flicker", take=1)
    store.add_flag("j1", 1002, "auto", "identity", take=2)
    store.add_flag("j1", 1002, "reviewer", "wrong face", author="kim", take=2)
    store.clear_auto_flags("j1", [1002], take=2)  # take 2 rescored: take 1's verdict on that frame stays
    assert [(f["source"], f["take"], f["reason"]) for f in store.flags("j1")] == [("auto", 1, "flicker"), ("reviewer", 2, "wrong face")]
    store.clear_auto_flags("j1", take=1)
    assert [f["source"] for f in store.flags("j1")] == ["reviewer"]


def test_old_store_gains_the_flag_take_column(tmp_path: Path) -> None:
    path = tmp_path / "old" / "recast.db"
    path.parent.mkdir()
    con = sqlite3.connect(path)
    con.executescript(
        """CREATE TABLE jobs (id TEXT PRIMARY KEY, shot TEXT NOT NULL, owner TEXT, priority INTEGER NOT NULL DEFAULT 50,
        out TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL, error TEXT, created TEXT NOT NULL, updated TEXT NOT NULL);
        CREATE TABLE flags (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, frame INTEGER NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('auto','reviewer')), reason TEXT NOT NULL, note TEXT, author TEXT, created TEXT NOT NULL);
        INSERT INTO jobs VALUES ('j0', 'sh', 'kim', 50, '/o', '{"out": "/o"}', 'done', NULL, '2024-01-01', '2024-01-01');
        INSERT INTO flags(job_id, frame, source, reason, created) VALUES ('j0', 5, 'auto', 'old flag', '2024-01-01');"""
    )
    con.commit()
    con.close()
    s = Store(path)
    assert [(f["frame"], f["take"], f["reason"]) for f in s.flags("j0")] == [(5, None, "old flag")]
    s.add_flag("j0", 5, "auto", "take 2 flag", take=2)
    s.clear_auto_flags("j0", [5], take=2)  # an old (take-less) auto flag counts as take 1's
    assert [f["reason"] for f in s.flags("j0")] == ["old flag"]
    s.clear_auto_flags("j0", [5], take=1)
    assert s.flags("j0") == []
    Store(path)  # opening again is a no-op
    assert "take" in {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(flags)")}


def test_takes_approvals_versions(store: Store, tmp_path: Path) -> None:
    t = store.add_take("j1", [1002], reference_frame=1001, overrides={"mask_blur": 4.0}, who="kim")
    assert t == 2
    job = store.get_job("j1")
    assert [x["take"] for x in job["takes"]] == [1, 2]
    assert job["takes"][1]["frames"]["pending"] == 1 and job["takes"][1]["overrides"] == {"mask_blur": 4.0}
    store.set_approval("j1", {1001: 1, 1002: 2}, "approved", "kim")
    store.set_approval("j1", {1003: 1}, "rejected", "lee")
    ap = store.approvals("j1")
    assert ap[1002]["take"] == 2 and ap[1003]["state"] == "rejected"
    with pytest.raises(SpecError, match="by"):
        store.set_approval("j1", {1001: 1}, "approved", " ")
    store.add_version("j1", "v001", tmp_path / "publish" / "v001", {"frames": [1001]}, by="kim")
    assert [v["version"] for v in store.versions("j1")] == ["v001"]
    store.set_reference("j1", 1001, by="kim")
    assert store.references("j1") == [1001]


def test_claims_are_exclusive_across_threads(store: Store) -> None:
    got: dict[str, list[int]] = {}

    def worker(name: str) -> None:
        got[name] = store.claim_frames("j1", 1, [1001, 1002, 1003], name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = sorted(f for v in got.values() for f in v)
    assert claimed == [1001, 1002, 1003]  # every frame claimed exactly once
    assert store.get_job("j1")["frames"]["running"] == 3
    store.release_frames("j1", 1, [1001, 1002, 1003])
    assert store.get_job("j1")["frames"]["pending"] == 3


def test_cancel_and_bad_store_path(store: Store, tmp_path: Path) -> None:
    assert store.cancel_job("j1", who="kim") == "cancelled"
    assert store.job_status("j1") == "cancelled"
    bad = tmp_path / "notadb.db"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(JobError, match="notadb.db"):
        Store(bad)
