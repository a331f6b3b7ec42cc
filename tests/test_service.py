"""The local service over real HTTP on loopback: concurrent jobs, review flow, security, bad requests."""

from __future__ import annotations

import concurrent.futures as cf
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from recast.pipeline.jobs.store import Store
from recast.pipeline.service.app import ServiceConfig
from recast.pipeline.service.security import (
    AccessError,
    check_bind,
    inside_roots,
    is_loopback,
    token_ok,
)
from recast.pipeline.service.server import RunningServer, start_in_thread
from tests.test_job_support import make_plate, recast

TOKEN = "s3cret-token-0123456789"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    r.mkdir()
    return r


def _server(tmp_path: Path, root: Path, token: str | None = None) -> RunningServer:
    cfg = ServiceConfig(roots=[root.resolve()], store_path=tmp_path / "home" / "recast.db", token=token, workers=2, proxy_max=32)
    return start_in_thread(cfg)


@pytest.fixture()
def server(tmp_path: Path, root: Path) -> Iterator[RunningServer]:
    s = _server(tmp_path, root)
    yield s
    s.stop()


def _wait_done(client: httpx.Client, job: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = client.get(f"/jobs/{job}").json()
        if d["status"] in ("done", "failed", "cancelled") and not d["busy"]:
            return d
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not finish: {d}")


def test_concurrent_submits_all_complete(server: RunningServer, root: Path) -> None:
    pattern = make_plate(root / "plates", range(1001, 1007))

    def one(i: int) -> str:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            r = c.post("/jobs", json={"plate": pattern, "actor": "ada", "out": str(root / f"out{i}"), "processor": "passthrough", "chunk": 2})
            assert r.status_code == 201, r.text
            return r.json()["job"]

    with cf.ThreadPoolExecutor(4) as ex:
        jobs = list(ex.map(one, range(4)))
    assert len(set(jobs)) == 4
    with httpx.Client(base_url=server.url, timeout=30) as c:
        # the API answers while workers run
        t0 = time.monotonic()
        assert c.get("/health").json()["ok"] is True
        assert time.monotonic() - t0 < 5
        for j in jobs:
            d = _wait_done(c, j)
            assert d["status"] == "done" and d["frames"]["done"] == 6
        assert {j["id"] for j in c.get("/jobs").json()["jobs"]} == set(jobs)
        assert sorted(p.name for p in (root / "out2" / "records").iterdir()) == [f"{f}.json" for f in range(1001, 1007)]


def test_review_flow_over_http(server: RunningServer, root: Path) -> None:
    pattern = make_plate(root / "plates", range(1, 5))
    with httpx.Client(base_url=server.url, timeout=30) as c:
        job = c.post("/jobs", json={"plate": pattern, "actor": "ada", "out": str(root / "out"), "processor": "passthrough"}).json()["job"]
        _wait_done(c, job)
        rec = c.get(f"/jobs/{job}/frames/2/record").json()
        assert rec["frame"] == 2 and rec["status"] == "passthrough"
        png = c.get(f"/jobs/{job}/frames/2/proxy")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
        import cv2

        img = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_UNCHANGED)
        assert max(img.shape[:2]) == 32 and img.std() > 5  # downscaled, real picture content
        plate_png = c.get(f"/jobs/{job}/frames/2/proxy", params={"kind": "plate"})
        assert plate_png.status_code == 200 and plate_png.content == png.content  # passthrough: comp == plate
        assert c.get(f"/jobs/{job}/frames/2/proxy", params={"kind": "element"}).status_code == 404  # no face, no element
        assert c.get(f"/jobs/{job}/frames/2/proxy", params={"kind": "depth"}).status_code == 422
        assert c.get(f"/jobs/{job}/frames/9/record").status_code == 404
        fid = c.post(f"/jobs/{job}/flags", json={"frame": 3, "reason": "eyes drift", "author": "kim"}).json()["id"]
        assert [f["id"] for f in c.get(f"/jobs/{job}/flags").json()["flags"]] == [fid]
        assert c.post(f"/jobs/{job}/flags", json={"frame": 99, "reason": "x", "author": "kim"}).status_code == 422
        assert c.post(f"/jobs/{job}/reference", json={"frame": 1, "by": "kim"}).json()["references"] == [1]
        r = c.post(f"/jobs/{job}/reprocess", json={"frames": "3", "reference": 1, "set": {"mask_blur": 3}, "by": "kim"})
        assert r.status_code == 202 and r.json()["take"] == 2
        d = _wait_done(c, job)
        assert d["takes"][1]["frames"]["done"] == 1
        assert c.post(f"/jobs/{job}/approve", json={"frames": "1-3", "by": "kim"}).json()["frames"] == {"1": 1, "2": 1, "3": 2}
        assert c.post(f"/jobs/{job}/reject", json={"frames": [4], "by": "lee"}).json()["state"] == "rejected"
        assert c.post(f"/jobs/{job}/approve", json={"frames": [7], "by": "kim"}).status_code == 409
        v1 = c.post(f"/jobs/{job}/publish", json={"fill": "plate"}).json()
        assert (v1["approved"], v1["filled"]) == (3, 1)
        v2 = c.post(f"/jobs/{job}/publish", json={"fill": "none"}).json()
        assert (v1["version"], v2["version"]) == ("v001", "v002")
        assert Path(v2["path"]).is_relative_to(root.resolve())
        # the workers scored each take when its frames finished: take 1's four frames, take 2's frame 3
        scores = c.get(f"/jobs/{job}/scores").json()["scores"]
        assert [(s["frame"], s["take"]) for s in scores] == [(1, 1), (2, 1), (3, 1), (3, 2), (4, 1)]
        for s in scores:  # passthrough: no swapped face, so the face metrics are null
            assert s["scores"]["ssim_face"] is None and "id_actor" in s["scores"] and "lpips" in s["scores"]
        assert [s["scores"]["missing_faces"] for s in scores if s["take"] == 1] == [0.0] * 4  # no face lost along the take
        assert [s["frame"] for s in c.get(f"/jobs/{job}/scores", params={"take": 2}).json()["scores"]] == [3]
        assert [f["source"] for f in c.get(f"/jobs/{job}/flags").json()["flags"]] == ["reviewer"]
        assert (root / "out" / "qc" / "scores.json").is_file() and (root / "out" / "qc" / "scores_t002.json").is_file()
        assert c.get("/actors").status_code == 200


def test_paths_outside_roots_are_refused(server: RunningServer, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    pattern = make_plate(outside / "plates", range(1, 3))
    inside = make_plate(root / "plates", range(1, 3))
    (root / "link").symlink_to(outside, target_is_directory=True)
    store = Store(tmp_path / "home" / "recast.db")
    cases = [
        ({"plate": pattern, "out": str(root / "o1")}, "spec.plate"),  # plate outside
        ({"plate": str(root / ".." / "outside" / "plates" / "shot.####.exr"), "out": str(root / "o2")}, "'..'"),
        ({"plate": str(root / "link" / "plates" / "shot.####.exr"), "out": str(root / "o3")}, "outside the allowed roots"),
        ({"plate": inside, "out": str(root / "link" / "o4")}, "spec.out"),  # output through a symlink
        ({"plate": inside, "out": str(outside / "o5")}, "spec.out"),
        ({"plate": "plates/shot.####.exr", "out": str(root / "o6")}, "absolute"),
    ]
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for body, msg in cases:
            r = c.post("/jobs", json={**body, "actor": "ada", "processor": "passthrough"})
            assert r.status_code == 403, (body, r.text)
            assert msg in r.json()["detail"]
    # a frame file that is itself a symlink out of the root is refused too
    (root / "plates" / "shot.0003.exr").symlink_to(outside / "plates" / "shot.0001.exr")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        r = c.post("/jobs", json={"plate": inside, "out": str(root / "o7"), "actor": "ada", "processor": "passthrough"})
        assert r.status_code == 403 and "spec.plate" in r.json()["detail"]
    assert store.list_jobs() == []
    assert not any((root / f"o{i}").exists() for i in range(1, 8)) and not (outside / "o5").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["plates"]


def test_path_valued_settings_outside_roots_are_refused(server: RunningServer, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.onnx"
    secret.write_bytes(b"not yours")
    (root / "models").mkdir()
    (root / "models_link").symlink_to(outside, target_is_directory=True)
    pattern = make_plate(root / "plates", range(1, 3))
    enh = {"enhancer": "gfpgan", "enhancer_licence": "test"}
    cases = [
        ({**enh, "enhancer_model": str(secret)}, "spec.settings.enhancer_model"),
        ({"analyser_models": str(outside)}, "spec.settings.analyser_models"),
        ({"analyser_models": str(root / "models_link")}, "outside the allowed roots"),  # symlink escape
        ({"analyser_models": str(root / "models" / ".." / ".." / "outside")}, "'..'"),
        ({"analyser_models": "models"}, "absolute"),
        ({"selection": {"references": [{"actor": "ada", "image": str(secret)}]}}, "spec.settings.selection.references[0].image"),
        ({"analyser_models": 7}, "a path is expected"),
        ({"selection": "reference", "reference": f"ada={outside / 'face.png'}"}, "spec.settings.reference"),
        ({"selection": "reference", "reference": f"1:0,{root / 'models_link' / 'face.jpg'}:1"}, "outside the allowed roots"),
    ]
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for i, (settings, msg) in enumerate(cases):
            r = c.post("/jobs", json={"plate": pattern, "actor": "ada", "out": str(root / f"s{i}"), "processor": "passthrough", "settings": settings})
            assert r.status_code == 403, (settings, r.text)
            assert msg in r.json()["detail"], (settings, r.text)
        assert not any((root / f"s{i}").exists() for i in range(len(cases)))
        assert c.get("/jobs").json()["jobs"] == []
        # the same settings inside the roots are accepted
        ok = c.post("/jobs", json={"plate": pattern, "actor": "ada", "out": str(root / "ok"), "processor": "passthrough",
                                   "settings": {"analyser_models": str(root / "models")}})
        assert ok.status_code == 201, ok.text
        job = ok.json()["job"]
        _wait_done(c, job)
        takes_dir = root / "ok" / "takes"
        # reprocess overrides are settings too
        for override, msg in (({"analyser_models": str(outside)}, "set.analyser_models"),
                              ({**enh, "enhancer_model": str(root / "models_link" / "secret.onnx")}, "set.enhancer_model")):
            r = c.post(f"/jobs/{job}/reprocess", json={"frames": "1", "set": override, "by": "kim"})
            assert r.status_code == 403 and msg in r.json()["detail"], r.text
        assert not takes_dir.exists()
        d = c.get(f"/jobs/{job}").json()
        assert [t["take"] for t in d["takes"]] == [1]
    assert sorted(p.name for p in outside.iterdir()) == ["secret.onnx"]


def test_malformed_requests_are_4xx_and_write_nothing(server: RunningServer, root: Path, tmp_path: Path) -> None:
    pattern = make_plate(root / "plates", range(1, 3))
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/jobs", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        assert c.post("/jobs", json=[1, 2]).status_code == 422
        assert c.post("/jobs", json={"plate": pattern}).status_code == 422
        assert c.post("/jobs", json={"plate": pattern, "actor": "a", "out": str(root / "x"), "bogus": 1}).status_code == 422
        r = c.post("/jobs", json={"plate": pattern, "actor": "a", "out": str(root / "x"), "priority": 500})
        assert r.status_code == 422
        assert c.post("/jobs", json={"plate": pattern, "actor": "a", "out": str(root / "x"), "qc": "no"}).status_code == 422
        r = c.post("/jobs", json={"plate": pattern, "actor": "nobody", "out": str(root / "x")})  # engine: actor must exist
        assert r.status_code == 422 and "nobody" in r.json()["detail"]
        r = c.post("/jobs", json={"plate": str(root / "plates" / "none.####.exr"), "actor": "a", "out": str(root / "x"), "processor": "passthrough"})
        assert r.status_code == 400 and "spec.plate" in r.json()["detail"]
        r = c.post("/jobs", json={"plate": pattern, "actor": "a", "out": str(root / "x"), "processor": "passthrough", "frames": "5-1"})
        assert r.status_code == 400 and "spec.frames" in r.json()["detail"]
        assert c.get("/jobs/nope").status_code == 404
        assert c.get("/jobs/..%2Fetc").status_code in (404, 422)
        assert c.post("/jobs/nope/approve", json={"frames": "all", "by": "kim"}).status_code == 404
        assert c.post("/jobs/nope/publish", json={}).status_code == 404
        assert c.post("/jobs/nope/publish", json={"fill": "sometimes"}).status_code == 422
    assert not (root / "x").exists()
    assert Store(tmp_path / "home" / "recast.db").list_jobs() == []


def test_token_checks(tmp_path: Path, root: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.com")
    with pytest.raises(AccessError, match="--host 0.0.0.0: .*RECAST_TOKEN"):
        check_bind("0.0.0.0", None)
    with pytest.raises(AccessError, match="16 characters"):
        check_bind("10.0.0.5", "short")
    check_bind("0.0.0.0", TOKEN)
    check_bind("127.0.0.1", None)
    assert token_ok(None, None) and token_ok(TOKEN, TOKEN)
    assert not token_ok(TOKEN, None) and not token_ok(TOKEN, TOKEN[:-1] + "X") and not token_ok(TOKEN, "")
    # the CLI refuses to start off loopback without a token, before binding anything
    env_home = tmp_path / "h2"
    res = recast("serve", "--host", "0.0.0.0", "--port", "0", "--root", str(root), home=env_home)
    assert res.returncode == 2 and "RECAST_TOKEN" in res.stderr and "Traceback" not in res.stderr
    # with a token configured, every API call needs it
    s = _server(tmp_path, root, token=TOKEN)
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            assert c.get("/jobs").status_code == 401
            assert c.get("/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get("/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
            assert c.get("/jobs", headers={"X-Recast-Token": TOKEN}).status_code == 200
    finally:
        s.stop()


def test_inside_roots_unit(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "a").mkdir(parents=True)
    assert inside_roots(str(root / "a" / "s.####.exr"), [root.resolve()], "x") == (root / "a" / "s.####.exr").resolve()
    with pytest.raises(AccessError, match="'..'"):
        inside_roots(str(root / "a" / ".." / "a"), [root.resolve()], "x")
    os.symlink("/", root / "escape")
    with pytest.raises(AccessError, match="outside"):
        inside_roots(str(root / "escape" / "etc"), [root.resolve()], "x")


def test_restarted_service_resumes_interrupted_jobs(tmp_path: Path, root: Path, caplog: pytest.LogCaptureFixture) -> None:
    import socket
    import subprocess
    import sys

    from recast.pipeline.jobs.runner import Runner, submit
    from recast.pipeline.jobs.spec import JobSpec

    pattern = make_plate(root / "plates", range(1, 7))
    store = Store(tmp_path / "home" / "recast.db")
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(root / "out"), "processor": "passthrough"}))
    Runner(store).run_take(job, 1, [1, 2])  # two frames done before the "crash"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True).stdout.strip()
    store.claim_frames(job, 1, [3, 4], f"{socket.gethostname()}:{dead}")  # held by a process that is gone
    store.set_job_status(job, "running")
    caplog.set_level("INFO", logger="recast.service")
    s = _server(tmp_path, root)
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            d = _wait_done(c, job)
        assert d["status"] == "done" and d["frames"]["done"] == 6
    finally:
        s.stop()
    assert sorted(p.name for p in (root / "out" / "records").iterdir()) == [f"{f:04d}.json" for f in range(1, 7)]
    text = caplog.text
    assert job in text and "resuming 1 job" in text
    assert "embedding" not in text and "[0." not in text  # logs carry ids and counts, never vectors or pixels


def test_cancel_and_resume_over_http(tmp_path: Path, root: Path) -> None:
    pattern = make_plate(root / "plates", range(1, 21), size=(160, 120))
    cfg = ServiceConfig(roots=[root.resolve()], store_path=tmp_path / "home" / "recast.db", workers=1)
    s = start_in_thread(cfg)
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            body = {"plate": pattern, "actor": "ada", "processor": "passthrough", "chunk": 1}
            first = c.post("/jobs", json={**body, "out": str(root / "a")}).json()["job"]
            second = c.post("/jobs", json={**body, "out": str(root / "b")}).json()["job"]  # waits for the one worker
            assert c.post(f"/jobs/{second}/cancel").json()["status"] == "cancelled"
            _wait_done(c, first)
            d = _wait_done(c, second)
            assert d["status"] == "cancelled" and d["frames"]["done"] == 0
            assert not (root / "b" / "records").exists()
            assert c.post(f"/jobs/{second}/resume").status_code == 202
            d = _wait_done(c, second)
            assert d["status"] == "done" and d["frames"]["done"] == 20
            assert c.post(f"/jobs/{second}/resume").json()["status"] == "done"
    finally:
        s.stop()


def test_recast_serve_subprocess(tmp_path: Path, root: Path) -> None:
    import json
    import signal
    import subprocess
    import sys

    from tests.test_job_support import REPO

    env = {**os.environ, "RECAST_HOME": str(tmp_path / "h3")}
    env.pop("RECAST_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "recast", "serve", "--port", "0", "--root", str(root), "--json"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["url"].startswith("http://127.0.0.1:") and info["roots"] == [str(root.resolve())]
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(info["url"] + "/health", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.json()["ok"] is True
        schema = httpx.get(info["url"] + "/openapi.json", timeout=5).json()
        assert {"/jobs", "/jobs/{job_id}/publish", "/jobs/{job_id}/reprocess", "/actors"} <= set(schema["paths"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_jobs_with_files_outside_roots_are_not_touched(tmp_path: Path, root: Path, server: RunningServer) -> None:
    from recast.pipeline.jobs.runner import Runner, submit
    from recast.pipeline.jobs.spec import JobSpec

    outside = tmp_path / "elsewhere"
    pattern = make_plate(outside / "plates", range(1, 3))
    store = Store(tmp_path / "home" / "recast.db")  # the service's store; the job came from the CLI
    job = submit(store, JobSpec.from_dict({"plate": pattern, "actor": "ada", "out": str(outside / "out"), "processor": "passthrough"}))
    Runner(store).run(job)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert job not in {j["id"] for j in c.get("/jobs").json()["jobs"]}  # not this service's job
        for method, url, body in (
            ("GET", f"/jobs/{job}", None),  # its index is not read either (test_service_hardening: every route)
            ("GET", f"/jobs/{job}/frames/1/record", None),
            ("GET", f"/jobs/{job}/frames/1/proxy", None),
            ("POST", f"/jobs/{job}/approve", {"frames": "all", "by": "kim"}),
            ("POST", f"/jobs/{job}/publish", {"fill": "plate"}),
            ("POST", f"/jobs/{job}/reprocess", {"frames": "1"}),
        ):
            r = c.request(method, url, json=body)
            assert r.status_code == 403 and "outside the allowed roots" in r.json()["detail"], (url, r.text)
    assert not (outside / "out" / "publish").exists() and not (outside / "out" / "review").exists()
    assert not (outside / "out" / "takes").exists()


def test_higher_priority_jobs_run_first(tmp_path: Path, root: Path) -> None:
    pattern = make_plate(root / "plates", range(1, 25), size=(160, 120))
    cfg = ServiceConfig(roots=[root.resolve()], store_path=tmp_path / "home" / "recast.db", workers=1)
    s = start_in_thread(cfg)
    try:
        with httpx.Client(base_url=s.url, timeout=30) as c:
            body = {"plate": pattern, "actor": "ada", "processor": "passthrough", "chunk": 1}
            first = c.post("/jobs", json={**body, "out": str(root / "first")}).json()["job"]  # occupies the worker
            while not (root / "first" / "records").is_dir():  # it is running: the next two wait in the queue
                time.sleep(0.005)
            low = c.post("/jobs", json={**body, "out": str(root / "low"), "priority": 10}).json()["job"]
            high = c.post("/jobs", json={**body, "out": str(root / "high"), "priority": 90}).json()["job"]
            for j in (first, low, high):
                assert _wait_done(c, j)["status"] == "done"
    finally:
        s.stop()
    done_at = {
        a["job"]: a["at"] for a in Store(tmp_path / "home" / "recast.db").audit_log() if a["action"] == "status:done"
    }
    assert done_at[first] < done_at[high] < done_at[low]


def _serve(root: Path, home: Path) -> tuple[object, str]:
    import json
    import subprocess
    import sys

    from tests.test_job_support import REPO

    env = {**os.environ, "RECAST_HOME": str(home)}
    env.pop("RECAST_TOKEN", None)
    home.mkdir(parents=True, exist_ok=True)
    errlog = home / f"serve-{time.monotonic_ns()}.log"
    with open(errlog, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recast", "serve", "--port", "0", "--root", str(root), "--workers", "1", "--json"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"recast serve did not start: {errlog.read_text()[-2000:]}")
    url = json.loads(line)["url"]
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/health", timeout=5)
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_service_killed_mid_job_resumes_on_restart(tmp_path: Path, root: Path) -> None:
    import signal

    from recast.pipeline.atomic import is_temp_name

    n = 24
    pattern = make_plate(root / "plates", range(1, n + 1), size=(160, 120))
    home = tmp_path / "svc_home"
    proc, url = _serve(root, home)
    try:
        r = httpx.post(url + "/jobs", json={"plate": pattern, "actor": "ada", "out": str(root / "out"), "processor": "passthrough", "chunk": 2}, timeout=30)
        job = r.json()["job"]
        records = root / "out" / "records"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(records.glob("[0-9]*.json"))) < 5:
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
        proc.wait()  # type: ignore[attr-defined]
    before = {p.name: p.stat().st_mtime_ns for p in records.glob("[0-9]*.json")}
    assert 5 <= len(before) < n
    deadline = time.monotonic() + 10  # the job's worker process dies with the service (a few ms later)
    while Store(home / "recast.db").get_job(job)["status"] != "interrupted" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Store(home / "recast.db").get_job(job)["status"] == "interrupted"  # its runner is gone
    proc, url = _serve(root, home)  # a fresh service resumes what the files say is unfinished
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            d = _wait_done(c, job)
    finally:
        proc.send_signal(signal.SIGTERM)  # type: ignore[attr-defined]
        proc.wait(timeout=30)  # type: ignore[attr-defined]
    assert d["status"] == "done" and d["frames"]["done"] == n
    after = {p.name: p.stat().st_mtime_ns for p in records.glob("*.json")}  # temp files would show here too
    assert sorted(after) == [f"{f:04d}.json" for f in range(1, n + 1)]
    assert all(after[k] == v for k, v in before.items())  # nothing done twice
    assert not [p for p in (root / "out").rglob("*") if is_temp_name(p.name)]
