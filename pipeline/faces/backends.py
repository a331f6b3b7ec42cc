"""The built-in analyser factories, named by the ``recast.analysers`` entry points
(pyproject.toml). Backend modules import their heavy dependencies only when an
analyser is created.
"""

from __future__ import annotations

from recast.pipeline.faces.base import FaceAnalyser, Notify
from recast.pipeline.faces.options import AnalyserOptions


def dlib_analyser(options: AnalyserOptions | None = None, notify: Notify | None = None) -> FaceAnalyser:
    from recast.pipeline.faces.dlib_backend import DlibAnalyser

    return DlibAnalyser(options, notify)


def insightface_analyser(options: AnalyserOptions | None = None, notify: Notify | None = None) -> FaceAnalyser:
    from recast.pipeline.faces.insight_backend import InsightAnalyser

    return InsightAnalyser(options, notify)



def mediapipe_analyser(options: AnalyserOptions | None = None, notify: Notify | None = None) -> FaceAnalyser:
    from recast.pipeline.faces.mediapipe_backend import MediaPipeAnalyser

    return MediaPipeAnalyser(options, notify)
