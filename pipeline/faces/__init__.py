"""Faces: detect, landmark, embed, track and select faces in plates.

Backends are found in ``ANALYSERS`` by name (entry points, group ``recast.analysers``); callers use ``create_analyser`` and
never import a backend module directly.

- ``base``: the FaceAnalyser contract and the flow backends share (detect on a
  downscale, landmarks and embeddings on full-resolution crops, pose).
- ``dlib_backend`` / ``insight_backend``: the two analysers (``backends`` holds their factories).
- ``imageprep``: sanitising, display mapping, downscales and crops; ``geometry``: keypoints, pose, IoU.
- ``identity``: embedding distance and same-person thresholds.
- ``tracking`` (+ ``smoothing``, ``propagation``): track ids, cuts, One-Euro, optical flow.
- ``stream``: analyser + tracker per sequence, embedding once per track.
- ``selection``: which face gets which actor; ``overlay``: PNG proxies for people.
"""

from __future__ import annotations

from recast.pipeline.faces.base import FaceAnalyser, Notify, print_notice
from recast.pipeline.faces.options import AnalyserOptions, TrackerOptions
from recast.pipeline.registry import Registry

ANALYSERS: Registry[FaceAnalyser] = Registry("face analyser", "recast.analysers")


def create_analyser(
    name: str = "dlib", options: AnalyserOptions | None = None, notify: Notify | None = None
) -> FaceAnalyser:
    """A ready analyser of backend ``name`` (UnknownBackend for an unknown name).

    ``notify`` receives one-line notices (e.g. that a non-commercial model is in
    use); by default they are printed to stderr.
    """
    if notify is None:
        return ANALYSERS.create(name, options)
    return ANALYSERS.create(name, options, notify=notify)


__all__ = ["ANALYSERS", "AnalyserOptions", "FaceAnalyser", "Notify", "TrackerOptions", "create_analyser", "print_notice"]
