"""The CLI imports only the module of the command it is given: the owners table must say
which module registers each command, and a command line parses the same either way."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from recast.pipeline.cli import COMMAND_MODULES, COMMAND_OWNERS, _common_parser, build_parser
from tests.test_job_support import REPO


def test_owners_table_matches_what_the_modules_register() -> None:
    seen: dict[str, str] = {}
    for name in COMMAND_MODULES:
        p = argparse.ArgumentParser()
        sub = p.add_subparsers(dest="command")
        importlib.import_module(f"recast.pipeline.cli.{name}").register(sub, _common_parser())
        seen.update({cmd: name for cmd in sub.choices})
    assert seen == COMMAND_OWNERS


def test_one_command_parses_as_with_the_whole_parser() -> None:
    for argv in (["run-chunk", "J", "--frames", "1-4", "--no-qc"], ["--json", "job", "run", "J", "--chunk", "3"],
                 ["farm", "export", "J", "--format", "openjd"]):
        assert vars(build_parser(argv).parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_run_chunk_does_not_import_other_commands() -> None:
    code = ("import sys; from recast.pipeline.cli import build_parser; build_parser(['run-chunk', 'J', '--frames', '1']); "
            "print(sorted(m for m in sys.modules if m.startswith('recast.pipeline.cli.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "recast.pipeline.cli.jobs" in out and "recast.pipeline.cli.review" not in out and "recast.pipeline.cli.qc" not in out
    # no command, or one nobody registers: every command is there (help and the error list them all)
    res = subprocess.run([sys.executable, "-m", "recast", "nosuch"], cwd=REPO, capture_output=True, text=True, check=False)
    assert res.returncode == 2 and "run-chunk" in res.stderr and "review" in res.stderr
