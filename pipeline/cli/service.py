"""``recast serve``: the local HTTP service (loopback unless a token is set)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from recast.pipeline.cli.context import CliContext


def cmd_serve(args: argparse.Namespace, ctx: CliContext) -> int:
    from recast.pipeline.jobs.store import default_db_path
    from recast.pipeline.service.app import ServiceConfig
    from recast.pipeline.service.security import parse_roots
    from recast.pipeline.service.server import make_server, serve_forever

    roots_raw = list(args.root or []) or [p for p in os.environ.get("RECAST_ROOTS", "").split(os.pathsep) if p] or [os.getcwd()]
    config = ServiceConfig(
        roots=parse_roots(roots_raw),
        store_path=default_db_path(),
        token=os.environ.get("RECAST_TOKEN") or None,
        workers=args.workers,
        recover=not args.no_resume,
        max_body=args.max_body,
    )
    running = make_server(config, args.host, args.port)
    info = {"url": running.url, "roots": [str(r) for r in config.roots], "token": bool(config.token), "workers": args.workers}
    if ctx.json:
        print(json.dumps(info), flush=True)
    else:
        ctx.info(f"recast service on {running.url} (roots: {', '.join(info['roots'])}; OpenAPI at {running.url}/docs)")
    serve_forever(running)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="run the local HTTP service (FastAPI + uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback; others need RECAST_TOKEN)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    p.add_argument("--workers", type=int, default=2, help="jobs run at once")
    p.add_argument("--root", action="append", type=Path, help="allowed root folder for plates and outputs (repeatable; default $RECAST_ROOTS or the current folder)")
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="do not resume jobs a previous service left queued, running or interrupted (default: resume them at start)",
    )
    p.add_argument("--max-body", type=int, default=1_000_000, metavar="BYTES",
                   help="largest request body accepted, counted while it streams in (default 1000000)")
    p.set_defaults(func=cmd_serve)
