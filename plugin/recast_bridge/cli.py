"""``python3 -m recast_bridge``: the bridge's command line (standard library only).

    python3 -m recast_bridge [--server URL] [--token T] submit SPEC.json | status JOB |
        wait JOB [--timeout S] | versions JOB | latest JOB     (each with --json)

Errors are one line on stderr and a non-zero exit: 1 for a refused request or a
job that failed, 2 for usage, 3 when the service cannot be reached, 4 when a wait
timed out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from . import __version__
from .client import BridgeConfig, Client, ServiceProcess, ensure_service
from .errors import BridgeError, ServiceDown, WaitTimeout
from .flow import frames_text, status_line, wait

EXIT_FAILED, EXIT_USAGE, EXIT_DOWN, EXIT_TIMEOUT = 1, 2, 3, 4


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        sys.stderr.write(f"recast_bridge: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine output (JSON) on stdout")
    p = _Parser(prog="python3 -m recast_bridge", description="Talk to the local Recast service.")
    p.add_argument("--version", action="version", version=f"recast_bridge {__version__}")
    p.add_argument("--server", help="service URL (default $RECAST_SERVER or http://127.0.0.1:8765)")
    p.add_argument("--token", help="API token (default $RECAST_TOKEN)")
    p.add_argument("--http-timeout", type=float, help="seconds per request (default 30)")
    p.add_argument("--serve", help="a recast executable to start `recast serve` with when the service is down")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    s = sub.add_parser("submit", parents=[common], help="submit a job spec (JSON file)")
    s.add_argument("spec")
    for name, what in (("status", "a job's status"), ("versions", "a job's published versions"),
                       ("latest", "the newest published version, as a host loads it")):
        c = sub.add_parser(name, parents=[common], help=what)
        c.add_argument("job")
    w = sub.add_parser("wait", parents=[common], help="wait until a job finishes")
    w.add_argument("job")
    w.add_argument("--timeout", type=float, default=None, help="give up after S seconds (exit 4)")
    w.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    return p


def _read_spec(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            spec = json.load(fh)
    except OSError as exc:
        raise BridgeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise BridgeError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(spec, dict):
        raise BridgeError(f"{path}: a job spec is a JSON object")
    for key in ("plate", "out"):  # the service wants absolute paths; relative ones mean the current folder
        if isinstance(spec.get(key), str) and spec[key] and not os.path.isabs(spec[key]):
            spec[key] = os.path.abspath(spec[key])
    return spec


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, sort_keys=True) if args.json else text, flush=True)


def run(args: argparse.Namespace, client: Client) -> int:
    if args.command == "submit":
        job = client.submit(_read_spec(args.spec))
        _emit(args, {"job": job, "server": client.server}, f"submitted job {job}")
        return 0
    if args.command == "status":
        job = client.job(args.job)
        _emit(args, job, status_line(job))
        return 0
    if args.command == "wait":
        job = wait(client, args.job, args.timeout, args.interval)
        _emit(args, job, status_line(job))
        if job["status"] != "done":
            sys.stderr.write(f"recast_bridge: job {args.job} ended {job['status']}" + (f": {job['error']}" if job.get("error") else "") + "\n")
            return EXIT_FAILED
        return 0
    if args.command == "versions":
        versions = client.versions(args.job)
        lines = [f"{v['version']}  {v['path']}  {v.get('created', '')}" for v in versions] or [f"job {args.job}: nothing published yet"]
        _emit(args, {"job": args.job, "versions": versions}, "\n".join(lines))
        return 0
    if args.command == "latest":
        v = client.version(args.job, "latest")
        frames: List[int] = list(range(int(v["first"]), int(v["last"]) + 1))
        _emit(args, v, f"{v['version']}  {v['pattern']}  frames {frames_text(frames)}  {v.get('colorspace') or ''}".rstrip())
        return 0
    raise BridgeError("a command is needed: submit, status, wait, versions or latest")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("a command is needed: submit, status, wait, versions or latest")
    started: Optional[ServiceProcess] = None
    try:
        config = BridgeConfig.from_env(server=args.server, token=args.token, timeout=args.http_timeout,
                                       serve_command=[args.serve] if args.serve else None)
        if config.serve_command:
            started = ensure_service(config)
            if started is not None:  # left running for the next command; it is the artist's service now
                sys.stderr.write(f"recast_bridge: started recast serve at {started.url} (pid {started.process.pid})\n")
        return run(args, Client(config))
    except ServiceDown as exc:
        sys.stderr.write(f"recast_bridge: {exc}\n")
        return EXIT_DOWN
    except WaitTimeout as exc:
        sys.stderr.write(f"recast_bridge: {exc}\n")
        return EXIT_TIMEOUT
    except BridgeError as exc:
        sys.stderr.write(f"recast_bridge: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("recast_bridge: interrupted\n")
        return 130
