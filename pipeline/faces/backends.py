"""Registers the built-in analyser backends (imported lazily by ``ANALYSERS``).

Backend modules import their heavy dependencies only when an analyser is created.
"""

from __future__ import annotations

from recast.pipeline.faces import ANALYSERS
from recast.pipeline.faces.base import FaceAnalyser, Notify
from recast.pipeline.faces.options import AnalyserOptions


@ANALYSERS.register("dlib")
def _dlib(options: AnalyserOptions | None = None, notify: Notify | None = None) -> FaceAnalyser:
    from recast.pipeline.faces.dlib_backend import DlibAnalyser

    return DlibAnalyser(options, notify)


@ANALYSERS.register("insightface")
def _insightface(options: AnalyserOptions | None = None, notify: Notify | None = None) -> FaceAnalyser:
    from recast.pipeline.faces.insight_backend import InsightAnalyser

    return InsightAnalyser(options, notify)
