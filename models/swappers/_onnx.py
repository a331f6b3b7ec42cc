"""ONNX graph signatures: read them without running the model, check them, copy model files."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recast.pipeline.errors import FaceModelError

Dim = int | str | None  # fixed size, symbolic name, or unknown


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[Dim, ...]
    dtype: str

    def __str__(self) -> str:
        dims = ",".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}[{dims}]"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    def describe(self) -> str:
        return f"inputs {', '.join(map(str, self.inputs)) or 'none'}; outputs {', '.join(map(str, self.outputs)) or 'none'}"


def read_signature(path: Path) -> Signature:
    """Graph inputs (initializers excluded) and outputs of an ONNX file."""
    import onnx

    model = _load(path, with_weights=False)
    inits = {i.name for i in model.graph.initializer}

    def tensors(values: list[onnx.ValueInfoProto]) -> tuple[Tensor, ...]:
        out = []
        for v in values:
            if v.name in inits:
                continue
            tt = v.type.tensor_type
            dims: list[Dim] = []
            for d in tt.shape.dim:
                dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
            out.append(Tensor(v.name, tuple(dims), onnx.TensorProto.DataType.Name(tt.elem_type).lower()))
        return tuple(out)

    return Signature(tensors(list(model.graph.input)), tensors(list(model.graph.output)))


def session_signature(session: Any) -> Signature:
    """The same description from a live ONNX Runtime session (no second parse of big weights)."""

    def tensors(args: list[Any]) -> tuple[Tensor, ...]:
        out = []
        for a in args:
            dims = tuple(d if isinstance(d, int) else (d or None) for d in (a.shape or []))
            out.append(Tensor(a.name, dims, str(a.type).removeprefix("tensor(").removesuffix(")")))
        return tuple(out)

    return Signature(tensors(session.get_inputs()), tensors(session.get_outputs()))


def last_initializer(path: Path):  # -> np.ndarray
    """The graph's last initializer as an array (inswapper keeps its emap there)."""
    from onnx import numpy_helper

    model = _load(path, with_weights=True)
    if not model.graph.initializer:
        raise FaceModelError(f"{path}: ONNX graph has no initializers (expected the 512x512 emap last)")
    return numpy_helper.to_array(model.graph.initializer[-1])


def dims_match(found: tuple[Dim, ...], expected: tuple[int | None, ...]) -> bool:
    """Rank equal and every fixed expected dim equal where the file fixes it too."""
    if len(found) != len(expected):
        return False
    return all(e is None or not isinstance(f, int) or f == e for f, e in zip(found, expected, strict=True))


def signature_error(path: Path, expected: str, sig: Signature) -> FaceModelError:
    return FaceModelError(f"{path}: wrong ONNX signature: expected {expected}; found {sig.describe()}")


def store_model(src: Path, dst: Path, link: bool = False) -> None:
    """Copy a model file into a model folder.

    ``link`` hard-links instead when both sit on one filesystem (saves disk for
    500 MB weights, but the actor then shares the user's file: editing either in
    place breaks the actor's hash), falling back to a copy.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


def _load(path: Path, with_weights: bool):  # -> onnx.ModelProto
    import onnx

    p = Path(path)
    if not p.is_file():
        raise FaceModelError(f"{p}: model file not found")
    try:
        return onnx.load(str(p), load_external_data=with_weights)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several kinds
        raise FaceModelError(f"{p}: not a readable ONNX file ({type(exc).__name__})") from None
