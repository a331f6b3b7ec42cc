"""``recast submit | job ... | reprocess | approve | reject | publish | run-chunk``."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import SpecError


def _store() -> Any:
    from recast.pipeline.jobs.store import Store

    return Store.open_default()


def _frames(text: str) -> list[int]:
    from recast.pipeline.errors import RecastError
    from recast.pipeline.sequence import parse_frames

    try:
        return parse_frames(text)
    except RecastError as exc:
        raise SpecError(f"--frames: {exc}") from None


def _runner(store: Any, args: argparse.Namespace, ctx: CliContext | None = None) -> Any:
    from recast.pipeline.jobs.runner import Runner, RunOptions

    opts = RunOptions(chunk=getattr(args, "chunk", None), retries=getattr(args, "retries", 2), qc=not getattr(args, "no_qc", False))
    return Runner(store, opts, progress=ctx.frame_progress() if ctx is not None else None)


def _summary_text(s: dict[str, Any]) -> str:
    from recast.pipeline.sequence import format_frames

    failed = s["failed"]
    extra = f", {len(failed)} failed: frames {format_frames([int(f) for f in failed])}" if failed else ""
    text = f"job {s['job']} take {s['take']}: {s['status']} ({s['done']} done, {s['skipped']} already done{extra})"
    for take, q in (s.get("qc") or {}).items():
        text += f"; QC take {take}: {q['pass']} pass, {q['warn']} warn, {q['fail']} fail"
    for msg in (s.get("qc_errors") or {}).values():
        text += f"; {msg}"
    return text


def _emit_run(ctx: CliContext, summary: Any, store: Any = None, allow_passthrough: bool = True) -> int:
    """Exit 1 when a frame failed (a farm task with a failed frame fails); with a ``store``
    and not ``allow_passthrough``: EXIT_NO_SWAP when the engine swapped no face in any frame
    of the take."""
    from recast.pipeline.errors import EXIT_FRAMES_FAILED, EXIT_NO_SWAP

    d = summary.to_dict()
    no_swap = False
    if store is not None and not d["failed"] and not d["cancelled"] and d["status"] == "done":
        no_swap = _no_face_swapped(store, d["job"], int(d["take"]))
    d["no_swap"] = no_swap
    text = _summary_text(d)
    if no_swap and not allow_passthrough:
        text += f"\nno face was swapped in any frame (exit {EXIT_NO_SWAP}; --allow-passthrough accepts this)"
    ctx.emit(d, text)
    if d["failed"]:
        return EXIT_FRAMES_FAILED
    return EXIT_NO_SWAP if no_swap and not allow_passthrough else 0


def _no_face_swapped(store: Any, job_id: str, take: int) -> bool:
    """The engine ran every frame of the take and none of their records has a swap."""
    from recast.pipeline.jobs.runner import load_job
    from recast.pipeline.jobs.takes import read_json

    _job, spec, layout = load_job(store, job_id)
    if spec.processor != "engine":
        return False
    statuses = [(read_json(layout.record_path(take, r["frame"])) or {}).get("status") for r in store.frames(job_id, take)]
    return bool(statuses) and "done" not in statuses


# -- handlers ---------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.jobs.runner import submit
    from recast.pipeline.schema.job import JobSpec

    spec = JobSpec.load(Path(args.spec))
    job_id = submit(_store(), spec, args.id)
    ctx.emit({"job": job_id}, job_id)
    return 0


def cmd_run(args: argparse.Namespace, ctx: CliContext) -> int:
    store = _store()
    return _emit_run(ctx, _runner(store, args, ctx).run(args.job), store, args.allow_passthrough)


def cmd_resume(args: argparse.Namespace, ctx: CliContext) -> int:
    store = _store()
    return _emit_run(ctx, _runner(store, args, ctx).resume(args.job), store, args.allow_passthrough)


def _job_brief(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("id", "status", "shot", "owner", "priority", "out", "created", "updated", "error", "frames")} | {
        "takes": [{"take": t["take"], "reference_frame": t["reference_frame"], "frames": t["frames"]} for t in job["takes"]]
    }


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise SpecError(f"--since {args.since!r}: not an ISO-8601 date/time") from None
    jobs = [_job_brief(j) for j in _store().list_jobs(since)]
    lines = [f"{j['id']}\t{j['status']}\t{j['shot']}\t{j['frames']['done']}/{sum(j['frames'].values())} done" for j in jobs]
    ctx.emit({"jobs": jobs}, "\n".join(lines) if lines else "no jobs")
    return 0


def cmd_show(args: argparse.Namespace, ctx: CliContext) -> int:
    store = _store()
    job = store.get_job(args.job)
    data = _job_brief(job) | {"spec": job["spec"], "versions": store.versions(args.job), "flags": len(store.flags(args.job))}
    f = job["frames"]
    text = (
        f"{job['id']}  {job['status']}  shot {job['shot']}  out {job['out']}\n"
        f"frames: {f['done']} done, {f['failed']} failed, {f['pending']} pending, {f['running']} running; "
        f"takes: {len(job['takes'])}; versions: {', '.join(v['version'] for v in data['versions']) or 'none'}"
    )
    ctx.emit(data, text)
    return 0


def cmd_cancel(args: argparse.Namespace, ctx: CliContext) -> int:
    status = _store().cancel_job(args.job, who=args.by)
    ctx.emit({"job": args.job, "status": status}, f"job {args.job}: {status}")
    return 0


def cmd_purge(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.jobs.purge import purge_embeddings

    res = purge_embeddings(_store(), args.job)
    ctx.emit(res, f"job {res['job']}: removed {res['files']} embedding file(s) in {len(res['removed'])} take folder(s)")
    return 0


def cmd_reindex(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.jobs.reindex import reindex

    res = reindex(_store(), Path(args.dir))
    fr = res["frames"]
    ctx.emit(res, f"job {res['job']}: {res['status']} ({fr['done']} done, {fr['failed']} failed, {fr['pending']} pending)")
    return 0


def cmd_reprocess(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.jobs.reprocess import parse_overrides, reprocess

    store = _store()
    summary = reprocess(
        store, _runner(store, args, ctx), args.job, _frames(args.frames), args.reference, parse_overrides(args.set or []), args.by
    )
    return _emit_run(ctx, summary)


def _approve(args: argparse.Namespace, ctx: CliContext, state: str) -> int:
    from recast.pipeline.jobs.publish import set_approval

    frames = None if args.frames.strip().lower() == "all" else _frames(args.frames)
    picks = set_approval(_store(), args.job, frames, args.by, state, args.take)
    ctx.emit(
        {"job": args.job, "state": state, "frames": {str(f): t for f, t in picks.items()}},
        f"job {args.job}: {len(picks)} frame(s) {state} by {args.by}",
    )
    return 0


def cmd_approve(args: argparse.Namespace, ctx: CliContext) -> int:
    return _approve(args, ctx, "approved")


def cmd_reject(args: argparse.Namespace, ctx: CliContext) -> int:
    return _approve(args, ctx, "rejected")


def cmd_publish(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.jobs.publish import publish, repair_publish

    if args.repair:
        r = repair_publish(_store(), args.job)
        text = (
            f"job {args.job}: removed {len(r['removed'])} interrupted publish folder(s), released "
            f"{len(r['released'])} reservation(s) ({', '.join(r['released']) or 'none'}), hid "
            f"{len(r['hidden'])} incomplete version(s), indexed {len(r['indexed'])} version(s)"
        )
        ctx.emit(r, text)
        return 0
    m = publish(_store(), args.job, args.fill, args.by)
    ctx.emit(
        {"version": m["version"], "path": m["path"], "approved": m["approved"], "filled": m["filled"]},
        f"{m['version']}: {m['path']} ({m['approved']} approved, {m['filled']} filled from the plate)",
    )
    return 0


def cmd_run_chunk(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.jobs.reindex import reindex

    store = _store()
    if args.job_dir and not store.has_job(args.job):
        reindex(store, Path(args.job_dir))  # a farm node with an empty store: the files say what the job is
    frames = _frames(args.frames)
    summary = _runner(store, args, ctx).run_take(args.job, args.take, frames, within=True)
    return _emit_run(ctx, summary)


# -- parsers ----------------------------------------------------------------------


def _run_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chunk", type=int, default=None, help="frames claimed at a time (default: the spec's)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts per failing frame (default 2)")
    p.add_argument("--no-qc", action="store_true", help="do not score takes when their frames finish (default: score them)")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("submit", parents=[common], help="queue a job from a JobSpec JSON file")
    p.add_argument("spec", help="JobSpec JSON file")
    p.add_argument("--id", default=None, help="job id (default: <shot>-<random>)")
    p.set_defaults(func=cmd_submit)

    job = sub.add_parser("job", help="run, resume, list, show, cancel or reindex jobs")
    jsub = job.add_subparsers(dest="job_command", metavar="ACTION")
    for name, fn, helptext in (
        ("run", cmd_run, "run a queued job in the foreground"),
        ("resume", cmd_resume, "continue an interrupted job from what its files say"),
    ):
        q = jsub.add_parser(name, parents=[common], help=helptext)
        q.add_argument("job")
        _run_opts(q)
        q.add_argument(
            "--allow-passthrough",
            action="store_true",
            help="exit 0 even when the engine swapped no face in any frame (default: exit 4)",
        )
        q.set_defaults(func=fn)
    q = jsub.add_parser("list", parents=[common], help="list jobs, newest first")
    q.add_argument("--since", default=None, help="only jobs updated since this ISO-8601 time")
    q.set_defaults(func=cmd_list)
    q = jsub.add_parser("show", parents=[common], help="a job's status and frame counts")
    q.add_argument("job")
    q.set_defaults(func=cmd_show)
    q = jsub.add_parser("cancel", parents=[common], help="cancel a job (a running job stops after its current frame)")
    q.add_argument("job")
    q.add_argument("--by", default=None)
    q.set_defaults(func=cmd_cancel)
    q = jsub.add_parser("purge", parents=[common], help="delete a job's face embeddings (biometric data; outputs kept)")
    q.add_argument("job")
    q.set_defaults(func=cmd_purge)
    q = jsub.add_parser("reindex", parents=[common], help="rebuild a job's index from its output folder")
    q.add_argument("dir")
    q.set_defaults(func=cmd_reindex)

    p = sub.add_parser("reprocess", parents=[common], help="redo frames as a new take, anchored to a reference frame")
    p.add_argument("job")
    p.add_argument("--frames", required=True, help="frames to redo, e.g. 1010-1020,1033")
    p.add_argument("--reference", type=int, default=None, help="a frame whose result the reviewer liked")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="per-take setting override (repeatable)")
    p.add_argument("--by", default=None)
    _run_opts(p)
    p.set_defaults(func=cmd_reprocess)

    for name, fn in (("approve", cmd_approve), ("reject", cmd_reject)):
        p = sub.add_parser(name, parents=[common], help=f"{name} frames (their current take unless --take)")
        p.add_argument("job")
        p.add_argument("--frames", required=True, help="'all' or a frame list")
        p.add_argument("--by", required=True, help="reviewer name")
        p.add_argument("--take", type=int, default=None)
        p.set_defaults(func=fn)

    p = sub.add_parser("publish", parents=[common], help="write the next immutable version vNNN of the approved frames")
    p.add_argument("job")
    p.add_argument("--fill", choices=("plate", "none"), default="plate", help="unapproved frames: the untouched plate, or omitted")
    p.add_argument("--by", default=None)
    p.add_argument(
        "--repair",
        action="store_true",
        help="publish nothing: sweep what interrupted publishes left (hidden temp folders, reservations, "
        "incomplete vNNN folders of older versions) and index complete versions the store lacks",
    )
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("run-chunk", parents=[common], help="run one chunk of a job (farm task)")
    p.add_argument("job")
    p.add_argument("--frames", required=True, help="e.g. 1001-1010")
    p.add_argument("--take", type=int, default=1)
    p.add_argument("--job-dir", default=None, help="the job's output folder (indexes the job if this store lacks it)")
    _run_opts(p)
    p.set_defaults(func=cmd_run_chunk)
