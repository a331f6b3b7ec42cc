"""``recast demo``: a real swap end to end from package-shipped faces, run as a job and QC'd (see pipeline.demo)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole path on the embedded default: demo actor + EXR plate -> job -> comp/element -> QC report + movie",
        parents=[common],
    )
    p.add_argument("--out", type=Path, default=Path("demo_out"), metavar="DIR", help="output folder (default: ./demo_out)")
    p.add_argument("--frames", type=int, default=10, metavar="N", help="plate length in frames (default 10)")
    p.add_argument("--no-identity", action="store_true", help="skip the dlib identity check and the identity QC metrics (faster)")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.demo import DemoOptions, run_demo, summary_text
    from recast.pipeline.errors import SpecError

    if not 1 <= args.frames <= 240:
        raise SpecError(f"--frames: {args.frames} is outside 1..240")
    ctx.info(f"recast demo: building actor and plate, running the job and QC under {args.out.resolve()} ...")
    result = run_demo(DemoOptions(out=args.out, frames=args.frames), check_identity=not args.no_identity,
                      progress=ctx.frame_progress())
    ctx.emit(result, summary_text(result))
    return 1 if result["failed"] else 0
