"""``inswapper``: insightface-compatible one-shot swapper (user-supplied ONNX).

Format facts: input[0] is the 128x128 crop aligned with ``norm_crop`` (ArcFace
template, see _align.py), RGB scaled /255, NCHW; input[1] is a [1, 512] latent =
the L2-normalised ArcFace embedding of the source @ emap, L2-normalised again,
where emap is the graph's last initializer (512x512); output [1, 3, 128, 128]
RGB in [0, 1].

The actor build averages the ArcFace embedding over the actor's images (ArcFace
ONNX from ``arcface`` or an insightface pack in ``models_dir``) and stores both
the embedding and the latent, so a swap never re-reads the 500 MB graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recast.models.base import ActorModel, SwapResult
from recast.models.sourcefaces import largest_face, make_analyser
from recast.models.swappers._align import (
    Feather,
    arcface_matrix,
    kps5_of,
    paste,
    square_mask,
    warp_in,
)
from recast.models.swappers._onnx import (
    Signature,
    dims_match,
    last_initializer,
    read_signature,
    session_signature,
    signature_error,
    store_model,
)
from recast.pipeline.errors import ActorError, FaceModelError, SwapError
from recast.pipeline.onnxrt import RuntimeOptions, make_session
from recast.pipeline.types import Face

SIZE = 128
LATENT = 512
MODEL_FILE = "inswapper.onnx"
EMBEDDING_FILE = "source_embedding.npy"
LATENT_FILE = "source_latent.npy"
INSIGHTFACE_LICENCE = "insightface models: non-commercial research use only (check your own licence)"
EXPECTED = "inputs [1,3,128,128] (aligned crop) and [1,512] (latent); output [1,3,128,128]; a 512x512 emap as the last initializer"
ARCFACE_EXPECTED = "one input [1,3,112,112]; output [1,512]"
_ARCFACE_NAMES = ("w600k_r50.onnx", "glintr100.onnx", "w600k_mbf.onnx", "arcface_r100.onnx")


def check_inswapper(path: Path) -> np.ndarray:
    """Check the swapper's signature; returns the emap."""
    check_inswapper_io(path, read_signature(path))
    emap = last_initializer(path)
    if emap.shape != (LATENT, LATENT):
        raise FaceModelError(f"{path}: wrong ONNX signature: expected {EXPECTED}; found last initializer of shape {list(emap.shape)}")
    return emap.astype(np.float32)


def check_inswapper_io(path: Path, sig: Signature) -> None:
    ok = (
        len(sig.inputs) == 2
        and len(sig.outputs) >= 1
        and dims_match(sig.inputs[0].shape, (None, 3, SIZE, SIZE))
        and dims_match(sig.inputs[1].shape, (None, LATENT))
        and dims_match(sig.outputs[0].shape, (None, 3, SIZE, SIZE))
    )
    if not ok:
        raise signature_error(path, EXPECTED, sig)


def find_arcface(options: dict[str, Any]) -> Path:
    if options.get("arcface"):
        return Path(options["arcface"])
    pack = options.get("models_dir")
    if pack:
        pack = Path(pack)
        for name in _ARCFACE_NAMES:
            hits = sorted(pack.rglob(name))
            if hits:
                return hits[0]
        raise ActorError(f"{pack}: no ArcFace model ({', '.join(_ARCFACE_NAMES)}) in this insightface pack; pass --arcface FILE")
    raise ActorError("inswapper actors need an ArcFace ONNX for the source embedding: pass --arcface FILE or --models DIR (insightface pack)")


@dataclass
class ArcFace:
    """ArcFace recogniser: 112x112 aligned RGB, NCHW, normalised as its graph expects."""

    path: Path
    session: Any
    input_name: str
    mean: float
    std: float

    @classmethod
    def open(cls, path: Path, runtime: RuntimeOptions) -> ArcFace:
        sig = read_signature(path)
        if len(sig.inputs) != 1 or not dims_match(sig.inputs[0].shape, (None, 3, 112, 112)) or not sig.outputs or not dims_match(sig.outputs[0].shape, (None, 512)):
            raise signature_error(path, ARCFACE_EXPECTED, sig)
        mean, std = _arcface_normalisation(path)
        return cls(path, make_session(path, runtime), sig.inputs[0].name, mean, std)

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        m = arcface_matrix(kps5_of(face), 112)
        aligned = warp_in(image, m, 112) * 255.0
        blob = ((aligned - self.mean) / self.std).transpose(2, 0, 1)[None].astype(np.float32)
        vec = np.asarray(self.session.run(None, {self.input_name: blob})[0], np.float32).reshape(-1)
        return _unit(vec)


def _arcface_normalisation(path: Path) -> tuple[float, float]:
    """mxnet-converted graphs normalise inside (leading Sub and Mul nodes): feed 0..255."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    names = [n.name for n in model.graph.node[:8]]
    has_sub = any(n.startswith(("Sub", "_minus")) for n in names)
    has_mul = any(n.startswith(("Mul", "_mul")) for n in names)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


def _unit(vec: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(vec))
    if not np.isfinite(n) or n <= 0:
        raise SwapError("embedding is zero or not finite")
    return (vec / n).astype(np.float32)


class InswapperBuilder:
    name = "inswapper"

    def __init__(self, runtime: RuntimeOptions | None = None) -> None:
        self.runtime = runtime or RuntimeOptions()

    def build(self, root: Path, images: list[tuple[Path, np.ndarray]], options: dict[str, Any]) -> dict[str, Any]:
        model = options.get("model_file")
        if not model:
            raise ActorError("inswapper actors need the swapper model: pass --model FILE (an inswapper_128-compatible ONNX)")
        model = Path(model)
        emap = check_inswapper(model)
        arc = ArcFace.open(find_arcface(options), self.runtime)
        analyser = make_analyser(options)
        vecs = []
        for path, image in images:
            face = largest_face(analyser, path, image)
            vecs.append(arc.embed(image, face))
        embedding = _unit(np.mean(vecs, axis=0))
        latent = _unit(embedding @ emap)
        np.save(root / EMBEDDING_FILE, embedding)
        np.save(root / LATENT_FILE, latent)
        store_model(model, root / MODEL_FILE, link=bool(options.get("link_models")))
        from recast.models.hashing import sha256_file

        licence = str(options.get("licence") or INSIGHTFACE_LICENCE)
        arc_sha = sha256_file(arc.path)
        return {
            "model_files": [{"path": MODEL_FILE, "role": "swapper", "original": str(model.resolve()), "licence": licence}],
            "licences": [
                {"model": "inswapper", "file": MODEL_FILE, "licence": licence, "commercial_use": None},
                {"model": "arcface", "file": str(arc.path.resolve()), "sha256": arc_sha, "licence": INSIGHTFACE_LICENCE, "commercial_use": False},
                *analyser.licences(),
            ],
            "inswapper": {
                "size": SIZE,
                "embedding": EMBEDDING_FILE,
                "latent": LATENT_FILE,
                "arcface": {"file": str(arc.path.resolve()), "sha256": arc_sha, "mean": arc.mean, "std": arc.std},
                "images_used": len(vecs),
                "embedding_spread": float(np.mean([1.0 - float(v @ embedding) for v in vecs])),
            },
        }


@dataclass
class _Loaded:
    session: Any
    names: tuple[str, str]
    latent: np.ndarray
    sha256: str | None


class InswapperSwapper:
    """Swap by the insightface one-shot model; the matte is the warped, feathered aligned square."""

    name = "inswapper"

    def __init__(self, options: dict[str, Any] | None = None, runtime: RuntimeOptions | None = None) -> None:
        opts = dict(options or {})
        self.feather = Feather(float(opts.get("feather_erode", 0.03)), float(opts.get("feather_blur", 0.08)))
        self.runtime = runtime or RuntimeOptions()
        self._loaded: dict[Path, _Loaded] = {}

    def _load(self, actor: ActorModel) -> _Loaded:
        if actor.backend != self.name:
            raise SwapError(f"actor {actor.name!r} was built for the {actor.backend!r} backend, not {self.name!r}")
        key = actor.root.resolve()
        if key not in self._loaded:
            section = actor.manifest.get("inswapper") or {}
            model = actor.path(MODEL_FILE)
            latent_path = actor.path(str(section.get("latent", LATENT_FILE)))
            try:
                latent = np.load(latent_path).astype(np.float32).reshape(1, LATENT)
            except (OSError, ValueError) as exc:
                raise ActorError(f"{latent_path}: cannot read the source latent ({exc})") from None
            session = make_session(model, self.runtime)
            check_inswapper_io(model, session_signature(session))
            names = (session.get_inputs()[0].name, session.get_inputs()[1].name)
            self._loaded[key] = _Loaded(session, names, latent, actor.model_sha256)
        return self._loaded[key]

    def swap(self, crop: np.ndarray, face: Face, actor: ActorModel) -> SwapResult:
        loaded = self._load(actor)
        m = arcface_matrix(kps5_of(face), SIZE)
        aligned = np.clip(warp_in(crop, m, SIZE), 0.0, 1.0)
        blob = aligned.transpose(2, 0, 1)[None].astype(np.float32)
        pred = loaded.session.run(None, {loaded.names[0]: blob, loaded.names[1]: loaded.latent})[0]
        out = np.asarray(pred, np.float32).reshape(3, SIZE, SIZE).transpose(1, 2, 0)
        if not np.isfinite(out).all():
            raise SwapError(f"actor {actor.name!r}: inswapper returned NaN/Inf")
        out = np.clip(out, 0.0, 1.0)
        rgb, matte = paste(crop, out, square_mask(SIZE, self.feather), m)
        scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        return SwapResult(rgb, matte, {"backend": self.name, "model_sha256": loaded.sha256, "aligned_size": SIZE, "face_px_per_model_px": round(1.0 / scale, 3)})


def make_swapper(options: dict[str, Any] | None = None, **_: Any) -> InswapperSwapper:
    return InswapperSwapper(options)


def make_builder(**_: Any) -> InswapperBuilder:
    return InswapperBuilder()
