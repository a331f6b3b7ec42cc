"""Finding the actor's face in each source image (shared by the ONNX actor builders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recast.pipeline.errors import ActorError
from recast.pipeline.types import Face


def make_analyser(options: dict[str, Any]) -> Any:  # a pipeline.faces.FaceAnalyser
    """The analyser named by ``options['analyser']`` (default dlib).

    ``analyser_options`` (a dict of AnalyserOptions fields) tunes it; the
    insightface analyser falls back to the builder's ``models_dir`` pack.
    """
    from recast.pipeline.faces import AnalyserOptions, create_analyser

    name = str(options.get("analyser") or "dlib")
    extra = dict(options.get("analyser_options") or {})
    if name == "insightface" and "models_dir" not in extra and options.get("models_dir"):
        extra["models_dir"] = str(options["models_dir"])
    return create_analyser(name, AnalyserOptions.from_dict(extra, where="analyser_options") if extra else None)


def largest_face(analyser: Any, path: Path, image: np.ndarray) -> Face:
    """The largest face in ``image``; ActorError naming ``path`` when there is none."""
    faces = analyser.analyse(image, embed=False)
    if not faces:
        raise ActorError(f"{path}: no face found in this actor image; use images with one clear, frontal face")
    return max(faces, key=lambda f: f.size)
