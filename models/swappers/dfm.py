"""``dfm``: per-actor models in DeepFaceLab / DeepFaceLive's export layout.

Format facts: a .dfm is an ONNX file; input ``in_face:0`` is NHWC float32 (the
resolution is the input's H = W), BGR channel order (DeepFaceLab works on
OpenCV images) scaled to [0, 1]; outputs ``out_face_mask`` [1,R,R,1],
``out_celeb_face`` [1,R,R,3] (BGR, [0, 1]) and ``out_celeb_face_mask`` [1,R,R,1]
(tensor names may carry TensorFlow's ``:0`` suffix). AMP models also take
``morph_value:0`` [1]. The crop follows DeepFaceLab's face-type geometry
(_align.dfl_matrix); the face type a model was trained with is not stored in the
file, so it is recorded in the actor manifest at build time (default whole face).

Matte: the union (max) of the two model masks by default — it covers both the
plate face being replaced and the new face — or ``intersection`` / ``celeb`` /
``face``; always faded out towards the aligned square's border.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recast.models.base import ActorModel, SwapResult
from recast.models.sourcefaces import largest_face, make_analyser
from recast.models.swappers._align import (
    Feather,
    dfl_face_type,
    dfl_matrix,
    paste,
    square_mask,
    warp_in,
)
from recast.models.swappers._onnx import (
    Signature,
    Tensor,
    dims_match,
    read_signature,
    session_signature,
    signature_error,
    store_model,
)
from recast.pipeline.errors import ActorError, SwapError
from recast.pipeline.onnxrt import RuntimeOptions, make_session
from recast.pipeline.types import Face

MaskMode = Literal["union", "intersection", "celeb", "face"]
MASK_MODES: tuple[MaskMode, ...] = ("union", "intersection", "celeb", "face")
MODEL_FILE = "model.dfm"
IN_FACE = "in_face"
MORPH = "morph_value"
OUTPUTS = ("out_face_mask", "out_celeb_face", "out_celeb_face_mask")
EXPECTED = "input in_face:0 [1,R,R,3] (NHWC, + morph_value:0 [1] for AMP); outputs out_face_mask [1,R,R,1], out_celeb_face [1,R,R,3], out_celeb_face_mask [1,R,R,1]"
DEFAULT_FACE_TYPE = "whole_face"
DEFAULT_MORPH = 0.75
DFM_LICENCE = "user-supplied DeepFaceLab model: licence not stated (record it with --licence)"


def _base(name: str) -> str:
    return name[:-2] if name.endswith(":0") else name


@dataclass(frozen=True)
class DfmLayout:
    resolution: int
    in_face: str
    morph: str | None
    outputs: dict[str, str]  # base name -> tensor name in the file


def check_dfm(path: Path, sig: Signature | None = None) -> DfmLayout:
    """The model's layout, or FaceModelError naming expected and found tensors."""
    sig = sig or read_signature(path)
    ins = {_base(t.name): t for t in sig.inputs}
    outs = {_base(t.name): t for t in sig.outputs}
    face: Tensor | None = ins.get(IN_FACE)
    if face is None or set(ins) - {IN_FACE, MORPH} or not set(OUTPUTS) <= set(outs):
        raise signature_error(path, EXPECTED, sig)
    shape = face.shape
    if len(shape) != 4 or not isinstance(shape[1], int) or shape[1] != shape[2] or shape[1] < 16 or not dims_match(shape, (None, None, None, 3)):
        raise signature_error(path, EXPECTED, sig)
    r = int(shape[1])
    want = {"out_face_mask": (None, r, r, 1), "out_celeb_face": (None, r, r, 3), "out_celeb_face_mask": (None, r, r, 1)}
    if not all(dims_match(outs[k].shape, v) for k, v in want.items()):
        raise signature_error(path, EXPECTED.replace("R", str(r)), sig)
    morph = ins.get(MORPH)
    return DfmLayout(r, face.name, None if morph is None else morph.name, {k: outs[k].name for k in OUTPUTS})


class DfmBuilder:
    name = "dfm"

    def build(self, root: Path, images: list[tuple[Path, np.ndarray]], options: dict[str, Any]) -> dict[str, Any]:
        model = options.get("model_file")
        if not model:
            raise ActorError("dfm actors need the trained model: pass --model FILE (a DeepFaceLab/DeepFaceLive .dfm)")
        model = Path(model)
        layout = check_dfm(model)
        try:
            face_type = dfl_face_type(str(options.get("face_type") or DEFAULT_FACE_TYPE))
        except SwapError as exc:
            raise ActorError(f"--face-type: {exc}") from None
        morph = float(options["morph"]) if options.get("morph") is not None else DEFAULT_MORPH
        if not 0.0 <= morph <= 1.0:
            raise ActorError(f"--morph {morph}: must be in 0..1")
        analyser = make_analyser(options)
        for path, image in images:
            largest_face(analyser, path, image)  # names the image without a face
        store_model(model, root / MODEL_FILE, link=bool(options.get("link_models")))
        licence = str(options.get("licence") or DFM_LICENCE)
        extra = {"training": dict(options["training"])} if isinstance(options.get("training"), dict) else {}
        return {
            **extra,
            "model_files": [{"path": MODEL_FILE, "role": "swapper", "original": str(model.resolve()), "licence": licence}],
            "licences": [{"model": "dfm", "file": MODEL_FILE, "licence": licence, "commercial_use": None}, *analyser.licences()],
            "dfm": {"resolution": layout.resolution, "face_type": face_type, "amp": layout.morph is not None, "morph": morph},
        }


@dataclass
class _Loaded:
    session: Any
    layout: DfmLayout
    face_type: str
    morph: float
    sha256: str | None


class DfmSwapper:
    name = "dfm"

    def __init__(self, options: dict[str, Any] | None = None, runtime: RuntimeOptions | None = None) -> None:
        opts = dict(options or {})
        mode = str(opts.get("mask_mode", "union"))
        if mode not in MASK_MODES:
            raise SwapError(f"dfm mask_mode {mode!r}: choose one of {', '.join(MASK_MODES)}")
        self.mask_mode: MaskMode = mode  # type: ignore[assignment]
        self.morph: float | None = None if opts.get("morph") is None else float(opts["morph"])
        if self.morph is not None and not 0.0 <= self.morph <= 1.0:
            raise SwapError(f"dfm morph {self.morph}: must be in 0..1")
        self.face_type: str | None = None if opts.get("face_type") is None else dfl_face_type(str(opts["face_type"]))
        self.edge = Feather(float(opts.get("feather_erode", 0.01)), float(opts.get("feather_blur", 0.05)))
        self.runtime = runtime or RuntimeOptions()
        self._loaded: dict[Path, _Loaded] = {}

    def _load(self, actor: ActorModel) -> _Loaded:
        if actor.backend != self.name:
            raise SwapError(f"actor {actor.name!r} was built for the {actor.backend!r} backend, not {self.name!r}")
        key = actor.root.resolve()
        if key not in self._loaded:
            section = actor.manifest.get("dfm") or {}
            model = actor.path(MODEL_FILE)
            session = make_session(model, self.runtime)
            layout = check_dfm(model, session_signature(session))
            face_type = self.face_type or dfl_face_type(str(section.get("face_type", DEFAULT_FACE_TYPE)))
            morph = self.morph if self.morph is not None else float(section.get("morph", DEFAULT_MORPH))
            self._loaded[key] = _Loaded(session, layout, face_type, morph, actor.model_sha256)
        return self._loaded[key]

    def swap(self, crop: np.ndarray, face: Face, actor: ActorModel) -> SwapResult:
        ld = self._load(actor)
        r = ld.layout.resolution
        m, used = dfl_matrix(face, r, ld.face_type)
        aligned = np.clip(warp_in(crop, m, r), 0.0, 1.0)
        feeds: dict[str, np.ndarray] = {ld.layout.in_face: np.ascontiguousarray(aligned[..., ::-1])[None].astype(np.float32)}
        if ld.layout.morph is not None:
            feeds[ld.layout.morph] = np.array([ld.morph], np.float32)
        names = [ld.layout.outputs[k] for k in OUTPUTS]
        face_mask, celeb, celeb_mask = (np.asarray(x, np.float32) for x in ld.session.run(names, feeds))
        celeb_rgb = celeb.reshape(r, r, 3)[..., ::-1]
        fm, cm = face_mask.reshape(r, r), celeb_mask.reshape(r, r)
        if not (np.isfinite(celeb_rgb).all() and np.isfinite(fm).all() and np.isfinite(cm).all()):
            raise SwapError(f"actor {actor.name!r}: dfm model returned NaN/Inf")
        mask = {"union": np.maximum(fm, cm), "intersection": fm * cm, "celeb": cm, "face": fm}[self.mask_mode]
        mask = np.clip(mask, 0.0, 1.0) * square_mask(r, self.edge)
        rgb, matte = paste(crop, np.clip(np.ascontiguousarray(celeb_rgb), 0.0, 1.0), mask.astype(np.float32), m)
        info = {
            "backend": self.name,
            "model_sha256": ld.sha256,
            "resolution": r,
            "face_type": ld.face_type,
            "aligned_from": used,
            "mask_mode": self.mask_mode,
            "morph": ld.morph if ld.layout.morph is not None else None,
        }
        return SwapResult(rgb, matte, info)


def make_swapper(options: dict[str, Any] | None = None, **_: Any) -> DfmSwapper:
    return DfmSwapper(options)


def make_builder(**_: Any) -> DfmBuilder:
    return DfmBuilder()
