"""Faces: detect, landmark, embed, track and select faces in plates.

Backends register in ``ANALYSERS`` by name; callers use ``create_analyser`` and
never import a backend module directly.
"""

from __future__ import annotations

from pipeline.faces.base import FaceAnalyser
from pipeline.faces.options import AnalyserOptions, TrackerOptions
from pipeline.registry import Registry

ANALYSERS: Registry[FaceAnalyser] = Registry(
    "face analyser", builtin_modules=("pipeline.faces.backends",)
)


def create_analyser(name: str = "dlib", options: AnalyserOptions | None = None) -> FaceAnalyser:
    """A ready analyser of backend ``name`` (UnknownBackend for an unknown name)."""
    return ANALYSERS.create(name, options)


__all__ = ["ANALYSERS", "AnalyserOptions", "FaceAnalyser", "TrackerOptions", "create_analyser"]
