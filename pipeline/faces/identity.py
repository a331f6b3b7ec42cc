"""Identity comparison between face embeddings.

Embeddings are L2-normalised; the distance is the cosine distance ``1 - a.b``
(0 = identical, 2 = opposite). Each embedding kind has its own same-person
threshold, measured for its model.
"""

from __future__ import annotations

import numpy as np

from recast.pipeline.errors import FaceModelError

# dlib128: dlib's published rule is Euclidean < 0.6 on its raw descriptors, whose norm is
# ~1.4 (measured on astronaut/t1/lfw_subset faces: 1.28..1.59) -> 0.36 / (2 * 1.4**2).
# arcface512: cosine similarity > ~0.35 is the usual ArcFace verification point.
SAME_PERSON_THRESHOLDS: dict[str, float] = {"dlib128": 0.09, "arcface512": 0.65}


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine distance between two embeddings (normalised here as well, to be safe)."""
    va = np.asarray(a, np.float64).reshape(-1)
    vb = np.asarray(b, np.float64).reshape(-1)
    if va.shape != vb.shape:
        raise FaceModelError(f"face_distance: embedding sizes differ ({va.size} vs {vb.size})")
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    if na == 0.0 or nb == 0.0 or not np.isfinite([na, nb]).all():
        return 2.0
    return float(1.0 - np.dot(va, vb) / (na * nb))


def same_person_threshold(kind: str | None) -> float:
    if kind not in SAME_PERSON_THRESHOLDS:
        raise FaceModelError(f"embedding kind {kind!r}: no same-person threshold (known: {', '.join(SAME_PERSON_THRESHOLDS)})")
    return SAME_PERSON_THRESHOLDS[kind]
