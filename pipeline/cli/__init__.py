"""The ``recast`` console script.

Sub-command modules are listed here in one place, in the order ``--help``
shows them. Each module exposes ``register(sub, common)`` where ``sub`` is the
argparse sub-parsers object and ``common`` a parent parser carrying ``--json``
and ``--debug``; the handler it sets (``set_defaults(func=...)``) receives the
parsed namespace and a :class:`CliContext` and returns an exit code.

``--json`` and ``--debug`` work before or after the sub-command
(``recast --json plate info X`` == ``recast plate info X --json``): the common
parser leaves them unset unless given (``argparse.SUPPRESS``), so a sub-parser
cannot overwrite a flag given at the top level with its own ``False`` default.

Output piped into a reader that stops early (``recast jobs list | head``) ends the
command quietly with exit code :data:`EXIT_BROKEN_PIPE` (141 = 128 + SIGPIPE, what
a shell reports for a tool killed by SIGPIPE, so ``set -o pipefail`` scripts see
the usual status), with nothing on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import sys
import traceback
from collections.abc import Sequence

from recast.pipeline import __version__
from recast.pipeline.cli.context import CliContext
from recast.pipeline.errors import RecastError
from recast.pipeline.heap import bound_heap

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
    "review",
    "models_cmd",
    "plugins",
    "schema_cmd",
)

# command name -> the module above that registers it: a command line naming one imports only
# its module (a farm task's ``recast run-chunk`` skips every other command's imports, ~0.15 s
# CPU a process); tests check this against what the modules register
COMMAND_OWNERS: dict[str, str] = {
    "demo": "demo", "plate": "plate", "faces": "faces", "actor": "actor", "swap": "swap",
    "submit": "jobs", "job": "jobs", "reprocess": "jobs", "approve": "jobs", "reject": "jobs",
    "publish": "jobs", "run-chunk": "jobs", "serve": "service", "farm": "farm", "qc": "qc",
    "dailies": "qc", "review": "review", "models": "models_cmd", "plugins": "plugins", "schema": "schema_cmd",
}

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE (13)


def _common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: unset unless given, so the sub-parser's copy cannot reset a top-level --json/--debug
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
    return common


def _command_of(argv: Sequence[str]) -> str | None:
    """The command an argument list names (its first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``recast`` parser: every command's, or with ``argv`` naming a known command only
    that command's module (``--help``, no command or an unknown one: all of them)."""
    common = _common_parser()
    parser = argparse.ArgumentParser(
        prog="recast", description="Recast: face replacement for VFX plates.", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"recast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    owner = COMMAND_OWNERS.get(_command_of(argv) or "") if argv is not None else None
    for name in (owner,) if owner is not None else COMMAND_MODULES:
        modname = f"recast.pipeline.cli.{name}"
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
    bound_heap()  # frame-sized buffers go back to the system when freed (see pipeline.heap)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        ctx = CliContext(json=bool(getattr(args, "json", False)), debug=bool(getattr(args, "debug", False)))
        code = int(args.func(args, ctx) or 0)
        sys.stdout.flush()  # a closed pipe must fail here, not at interpreter exit
        return code
    except BrokenPipeError as exc:
        if not _stdout_gone():  # some other pipe (a child process, a socket): a real failure
            return _internal_error(exc, debug)
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except RecastError as exc:
        if debug:
            traceback.print_exc()
        print(f"recast: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("recast: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file the OS refused (ELOOP, EACCES, ENOSPC, EROFS...): its cause, one line
        if debug:
            traceback.print_exc()
        from recast.pipeline.errors import describe

        print(f"recast: error: {describe(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback
        return _internal_error(exc, debug)


def _internal_error(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    msg = " ".join(f"{type(exc).__name__}: {exc}".split())
    print(f"recast: error: internal error: {msg} (rerun with --debug for a traceback)", file=sys.stderr)
    return 3


def _stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has gone (so the BrokenPipeError was ours to expect)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
    except (AttributeError, OSError, ValueError):  # no real stdout, or no poll() on this platform
        return True
    poller.register(fd, select.POLLOUT)
    return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
