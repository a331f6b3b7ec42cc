"""Face restoration stage (GFPGAN / CodeFormer-class ONNX, user-supplied), optional.

Format facts of the common exports: one image input [1, 3, 512, 512] RGB scaled
to [-1, 1] (CodeFormer exports add a scalar fidelity ``weight``), output the same
shape and range. Other fixed square sizes of the same family (GPEN-BFR-256,
-1024) are accepted too. The face is aligned with its five points to the FFHQ
template scaled to the model's size (_align.FFHQ_512), restored, warped back with a feathered square matte
and mixed with the crop by ``blend`` (0 = off, 1 = fully restored).

Enhancers follow the actor rules for model files: ``install_enhancer`` copies
the ONNX under ``models_root()/enhancers/<kind>/`` with a manifest holding its
sha256 and licence, and every load re-checks the hash. No enhancer is
configured by default; the engine runs this stage only when one is named.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from recast.models.hashing import sha256_file
from recast.models.swappers._align import (
    Feather,
    blend,
    ffhq_matrix,
    kps5_of,
    paste,
    square_mask,
    warp_in,
)
from recast.models.swappers._onnx import (
    Signature,
    dims_match,
    read_signature,
    session_signature,
    signature_error,
    store_model,
)
from recast.pipeline.atomic import TMP_MARK, atomic_write_json
from recast.pipeline.errors import ActorError, IntegrityError, SpecError, SwapError
from recast.pipeline.onnxrt import RuntimeOptions, make_session
from recast.pipeline.types import Face

KINDS = ("gfpgan", "codeformer")
MODEL_FILE = "model.onnx"
MANIFEST = "manifest.json"
SIZE = 512  # when the file leaves H/W symbolic
MIN_SIZE = 128
EXPECTED = "an image input [1,3,S,S] RGB in [-1,1] (S = 512 for GFPGAN/CodeFormer, >= 128; plus an optional scalar fidelity input); output [1,3,S,S]"
EDGE = Feather(erode=0.04, blur=0.12)
FLOAT_TYPES = {"float": np.float32, "double": np.float64, "float16": np.float16}


def enhancers_root() -> Path:
    from recast.models.actor import models_root

    return models_root() / "enhancers"


@dataclass(frozen=True)
class EnhancerLayout:
    image: str
    size: int
    output: str
    scalars: dict[str, Any]  # extra scalar inputs (CodeFormer's fidelity) -> numpy dtype


def check_enhancer(path: Path, sig: Signature | None = None) -> EnhancerLayout:
    sig = sig or read_signature(path)
    images = [t for t in sig.inputs if len(t.shape) == 4]
    scalars = [t for t in sig.inputs if len(t.shape) <= 1]
    if len(images) != 1 or len(images) + len(scalars) != len(sig.inputs) or not sig.outputs:
        raise signature_error(path, EXPECTED, sig)
    img = images[0]
    size = img.shape[2] if isinstance(img.shape[2], int) else SIZE
    if not dims_match(img.shape, (None, 3, size, size)) or size < MIN_SIZE or not dims_match(sig.outputs[0].shape, (None, 3, size, size)):
        raise signature_error(path, EXPECTED, sig)
    if any(t.dtype not in FLOAT_TYPES for t in scalars):
        raise signature_error(path, EXPECTED, sig)
    return EnhancerLayout(img.name, size, sig.outputs[0].name, {t.name: FLOAT_TYPES[t.dtype] for t in scalars})


def install_enhancer(kind: str, model: Path, licence: str, force: bool = False) -> dict[str, Any]:
    """Store ``model`` as enhancer ``kind`` (atomic folder swap); returns its manifest + root."""
    if kind not in KINDS:
        raise ActorError(f"enhancer {kind!r}: choose one of {', '.join(KINDS)}")
    if not licence or not licence.strip():
        raise ActorError(f"enhancer {kind!r}: the model's licence is required (--licence)")
    model = Path(model)
    layout = check_enhancer(model)
    final = enhancers_root() / kind
    if final.exists() and not force:
        raise ActorError(f"enhancer {kind!r} is already installed at {final}; pass --force to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{kind}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        store_model(model, tmp / MODEL_FILE)
        manifest = {
            "schema": 1,
            "kind": kind,
            "file": MODEL_FILE,
            "sha256": sha256_file(tmp / MODEL_FILE),
            "size": (tmp / MODEL_FILE).stat().st_size,
            "original": str(model.resolve()),
            "licence": licence.strip(),
            "input": layout.image,
            "fidelity_inputs": sorted(layout.scalars),
            "installed": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        if final.exists():
            old = final.with_name(f".{kind}{TMP_MARK}old-{secrets.token_hex(4)}")
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {**manifest, "root": str(final)}


def installed_model(kind: str) -> tuple[Path, dict[str, Any]]:
    """Path and manifest of an installed enhancer, its sha256 checked."""
    import json

    root = enhancers_root() / kind
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise ActorError(f"no {kind!r} enhancer installed under {enhancers_root()}; add one with `recast actor enhancer {kind} --model FILE --licence TEXT`")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        path = root / str(manifest["file"])
        want = str(manifest["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ActorError(f"{mpath}: enhancer manifest is unreadable ({type(exc).__name__}: {exc})") from None
    if not path.is_file():
        raise IntegrityError(f"{path}: enhancer model file is missing")
    if sha256_file(path) != want:
        raise IntegrityError(f"{path}: sha256 does not match the enhancer manifest (file changed or tampered)")
    return path, manifest


class OnnxEnhancer:
    """One implementation for every GFPGAN/CodeFormer-class export."""

    def __init__(
        self,
        kind: str,
        blend: float = 1.0,
        fidelity: float = 0.5,
        model: Path | None = None,
        licence: str | None = None,
        runtime: RuntimeOptions | None = None,
    ) -> None:
        self.name = kind
        if not 0.0 <= float(blend) <= 1.0:
            raise SpecError(f"enhancer_blend {blend}: must be in 0..1")
        if not 0.0 <= float(fidelity) <= 1.0:
            raise SpecError(f"enhancer fidelity {fidelity}: must be in 0..1")
        self.blend = float(blend)
        self.fidelity = float(fidelity)
        if model is None:
            path, manifest = installed_model(kind)
            self.sha256, self.licence = str(manifest["sha256"]), str(manifest.get("licence"))
        else:
            if not licence:
                raise ActorError(f"{model}: an enhancer model given directly needs its licence")
            path, self.sha256, self.licence = Path(model), sha256_file(Path(model)), licence
        self.session = make_session(path, runtime or RuntimeOptions())
        self.layout = check_enhancer(path, session_signature(self.session))

    @property
    def info(self) -> dict[str, Any]:
        return {"enhancer": self.name, "sha256": self.sha256, "licence": self.licence, "blend": self.blend}

    def enhance(self, crop: np.ndarray, face: Face) -> np.ndarray:
        """``crop`` (working space RGB [0, 1]) with the face restored and blended in."""
        if self.blend == 0.0:
            return crop
        s = self.layout.size
        m = ffhq_matrix(kps5_of(face), s)
        aligned = np.clip(warp_in(crop, m, s), 0.0, 1.0)
        feeds: dict[str, np.ndarray] = {self.layout.image: (aligned * 2.0 - 1.0).transpose(2, 0, 1)[None].astype(np.float32)}
        for name, dtype in self.layout.scalars.items():
            feeds[name] = np.array(self.fidelity, dtype=dtype)
        out = np.asarray(self.session.run([self.layout.output], feeds)[0], np.float32).reshape(3, s, s).transpose(1, 2, 0)
        if not np.isfinite(out).all():
            raise SwapError(f"enhancer {self.name!r} returned NaN/Inf")
        restored = np.clip((out + 1.0) * 0.5, 0.0, 1.0)
        rgb, matte = paste(crop, restored, square_mask(s, EDGE), m)
        return np.clip(blend(crop, rgb, matte, self.blend), 0.0, 1.0)


def gfpgan(**kwargs: Any) -> OnnxEnhancer:
    """The ``recast.enhancers`` entry point ``gfpgan``."""
    return OnnxEnhancer("gfpgan", **kwargs)


def codeformer(**kwargs: Any) -> OnnxEnhancer:
    """The ``recast.enhancers`` entry point ``codeformer``."""
    return OnnxEnhancer("codeformer", **kwargs)
