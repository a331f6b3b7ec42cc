"""``recast qc`` (scores, report, movie) and ``recast dailies``."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import QCError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("qc", help="QC scores, reports and preview movies of a job", parents=[common])
    qsub = p.add_subparsers(dest="qc_command", metavar="ACTION", required=True)

    def job_args(q: argparse.ArgumentParser, scoring: bool = True) -> None:
        q.add_argument("job", metavar="JOB", help="job id in the store, or a job output folder")
        q.add_argument("--take", type=int, default=1, help="take to check (default 1)")
        if scoring:
            q.add_argument("--thresholds", type=Path, metavar="FILE", help="QC thresholds TOML (default: qc/thresholds.toml)")
            q.add_argument("--no-identity", action="store_true", help="skip embeddings and landmark refits (much faster)")

    s = qsub.add_parser("scores", help="score every frame (writes <out>/qc/scores.json, indexes the store)", parents=[common])
    job_args(s)
    s.add_argument("--cached", action="store_true", help="print the last scores instead of scoring again")
    s.set_defaults(func=_scores)

    r = qsub.add_parser("report", help="HTML (and PDF) QC report", parents=[common])
    job_args(r)
    r.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for index.html (and report.pdf)")
    r.add_argument("--pdf", action="store_true", help="also write report.pdf")
    r.add_argument("--rescore", action="store_true", help="score every frame again (ignore the per-frame cache)")
    r.set_defaults(func=_report)

    m = qsub.add_parser("movie", help="side-by-side preview movie with burn-ins", parents=[common])
    job_args(m, scoring=False)
    m.add_argument("--out", type=Path, required=True, metavar="FILE", help="movie file (.mp4 for h264, .mov for prores)")
    m.add_argument("--codec", choices=("h264", "prores"), default="h264")
    m.add_argument("--fps", type=float, help="frame rate (default: plate metadata, else job, else 24)")
    m.add_argument("--width", type=int, default=960, help="proxy width of each half (default 960)")
    m.set_defaults(func=_movie)

    d = sub.add_parser("dailies", help="reports + movies for every job updated since a date, with an index", parents=[common])
    d.add_argument("--since", metavar="DATE", help="ISO date or date-time (default: the last 24 hours)")
    d.add_argument("--out", type=Path, required=True, metavar="DIR")
    d.add_argument("--pdf", action="store_true", help="also write each job's report.pdf")
    d.add_argument("--codec", choices=("h264", "prores"), default="h264")
    d.add_argument("--no-identity", action="store_true", help="skip embeddings and landmark refits (much faster)")
    d.set_defaults(func=_dailies)


def _store() -> Any:
    from recast.pipeline.jobs.store import Store, default_db_path

    return Store(default_db_path())


def resolve_job(text: str) -> tuple[str | None, Path, Any]:
    """(job id or None, output folder, store or None) for a job id or an output folder."""
    p = Path(text)
    if p.is_dir():
        if not (p / "records").is_dir():
            raise QCError(f"{p}: not a job output folder (no records/)")
        return None, p, None
    from recast.pipeline.jobs.store import default_db_path

    if not default_db_path().is_file():
        raise QCError(f"{text}: neither a job output folder nor a job id (no job store at {default_db_path()})")
    store = _store()
    job = store.get_job(text)  # JobError names the job when unknown
    return str(job["id"]), Path(job["out"]), store


def _options(args: argparse.Namespace, identity: bool = True) -> Any:
    from recast.qc.scoring import QCOptions

    if args.take < 1:
        raise QCError(f"--take: must be >= 1, got {args.take}")
    return QCOptions(thresholds=args.thresholds, take=args.take, identity=identity)


def _scores(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.qc.scoring import read_scores, score_job

    job_id, out, store = resolve_job(args.job)
    if args.cached:
        doc = read_scores(out, args.take)
    else:
        doc = score_job(out, _options(args, identity=not args.no_identity), job_id=job_id, store=store, progress=ctx.frame_progress())
    frames = [{k: f[k] for k in ("frame", "take", "status", "metrics", "reasons")} for f in doc["frames"]]
    s = doc["summary"]
    lines = [f"{f['frame']}  {f['status']:<4}  {'; '.join(f['reasons'])}" for f in frames]
    lines.append(f"{s['frames']} frames: {s['pass']} pass, {s['warn']} warn, {s['fail']} fail -> {out / 'qc'}")
    ctx.emit(frames, "\n".join(lines))
    return 0


def _report(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.qc.report import ReportOptions, write_report
    from recast.qc.scoring import score_job

    job_id, out, store = resolve_job(args.job)
    opts = replace(_options(args, identity=not args.no_identity), cache=not args.rescore)
    doc = score_job(out, opts, job_id, store, progress=ctx.frame_progress())
    paths = write_report(doc, args.out, pdf=args.pdf, options=ReportOptions(thresholds=args.thresholds))
    ctx.emit({"report": [str(p) for p in paths], "summary": doc["summary"]}, "\n".join(str(p) for p in paths))
    return 0


def _movie(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.qc.movie import MovieOptions, write_movie

    _, out, _ = resolve_job(args.job)
    if args.fps is not None and args.fps <= 0:
        raise QCError(f"--fps: must be > 0, got {args.fps}")
    if args.width < 16:
        raise QCError(f"--width: must be >= 16, got {args.width}")
    info = write_movie(out, args.out, MovieOptions(codec=args.codec, fps=args.fps, take=args.take, proxy_width=args.width),
                       progress=ctx.frame_progress())
    data = {"movie": str(info.path), "frames": info.frames, "fps": info.fps, "size": list(info.size), "codec": info.codec}
    ctx.emit(data, f"{info.path}: {info.frames} frames, {info.size[0]}x{info.size[1]} @ {info.fps:g} fps ({info.codec})")
    return 0


def parse_since(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC) - timedelta(days=1)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise QCError(f"--since: {text!r} is not an ISO date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _dailies(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.qc.dailies import DailiesOptions, make_dailies
    from recast.qc.movie import MovieOptions
    from recast.qc.scoring import QCOptions

    since = parse_since(args.since)
    opts = DailiesOptions(qc=QCOptions(identity=not args.no_identity), movie=MovieOptions(codec=args.codec), pdf=args.pdf)
    rows = make_dailies(_store(), since, args.out, opts)
    text = "\n".join(f"{r['job']}: {r.get('error') or r['report']}" for r in rows) or "no job updated since " + since.isoformat()
    ctx.emit({"index": str(args.out / "index.html"), "jobs": rows}, text + f"\nindex: {args.out / 'index.html'}")
    return 0
