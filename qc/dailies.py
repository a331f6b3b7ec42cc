"""Dailies: for every job updated since a date, its QC report and preview movie, plus an index page."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from recast.pipeline.atomic import atomic_write_bytes
from recast.pipeline.errors import RecastError
from recast.qc.movie import MovieOptions, write_movie
from recast.qc.report import CSS, ReportOptions, write_report
from recast.qc.scoring import QCOptions, ScoreStore, score_job


class JobIndex(ScoreStore, Protocol):
    def list_jobs(self, since: datetime | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class DailiesOptions:
    qc: QCOptions = field(default_factory=QCOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    movie: MovieOptions = field(default_factory=MovieOptions)
    pdf: bool = False


def make_dailies(store: JobIndex, since: datetime | None, out_dir: str | Path, options: DailiesOptions | None = None) -> list[dict[str, Any]]:
    """Write ``out_dir/<job>/index.html`` + ``preview.mp4`` per job and ``out_dir/index.html``."""
    options = options or DailiesOptions()
    out_dir = Path(out_dir)
    rows: list[dict[str, Any]] = []
    for job in store.list_jobs(since):
        jid, out = str(job["id"]), Path(job["out"])
        row: dict[str, Any] = {"job": jid, "shot": job.get("shot"), "status": job.get("status"), "updated": job.get("updated")}
        jdir = out_dir / jid
        try:
            doc = score_job(out, options.qc, jid, store)  # per-frame cache: only changed frames are scored
            write_report(doc, jdir, pdf=options.pdf, options=options.report)
            movie = write_movie(out, jdir / ("preview.mov" if options.movie.codec == "prores" else "preview.mp4"), options.movie)
            row.update(summary=doc["summary"], report=f"{jid}/index.html", movie=f"{jid}/{movie.path.name}",
                       pdf=f"{jid}/report.pdf" if options.pdf else None)
        except RecastError as exc:  # one job's problem never stops the dailies
            row["error"] = str(exc)
        rows.append(row)
    atomic_write_bytes(out_dir / "index.html", _index(rows, since).encode())
    return rows


def _index(rows: list[dict[str, Any]], since: datetime | None) -> str:
    e = html.escape
    head = f"<!doctype html><html><head><meta charset='utf-8'><title>Recast dailies</title><style>{CSS}</style></head><body>"
    parts = [head, "<h1>Recast dailies</h1>", f"<p><span class='synthetic'>SYNTHETIC</span> jobs updated since {e(since.isoformat() if since else 'the beginning')}</p>",
             "<section><table><tr><th>job</th><th>shot</th><th>status</th><th>updated</th><th>pass / warn / fail</th><th>flagged</th><th>report</th><th>movie</th></tr>"]
    for r in rows:
        s = r.get("summary")
        counts = f"{s['pass']} / {s['warn']} / <span class='fail'>{s['fail']}</span>" if s else f"<span class='fail'>{e(r.get('error', ''))}</span>"
        flagged = e(", ".join(map(str, s["flagged"][:20]))) if s else ""
        rep = f"<a href='{e(r['report'])}'>report</a>" if r.get("report") else ""
        if r.get("pdf"):
            rep += f" <a href='{e(r['pdf'])}'>pdf</a>"
        mov = f"<a href='{e(r['movie'])}'>movie</a>" if r.get("movie") else ""
        parts.append(f"<tr><td>{e(r['job'])}</td><td>{e(str(r.get('shot') or ''))}</td><td>{e(str(r.get('status')))}</td><td>{e(str(r.get('updated')))}</td><td>{counts}</td><td>{flagged}</td><td>{rep}</td><td>{mov}</td></tr>")
    if not rows:
        parts.append("<tr><td colspan='8'>No job updated in this period.</td></tr>")
    parts.append("</table></section></body></html>")
    return "\n".join(parts)
