"""One OpenCV (headless) and one ONNX Runtime, importable together with OpenImageIO and PyQt5."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, os, importlib.metadata as md
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import cv2
import onnxruntime
import OpenImageIO
from PyQt5 import QtWidgets
import insightface  # declares opencv-python + onnxruntime; installed without them
from recast.pipeline.faces import create_analyser
app = QtWidgets.QApplication([])
w = QtWidgets.QLabel("recast")
w.resize(40, 20)
dists = sorted({(d.metadata["Name"] or "").lower() for d in md.distributions()})
print(json.dumps({
    "gui": cv2.getBuildInformation().split("GUI:")[1].split("\n")[0].strip(),
    "cv2_file": cv2.__file__,
    "ort_providers": onnxruntime.get_available_providers(),
    "oiio": OpenImageIO.VERSION_STRING,
    "qt_widget": w.width(),
    "opencv_dists": [d for d in dists if d.startswith("opencv")],
    "ort_dists": [d for d in dists if d.startswith("onnxruntime")],
    "analyser": create_analyser("dlib").name,
}))
"""


def test_cv2_onnxruntime_oiio_and_pyqt5_in_one_process() -> None:
    res = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["opencv_dists"] == ["opencv-python-headless"]  # no Qt-bundling OpenCV next to PyQt5
    assert info["gui"] == "NONE"
    assert len(info["ort_dists"]) == 1, info["ort_dists"]  # onnxruntime or onnxruntime-gpu, never both
    assert "CPUExecutionProvider" in info["ort_providers"]
    assert info["qt_widget"] == 40 and info["oiio"] and info["analyser"] == "dlib"
