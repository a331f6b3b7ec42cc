"""``recast farm export JOB --format openjd|opencue|PLUGIN [--chunk N]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext


def cmd_export(args: argparse.Namespace, ctx: CliContext) -> int:
    from dataclasses import replace

    from recast.pipeline.farm import FarmOptions, chunk_size, export, exporter
    from recast.pipeline.jobs.store import Store

    store = Store.open_default()
    opts = FarmOptions(chunk=args.chunk, take=args.take, cue_writer=args.cue_writer)
    exp = exporter(args.format)  # an unknown format: one line listing the installed exporters
    opts = replace(opts, chunk=chunk_size(store, args.job, opts))
    path = export(store, args.job, args.format, opts, args.output)
    out: dict[str, Any] = {"job": args.job, "format": args.format, "path": str(path), "chunk": opts.chunk}
    info = getattr(exp, "info", None)
    if callable(info):
        out.update(info(opts))
    ctx.emit(out, str(path))
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    farm = sub.add_parser("farm", help="export a job to a render farm")
    fsub = farm.add_subparsers(dest="farm_command", metavar="ACTION")
    p = fsub.add_parser("export", parents=[common], help="write an OpenJD template or an OpenCue job spec")
    p.add_argument("job")
    p.add_argument("--format", required=True, metavar="FORMAT", help="farm exporter: openjd, opencue, or an installed recast.farm plugin (see `recast plugins`)")
    p.add_argument("--chunk", type=int, default=None,
                   help="frames per task (default: the take's history_block, 96 unless set; tasks then start on history "
                        "blocks and replay only history_frames before them)")
    p.add_argument("--take", type=int, default=1, help="take to render (default 1)")
    p.add_argument("--output", type=Path, default=None, help="file to write (default <out>/farm/...)")
    p.add_argument(
        "--cue-writer",
        choices=("auto", "pyoutline", "xml"),
        default="auto",
        help="opencue: build the outline with PyOutline (auto: when importable) or write the job spec XML by hand",
    )
    p.set_defaults(func=cmd_export)
