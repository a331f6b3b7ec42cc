"""One notice per process: every component's licence notice goes through the process board."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from recast.pipeline.notices import NoticeBoard

REPO = Path(__file__).resolve().parents[1]


def test_board_prints_each_notice_once() -> None:
    out = io.StringIO()
    board = NoticeBoard(out)
    assert board.notify("licence A") is True
    assert board.notify("licence  A") is False  # the same words, other spacing: the same notice
    assert board.notify("licence B") is True
    board("licence B")
    assert out.getvalue().splitlines() == ["licence A", "licence B"]
    assert board.seen == ["licence A", "licence B"]


# Every component that loads the 68-point model in one process: two analysers made directly,
# the warp swapper's landmarker, QC's face probe, and an engine-style notify callback.
_SCRIPT = """
import numpy as np
from recast.models.swappers.warp_landmarks import Landmarker
from recast.pipeline.faces import create_analyser
from recast.pipeline.faces.dlib_backend import NONCOMMERCIAL_NOTICE
from recast.pipeline.notices import notice, process_notices
from recast.qc.identity import FaceProbe

create_analyser("dlib")
create_analyser("dlib", notify=notice)
Landmarker().analyser()
probe = FaceProbe("dlib")
assert probe._load(), probe.error
notice(NONCOMMERCIAL_NOTICE)
assert process_notices().seen == [NONCOMMERCIAL_NOTICE], process_notices().seen
print("ok")
"""


def test_licence_notice_printed_once_per_process() -> None:
    from recast.pipeline.faces.dlib_backend import NONCOMMERCIAL_NOTICE

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    assert proc.stderr.count(NONCOMMERCIAL_NOTICE) == 1, proc.stderr
