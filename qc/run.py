"""One call for a finished job: scores (+ store flags), HTML/PDF report and preview movie.

For ``recast demo`` and job runners: ``run_job_qc(out, job_id=..., store=...)``
writes ``<out>/qc/scores.json``, ``<out>/qc/report/index.html`` (+ ``report.pdf``)
and ``<out>/qc/preview.mp4`` unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recast.qc.movie import MovieOptions, write_movie
from recast.qc.report import ReportOptions, write_report
from recast.qc.scoring import QCOptions, ScoreStore, score_job


@dataclass(frozen=True)
class JobQCOptions:
    qc: QCOptions = field(default_factory=QCOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    movie: MovieOptions = field(default_factory=MovieOptions)
    pdf: bool = True
    make_movie: bool = True


def run_job_qc(out: str | Path, job_id: str | None = None, store: ScoreStore | None = None,
               report_dir: str | Path | None = None, movie_path: str | Path | None = None,
               options: JobQCOptions | None = None) -> dict[str, Any]:
    """Score, report and preview one job output; returns paths and the summary."""
    options = options or JobQCOptions()
    out = Path(out)
    doc = score_job(out, options.qc, job_id=job_id, store=store)
    rdir = Path(report_dir) if report_dir else out / "qc" / "report"
    paths = write_report(doc, rdir, pdf=options.pdf, options=options.report)
    result: dict[str, Any] = {"scores": str(out / "qc" / "scores.json"), "report": [str(p) for p in paths],
                              "summary": doc["summary"], "movie": None}
    if options.make_movie:
        mp = Path(movie_path) if movie_path else out / "qc" / ("preview.mov" if options.movie.codec == "prores" else "preview.mp4")
        result["movie"] = str(write_movie(out, mp, options.movie).path)
    return result
