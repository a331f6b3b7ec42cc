"""Progress bars: on a terminal (a pty) `job run`, `run-chunk`, `job resume`, `qc scores|report|movie`
show frames done/total, rate and ETA; with --json or when stderr is not a TTY they say nothing."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recast.pipeline.progress import NoProgress, TqdmProgress, terminal_progress
from tests.test_job_support import REPO, make_plate, recast, write_spec

FRAMES = 6


def on_pty(*args: str, home: Path, timeout: float = 300) -> tuple[int, str, str]:
    """Run ``recast ARGS`` with stderr on a pseudo-terminal; (exit code, stdout, what the terminal saw)."""
    master, slave = os.openpty()
    env = {**os.environ, "RECAST_HOME": str(home), "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "recast", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, text=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    out = proc.stdout.read() if proc.stdout else ""
    return proc.wait(timeout=30), out, seen.decode(errors="replace")


@pytest.fixture()
def job(tmp_path: Path) -> dict[str, object]:
    home = tmp_path / "home"
    pattern = make_plate(tmp_path / "plates", range(1001, 1001 + FRAMES))
    spec = write_spec(tmp_path / "job.json", plate=pattern, actor="nobody", out=str(tmp_path / "out"), processor="passthrough",
                      qc=False)
    job_id = json.loads(recast("submit", str(spec), "--json", home=home, check=True).stdout)["job"]
    return {"home": home, "id": job_id, "out": tmp_path / "out"}


def _bar(seen: str, desc: str) -> bool:
    """A tqdm bar for ``desc`` that reached FRAMES/FRAMES with a rate."""
    return desc in seen and f"{FRAMES}/{FRAMES}" in seen and ("frame/s" in seen or "s/frame" in seen)


def test_job_run_and_run_chunk_show_a_bar_on_a_terminal(job: dict[str, object]) -> None:
    home, job_id = job["home"], str(job["id"])
    code, out, seen = on_pty("job", "run", job_id, home=home)  # type: ignore[arg-type]
    assert code == 0, seen
    assert _bar(seen, f"job {job_id} take 1"), seen
    assert "\r" in seen and "<" in seen  # redrawn in place, with an ETA
    assert out.strip().startswith(f"job {job_id} take 1: done")  # stdout keeps only the summary
    # run-chunk of the same frames again (nothing to do: no bar), then reprocess-like run of a range
    code, _, seen = on_pty("run-chunk", job_id, "--frames", f"1001-{1000 + FRAMES}", "--take", "1", home=home)  # type: ignore[arg-type]
    assert code == 0 and "%|" not in seen, seen


def test_qc_commands_show_a_bar_on_a_terminal(job: dict[str, object], tmp_path: Path) -> None:
    home, job_id = job["home"], str(job["id"])
    recast("job", "run", job_id, home=home, check=True)  # type: ignore[arg-type]
    code, _, seen = on_pty("qc", "scores", job_id, "--no-identity", home=home)  # type: ignore[arg-type]
    assert code == 0 and _bar(seen, "QC take 1"), seen
    code, _, seen = on_pty("qc", "movie", job_id, "--out", str(tmp_path / "m.mp4"), "--width", "32", home=home)  # type: ignore[arg-type]
    assert code == 0 and _bar(seen, "movie take 1"), seen
    # --json on the same terminal: nothing but the JSON
    code, out, seen = on_pty("qc", "movie", job_id, "--out", str(tmp_path / "m2.mp4"), "--width", "32", "--json", home=home)  # type: ignore[arg-type]
    assert code == 0 and "%|" not in seen and json.loads(out)["frames"] == FRAMES, seen


def test_quiet_when_not_a_terminal_or_json(job: dict[str, object]) -> None:
    home, job_id = job["home"], str(job["id"])
    res = recast("job", "run", job_id, home=home)  # type: ignore[arg-type]  # stderr is a pipe
    assert res.returncode == 0 and res.stderr == "", res.stderr
    code, out, seen = on_pty("job", "resume", job_id, "--json", home=home)  # type: ignore[arg-type]
    assert code == 0 and "%|" not in seen and json.loads(out)["status"] == "done", seen


def test_resume_and_run_chunk_count_what_is_left(job: dict[str, object]) -> None:
    """A cancelled job's `job resume` shows all its frames; `run-chunk` over a range whose
    records were lost counts only those."""
    home, job_id, out = job["home"], str(job["id"]), Path(job["out"])  # type: ignore[arg-type]
    recast("job", "cancel", job_id, home=home, check=True)  # type: ignore[arg-type]
    code, _, seen = on_pty("job", "resume", job_id, home=home)  # type: ignore[arg-type]
    assert code == 0 and _bar(seen, f"job {job_id} take 1"), seen
    for f in (1002, 1005):  # two frames lost: run-chunk redoes exactly those
        (out / "records" / f"{f}.json").unlink()
    code, _, seen = on_pty("run-chunk", job_id, "--frames", f"1001-{1000 + FRAMES}", home=home)  # type: ignore[arg-type]
    assert code == 0 and f"job {job_id} take 1" in seen and "2/2" in seen, seen


def test_terminal_progress_picks_the_bar_by_tty_and_json(tmp_path: Path) -> None:
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as tty, open(tmp_path / "log", "w") as log:
        assert isinstance(terminal_progress(stream=tty), TqdmProgress)
        assert isinstance(terminal_progress(quiet=True, stream=tty), NoProgress)
        assert isinstance(terminal_progress(stream=log), NoProgress)
    os.close(master)


def test_demo_shows_the_jobs_bar_and_one_licence_notice(tmp_path: Path) -> None:
    """`recast demo` on a terminal: the job's frames bar, and the 68-point licence notice once
    (it used to print once per component: analyser, swapper, QC probe, identity check ...)."""
    from recast.pipeline.faces.dlib_backend import NONCOMMERCIAL_NOTICE

    code, out, seen = on_pty("demo", "--out", str(tmp_path / "demo"), "--frames", "2", home=tmp_path / "home", timeout=600)
    assert code == 0, seen
    assert "take 1" in seen and "2/2" in seen and "%|" in seen, seen
    assert seen.count(NONCOMMERCIAL_NOTICE) == 1, seen
    assert "swapped 2 of 2 frames" in out
