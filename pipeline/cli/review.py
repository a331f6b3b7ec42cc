"""``recast review [JOB_ID|JOB_DIR] [--server URL] [--reviewer NAME]`` and ``recast review export JOB --otio FILE``.

Opens the PyQt5 review app on a job (or, with no job, the job list), through the
local store and job folders or a running ``recast serve`` (``--server``).
``--screenshot PNG`` renders the window offscreen to a PNG instead
(``--frame N``, ``--mode side|wipe|diff|flip``) and prints where it went.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import SpecError

MODES = ("side", "wipe", "diff", "flip")


def cmd_review(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.review_ui.client import open_client

    if args.target == "export":
        if not args.job or not args.otio:
            raise SpecError("usage: recast review export JOB --otio FILE")
        from recast.review_ui.otio_export import export_otio

        client, job_id = open_client(args.job, args.server, args.reviewer)
        assert job_id is not None
        res = export_otio(client, job_id, Path(args.otio), args.rate)
        ctx.emit(res, f"wrote {res['otio']} ({res['markers']} markers)")
        return 0
    if args.job:
        raise SpecError(f"unexpected argument {args.job!r} (usage: recast review [JOB_ID|JOB_DIR])")
    if args.otio:
        raise SpecError("--otio belongs to `recast review export JOB --otio FILE`")
    client, job_id = open_client(args.target, args.server, args.reviewer)
    if args.screenshot:
        if not job_id:
            raise SpecError("--screenshot needs a job (recast review JOB --screenshot out.png)")
        from recast.review_ui.app import screenshot

        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise SpecError(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 1600x1000") from None
        if not (320 <= w <= 8192 and 240 <= h <= 8192):
            raise SpecError(f"--size {args.size}: width 320..8192 and height 240..8192")
        res = screenshot(client, job_id, Path(args.screenshot), args.frame, args.mode, size=(w, h), overlay=args.overlay)
        ctx.emit(res, f"wrote {res['png']} (job {job_id} frame {res['frame']}, {res['mode']}: {res['a']} | {res['b']})")
        return 0
    from recast.review_ui.app import run_app

    return run_app(client, job_id)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "review",
        parents=[common],
        help="review app (PyQt5): compare plate/comp, flag, reference, reprocess, approve, publish",
        description="Open the review app on a job id or job folder (no argument: the job list). "
        "`recast review export JOB --otio FILE` writes the decisions as OpenTimelineIO markers.",
    )
    p.add_argument("target", nargs="?", help="job id or job output folder (or `export`)")
    p.add_argument("job", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--server", help="URL of a running `recast serve` (default: the local store and folders)")
    p.add_argument("--reviewer", help="name signed on every decision (default: the OS user)")
    p.add_argument("--screenshot", metavar="PNG", help="render the window offscreen to PNG and exit")
    p.add_argument("--frame", type=int, help="with --screenshot: the frame shown")
    p.add_argument("--mode", choices=MODES, default="side", help="with --screenshot: the view mode")
    p.add_argument("--size", default="1600x1000", help="with --screenshot: window size WIDTHxHEIGHT")
    p.add_argument("--overlay", action="store_true", help="with --screenshot: face boxes, landmarks and track ids")
    p.add_argument("--otio", metavar="FILE", help="with `export`: the OpenTimelineIO file to write")
    p.add_argument("--rate", type=float, default=24.0, help="with `export`: frame rate of the clip")
    p.set_defaults(func=cmd_review)
