"""QC outputs of a real (passthrough) job: movie burn-in shot, report versions, thresholds file wording."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from recast.pipeline.jobs.publish import publish, set_approval
from recast.pipeline.jobs.runner import Runner, RunOptions, submit
from recast.pipeline.jobs.spec import JobSpec
from recast.pipeline.jobs.store import FLAG_SOURCES, Store
from recast.qc.scoring import AUTO_FLAG_SOURCE, QCOptions, score_job
from tests.test_job_support import REPO, make_plate


@pytest.fixture()
def job(tmp_path: Path) -> tuple[Store, str, Path]:
    pattern = make_plate(tmp_path / "plates", range(1, 4), size=(64, 48))
    store = Store(tmp_path / "home" / "recast.db")
    out = tmp_path / "out"
    spec = {"plate": pattern, "actor": "ada", "out": str(out), "processor": "passthrough", "shot": "sh010"}
    job_id = submit(store, JobSpec.from_dict(spec))
    Runner(store, RunOptions(pipelined=False)).run(job_id)
    return store, job_id, out


def test_movie_burns_in_the_jobs_shot(job: tuple[Store, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import av

    import recast.qc.movie as movie

    _store, _job_id, out = job
    seen: list[str] = []
    real = movie.compose_frame

    def spy(plate: Any, comp: Any, size: Any, burn: dict[str, str], status: str) -> Any:
        seen.append(burn["shot"])
        return real(plate, comp, size, burn, status)

    monkeypatch.setattr(movie, "compose_frame", spy)
    info = movie.write_movie(out, tmp_path / "a.mp4")
    assert seen == ["sh010"] * 3  # the spec's shot, not the plate file's name ("shot")
    with av.open(str(info.path)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3
    seen.clear()
    movie.write_movie(out, tmp_path / "b.mp4", movie.MovieOptions(shot="override"))
    assert seen == ["override"] * 3
    seen.clear()
    (out / "job.json").rename(out / "job.json.bak")  # a plain swap folder: the plate's name
    movie.write_movie(out, tmp_path / "c.mp4")
    assert seen == ["shot"] * 3


def test_report_lists_published_versions_and_software(job: tuple[Store, str, Path], tmp_path: Path) -> None:
    from recast.qc.report import write_report

    store, job_id, out = job
    doc = score_job(out, QCOptions(identity=False), job_id=job_id, store=store)
    html = write_report(doc, tmp_path / "r0")[0].read_text()
    assert "<tr><th>versions</th><td>none published</td></tr>" in html
    set_approval(store, job_id, None, "kim")
    publish(store, job_id)
    publish(store, job_id, "none")
    html = write_report(doc, tmp_path / "r1")[0].read_text()
    assert "<tr><th>versions</th><td>v001, v002</td></tr>" in html
    soft = re.search(r"<tr><th>software versions</th><td>([^<]*)</td>", html)
    assert soft is not None and "numpy " in soft.group(1) and "python " in soft.group(1)


def test_thresholds_file_names_the_flag_source_the_code_writes() -> None:
    text = (REPO / "qc" / "thresholds.toml").read_text()
    named = re.findall(r'flag source "(\w+)"', text)
    assert named == [AUTO_FLAG_SOURCE] and AUTO_FLAG_SOURCE in FLAG_SOURCES
    assert 'source "qc"' not in text
