"""The ``recast`` console script.

Sub-command modules are listed here in one place, in the order ``--help``
shows them. Each module exposes ``register(sub, common)`` where ``sub`` is the
argparse sub-parsers object and ``common`` a parent parser carrying ``--json``
and ``--debug``; the handler it sets (``set_defaults(func=...)``) receives the
parsed namespace and a :class:`CliContext` and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from pipeline import __version__
from pipeline.cli.context import CliContext
from pipeline.errors import RecastError

# name of module under pipeline.cli -> registered in this order
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "plate",
    "faces",
    "actor",
    "swap",
    "jobs",
    "service",
    "farm",
    "qc",
    "models_cmd",
)


def _common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_parser()
    parser = argparse.ArgumentParser(
        prog="recast", description="Recast: face replacement for VFX plates.", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"recast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"pipeline.cli.{name}"
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:  # command not built yet
                continue
            raise
        mod.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        ctx = CliContext(json=bool(getattr(args, "json", False)), debug=bool(getattr(args, "debug", False)))
        return int(args.func(args, ctx) or 0)
    except RecastError as exc:
        if debug:
            traceback.print_exc()
        print(f"recast: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("recast: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback
        if debug:
            traceback.print_exc()
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"recast: error: internal error: {msg} (rerun with --debug for a traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
