"""Service hardening over real HTTP: the token before the body, a streamed body limit,
docs behind the token, whole-spec validation at submit, OS path errors as 4xx, store
routes bound to the roots, and ``interrupted`` for a job whose runner died (kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recast.pipeline.jobs.store import Store
from recast.pipeline.service.app import ServiceConfig
from recast.pipeline.service.server import RunningServer, start_in_thread
from tests.test_job_support import REPO, make_plate, recast, write_spec

TOKEN = "s3cret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture()
def server(tmp_path: Path, root: Path) -> Iterator[RunningServer]:
    cfg = ServiceConfig(roots=[root.resolve()], store_path=tmp_path / "home" / "recast.db", token=TOKEN, workers=1,
                        max_body=100_000)
    s = start_in_thread(cfg)
    yield s
    s.stop()


def test_token_is_checked_before_the_body_and_bodies_are_bounded(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/jobs", content=b"{not json", headers={"content-type": "application/json"}).status_code == 401
        big = b"x" * 50_000_000  # 50 MB without a token: refused on its headers
        assert c.post("/jobs", content=big, headers={"content-type": "application/json"}).status_code == 401
        r = c.post("/jobs", content=b" " * 200_000, headers={**AUTH, "content-type": "application/json"})
        assert r.status_code == 413 and "larger than 100000 bytes" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            for _ in range(100):
                yield b" " * 10_000

        r = c.post("/jobs", content=chunks(), headers={**AUTH, "content-type": "application/json"})
        assert r.status_code == 413, r.text
        # docs and schema need the token too; health does not
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert c.get(path).status_code == 401
        assert c.get("/openapi.json", headers=AUTH).status_code == 200
        assert c.get("/health").status_code == 200


def test_specs_that_cannot_run_are_refused_at_submit(server: RunningServer, root: Path) -> None:
    pattern = make_plate(root / "plates", range(1, 3))
    with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
        two = {"plate": pattern, "out": str(root / "o1"), "actors": {"a": "ada", "b": "bob"}}
        r = c.post("/jobs", json=two)
        assert r.status_code == 400 and "need selection 'reference'" in r.json()["detail"], r.text
        cs = {"plate": pattern, "out": str(root / "o2"), "actor": "ada", "settings": {"colorspace": "NotASpace"}}
        r = c.post("/jobs", json=cs)
        assert r.status_code == 400 and "'NotASpace' is not a colourspace" in r.json()["detail"], r.text
        assert c.get("/jobs").json()["jobs"] == []  # nothing was queued


def test_symlink_loop_is_a_4xx_with_its_cause(server: RunningServer, root: Path) -> None:
    os.symlink(root / "loop_b", root / "loop_a")
    os.symlink(root / "loop_a", root / "loop_b")
    with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
        for plate in (root / "loop_a" / "shot.####.exr", root / "loop_a"):
            r = c.post("/jobs", json={"plate": str(plate), "out": str(root / "o"), "actor": "ada", "processor": "passthrough"})
            assert 400 <= r.status_code < 500, r.text
            assert "\n" not in r.json()["detail"]


def test_store_routes_refuse_jobs_outside_the_roots(tmp_path: Path, server: RunningServer) -> None:
    from recast.pipeline.jobs.runner import Runner, submit
    from recast.pipeline.jobs.spec import JobSpec

    outside = tmp_path / "elsewhere"
    pattern = make_plate(outside / "plates", range(1, 3))
    store = Store(tmp_path / "home" / "recast.db")
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(outside / "out"), "processor": "passthrough"}))
    Runner(store).run(job)
    with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
        for url, body in (
            (f"/jobs/{job}/cancel", None),
            (f"/jobs/{job}/flags", {"frame": 1, "reason": "x", "author": "kim"}),
            (f"/jobs/{job}/reference", {"frame": 1}),
        ):
            r = c.post(url, json=body)
            assert r.status_code == 403 and "outside the allowed roots" in r.json()["detail"], (url, r.text)
    assert store.get_job(job)["status"] == "done" and store.flags(job) == [] and store.references(job) == []


def test_read_routes_refuse_jobs_outside_the_roots(tmp_path: Path, root: Path, server: RunningServer) -> None:
    """Every GET route for a job answers 403 (one line, nothing read) for a job whose files lie
    outside the roots, and 200 for the same kind of job inside them; the listing omits the outside one."""
    from recast.pipeline.jobs.runner import Runner, submit
    from recast.pipeline.jobs.spec import JobSpec

    store = Store(tmp_path / "home" / "recast.db")  # the service's store; the jobs came from the CLI
    jobs = {}
    for where, base in (("inside", root), ("outside", tmp_path / "elsewhere")):
        pattern = make_plate(base / "plates", range(1, 3))
        spec = {"plate": pattern, "actor": "ada", "out": str(base / "out"), "processor": "passthrough", "qc": False}
        jobs[where] = submit(store, JobSpec.from_dict(spec))
        Runner(store).run(jobs[where])
        store.add_flag(jobs[where], 1, "reviewer", "eyes drift", None, "kim")
    routes = ("", "/frames", "/frames/1/record", "/scores", "/flags", "/review", "/qc", "/audit")
    with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
        for route in routes:
            ok = c.get(f"/jobs/{jobs['inside']}{route}")
            assert ok.status_code == 200, (route, ok.text)
            r = c.get(f"/jobs/{jobs['outside']}{route}")
            assert r.status_code == 403, (route, r.text)
            detail = r.json()["detail"]
            assert "outside the allowed roots" in detail and "\n" not in detail, (route, detail)
            assert jobs["outside"] not in r.text.replace(detail, "")  # nothing of the job but the refusal
        assert [j["id"] for j in c.get("/jobs").json()["jobs"]] == [jobs["inside"]]
        assert c.get(f"/jobs/{jobs['inside']}/flags").json()["flags"][0]["reason"] == "eyes drift"
        assert c.get(f"/jobs/{jobs['inside']}/frames").json()["frames"][0]["frame"] == 1


def test_submit_missing_black_accepts_frames_not_on_disk(server: RunningServer, root: Path) -> None:
    pattern = make_plate(root / "plates", (1, 2, 4))  # 3 is missing
    body = {"plate": pattern, "actor": "ada", "processor": "passthrough", "qc": False, "frames": [2, 3]}
    with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
        r = c.post("/jobs", json={**body, "out": str(root / "o1")})
        assert r.status_code == 400 and "frames not on disk: 3" in r.json()["detail"], r.text
        r = c.post("/jobs", json={**body, "out": str(root / "o2"), "missing": "black"})
        assert r.status_code == 201, r.text
        job = r.json()["job"]
        deadline = time.monotonic() + 60
        while c.get(f"/jobs/{job}").json()["status"] != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        rec = c.get(f"/jobs/{job}/frames/3/record").json()
        assert (rec["status"], rec["missing"]) == ("passthrough", "black")


def test_killed_runner_shows_interrupted(tmp_path: Path) -> None:
    pattern = make_plate(tmp_path / "plates", range(1, 41), size=(160, 120))
    home = tmp_path / "home"
    spec = write_spec(tmp_path / "spec.json", plate=pattern, actor="a", out=str(tmp_path / "out"), processor="passthrough",
                      chunk=1, qc=False)
    job = recast("submit", str(spec), home=home, check=True).stdout.strip()
    proc = subprocess.Popen([sys.executable, "-m", "recast", "job", "run", job], cwd=REPO,
                            env={**os.environ, "RECAST_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = tmp_path / "out" / "records"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not records.is_dir() or len(list(records.glob("[0-9]*.json"))) < 3):
        time.sleep(0.005)
    assert proc.poll() is None
    assert Store(home / "recast.db").get_job(job)["status"] == "running"  # alive: running
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert Store(home / "recast.db").get_job(job)["status"] == "interrupted"
    assert "interrupted" in recast("job", "show", job, home=home).stdout
    res = recast("job", "resume", job, home=home)
    assert res.returncode == 0 and Store(home / "recast.db").get_job(job)["status"] == "done"


def test_publish_right_after_done_waits_for_the_exiting_worker(tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store shows a job done before its worker has left the pool (a worker process is
    still exiting): a publish in that moment waits for it instead of a 409. A job that is
    still running is refused at once."""
    from recast.pipeline.service import workers

    real = workers.run_task

    def run_then_exit_slowly(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(1.0)  # what a worker process's interpreter teardown costs, stretched

    monkeypatch.setattr(workers, "run_task", run_then_exit_slowly)
    cfg = ServiceConfig(roots=[root.resolve()], store_path=tmp_path / "home" / "recast.db", token=TOKEN, workers=1,
                        worker_processes=False)
    server = start_in_thread(cfg)
    try:
        pattern = make_plate(root / "plates", (1, 2))
        body = {"plate": pattern, "actor": "ada", "processor": "passthrough", "qc": False, "out": str(root / "o")}
        with httpx.Client(base_url=server.url, timeout=30, headers=AUTH) as c:
            r = c.post("/jobs", json=body)
            assert r.status_code == 201, r.text
            job = r.json()["job"]
            deadline = time.monotonic() + 60
            while c.get(f"/jobs/{job}").json()["status"] != "done" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert c.get(f"/jobs/{job}").json()["busy"] is True  # done in the store, the worker not gone yet
            assert c.post(f"/jobs/{job}/approve", json={"frames": "all", "by": "kim"}).status_code == 200
            r = c.post(f"/jobs/{job}/publish", json={"by": "kim"})
            assert r.status_code == 201, r.text
            assert r.json()["version"] == "v001"
    finally:
        server.stop()
