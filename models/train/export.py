"""Export a trained model as ONNX in DeepFaceLab's .dfm layout and register it as a
``dfm`` actor.

The graph: input ``in_face:0`` [1,R,R,3] float32 BGR in [0, 1] (NHWC, as the ``dfm``
backend feeds it) -> RGB NCHW -> shared encoder/bottleneck -> dst decoder's mask
(``out_face_mask`` [1,R,R,1]) and src decoder's face and mask (``out_celeb_face``
[1,R,R,3] BGR, ``out_celeb_face_mask`` [1,R,R,1]). Saved with ir_version 8, opset 17,
weights inside the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recast.models.train.net import DFModel

IN_FACE = "in_face:0"
OUTPUTS = ("out_face_mask", "out_celeb_face", "out_celeb_face_mask")
OPSET = 17
IR_VERSION = 8


class DfmGraph(nn.Module):
    def __init__(self, model: DFModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, in_face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = torch.flip(in_face, dims=[3]).permute(0, 3, 1, 2)  # BGR NHWC -> RGB NCHW
        face_mask, celeb, celeb_mask = self.model.swap(x)
        nhwc = lambda t: t.permute(0, 2, 3, 1)  # noqa: E731
        return nhwc(face_mask), torch.flip(nhwc(celeb), dims=[3]), nhwc(celeb_mask)


def export_dfm(model: DFModel, path: Path) -> Path:
    """Write ``model`` as a .dfm-layout ONNX file at ``path`` (atomically); returns ``path``."""
    import onnx

    r = model.cfg.resolution
    graph = DfmGraph(model).to("cpu").eval()
    dummy = torch.rand(1, r, r, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(graph, (dummy,), str(tmp), input_names=[IN_FACE], output_names=list(OUTPUTS), opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(tmp))
    proto.ir_version = IR_VERSION
    proto.producer_name = "recast actor train"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    tmp.replace(path)
    return path


def register_actor(name: str, model_file: Path, images: list[Path], consent: Path, options: dict[str, Any]) -> Any:
    """``build_actor`` with the ``dfm`` backend: the usual actor folder, manifest and consent copy."""
    from recast.models.actor import build_actor

    return build_actor(name, images, consent, backend="dfm", model_file=model_file, options=options)
