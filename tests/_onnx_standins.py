"""Builders of tiny STAND-IN ONNX files with the exact upstream signatures.

They prove plumbing (names, shapes, layouts, value ranges, alignment and paste
back), never quality: each either paints a known constant colour or passes its
input through. All are saved with ir_version=8. Other tests may reuse them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8
OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="recast-standin")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def inswapper_standin(path: Path, colour: tuple[float, float, float] | None = (1.0, 0.0, 1.0), seed: int = 0) -> Path:
    """inswapper_128 signature: target [1,3,128,128], source [1,512] -> output [1,3,128,128].

    ``colour`` (RGB 0..1): a zero-weight 1x1 conv whose bias paints that colour;
    ``colour=None``: the output is the input crop (identity, to check the alignment
    round trip). The latent is consumed (times 0) so the input is live; the 512x512
    emap is the LAST initializer, as in the real file.
    """
    rng = np.random.default_rng(seed)
    emap = rng.normal(size=(512, 512)).astype(np.float32)
    inits = []
    nodes = []
    if colour is None:
        nodes.append(helper.make_node("Identity", ["target"], ["img"]))
    else:
        inits += [_init("w", np.zeros((3, 3, 1, 1))), _init("b", np.asarray(colour))]
        nodes.append(helper.make_node("Conv", ["target", "w", "b"], ["img"]))
    inits += [_init("zero", np.zeros((1,))), _init("emap", emap)]
    nodes += [
        helper.make_node("MatMul", ["source", "emap"], ["lat"]),
        helper.make_node("ReduceMean", ["lat"], ["lat_mean"], keepdims=0),
        helper.make_node("Mul", ["lat_mean", "zero"], ["lat_zero"]),
        helper.make_node("Add", ["img", "lat_zero"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "inswapper_standin",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]), helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, 512])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        inits,
    )
    return _save(graph, path)


def arcface_standin(path: Path, seed: int = 1) -> Path:
    """ArcFace signature: input.1 [1,3,112,112] -> 683 [1,512]: 14x14 average pool + a fixed projection."""
    rng = np.random.default_rng(seed)
    proj = rng.normal(size=(3 * 8 * 8, 512)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["input.1"], ["pooled"], kernel_shape=[14, 14], strides=[14, 14]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["683"]),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("683", TensorProto.FLOAT, [1, 512])],
        [_init("proj", proj)],
    )
    return _save(graph, path)


def dfm_standin(
    path: Path,
    resolution: int = 64,
    colour_bgr: tuple[float, float, float] | None = (0.0, 0.0, 1.0),
    amp: bool = False,
    morph_delta_bgr: tuple[float, float, float] = (0.0, 0.5, 0.0),
    mask_radius: float = 0.4,
) -> Path:
    """DeepFaceLab/DeepFaceLive export layout: in_face:0 [1,R,R,3] NHWC BGR 0..1 ->
    out_face_mask:0 [1,R,R,1], out_celeb_face:0 [1,R,R,3], out_celeb_face_mask:0 [1,R,R,1].

    The celeb face paints ``colour_bgr`` (or passes the input through when None);
    with ``amp`` a morph_value:0 [1] input adds ``morph * morph_delta_bgr``. Both
    masks are a centred disc of ``mask_radius`` (fraction of R): the face mask
    a little larger than the celeb mask.
    """
    r = resolution
    yy, xx = np.mgrid[0:r, 0:r].astype(np.float32) + 0.5
    d = np.hypot(xx - r / 2, yy - r / 2) / r

    def disc(rad: float) -> np.ndarray:
        return (d <= rad).astype(np.float32).reshape(1, r, r, 1)

    inits = [_init("face_mask", disc(mask_radius + 0.03)), _init("celeb_mask", disc(mask_radius)), _init("zero", np.zeros((1,)))]
    nodes = [
        helper.make_node("ReduceMean", ["in_face:0"], ["in_mean"], keepdims=0),
        helper.make_node("Mul", ["in_mean", "zero"], ["in_zero"]),
        helper.make_node("Add", ["face_mask", "in_zero"], ["out_face_mask:0"]),
        helper.make_node("Add", ["celeb_mask", "in_zero"], ["out_celeb_face_mask:0"]),
    ]
    if colour_bgr is None:
        nodes.append(helper.make_node("Identity", ["in_face:0"], ["celeb"]))
    else:
        inits.append(_init("colour", np.asarray(colour_bgr).reshape(1, 1, 1, 3)))
        nodes.append(helper.make_node("Mul", ["in_face:0", "zero"], ["in_zeros"]))
        nodes.append(helper.make_node("Add", ["in_zeros", "colour"], ["celeb"]))
    inputs = [helper.make_tensor_value_info("in_face:0", TensorProto.FLOAT, [1, r, r, 3])]
    if amp:
        inputs.append(helper.make_tensor_value_info("morph_value:0", TensorProto.FLOAT, [1]))
        inits.append(_init("delta", np.asarray(morph_delta_bgr).reshape(1, 1, 1, 3)))
        nodes.append(helper.make_node("Mul", ["morph_value:0", "delta"], ["morph_add"]))
        nodes.append(helper.make_node("Add", ["celeb", "morph_add"], ["out_celeb_face:0"]))
    else:
        nodes.append(helper.make_node("Identity", ["celeb"], ["out_celeb_face:0"]))
    outputs = [
        helper.make_tensor_value_info("out_face_mask:0", TensorProto.FLOAT, [1, r, r, 1]),
        helper.make_tensor_value_info("out_celeb_face:0", TensorProto.FLOAT, [1, r, r, 3]),
        helper.make_tensor_value_info("out_celeb_face_mask:0", TensorProto.FLOAT, [1, r, r, 1]),
    ]
    return _save(helper.make_graph(nodes, "dfm_standin", inputs, outputs, inits), path)


def enhancer_standin(path: Path, colour: tuple[float, float, float] | None = (0.0, 1.0, 0.0), codeformer: bool = False, size: int = 512) -> Path:
    """GFPGAN-class signature: input [1,3,512,512] RGB in [-1,1] -> output [1,3,512,512] in [-1,1].

    Paints ``colour`` (RGB 0..1, emitted as 2*c-1) or passes through (None).
    ``codeformer`` adds the fidelity input ``weight`` (a double scalar), as CodeFormer exports do.
    """
    inits = [_init("zero", np.zeros((1,)))]
    nodes = []
    if colour is None:
        nodes.append(helper.make_node("Identity", ["input"], ["img"]))
    else:
        inits += [_init("w", np.zeros((3, 3, 1, 1))), _init("b", np.asarray(colour) * 2.0 - 1.0)]
        nodes.append(helper.make_node("Conv", ["input", "w", "b"], ["img"]))
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])]
    if codeformer:
        inputs.append(helper.make_tensor_value_info("weight", TensorProto.DOUBLE, []))
        nodes += [
            helper.make_node("Cast", ["weight"], ["weight_f"], to=TensorProto.FLOAT),
            helper.make_node("Mul", ["weight_f", "zero"], ["wz"]),
            helper.make_node("Add", ["img", "wz"], ["output"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["img"], ["output"]))
    graph = helper.make_graph(nodes, "enhancer_standin", inputs, [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, size, size])], inits)
    return _save(graph, path)


def wrong_standin(path: Path) -> Path:
    """A valid ONNX with an unrelated signature (x [1,4] -> y [1,4])."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "wrong",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    return _save(graph, path)


# ---- real-face inputs that go with the stand-ins --------------------------


def write_png(path: Path, rgb_u8: np.ndarray) -> Path:
    """Write an RGB uint8 array as PNG through OpenImageIO."""
    import OpenImageIO as oiio

    arr = np.ascontiguousarray(rgb_u8, np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), oiio.ImageSpec(arr.shape[1], arr.shape[0], arr.shape[2], oiio.UINT8))
    out.write_image(arr)
    out.close()
    return path


def astronaut_png(path: Path) -> Path:
    from skimage import data

    return write_png(path, data.astronaut())


def insightface_image(name: str) -> np.ndarray:
    """RGB float32 [0, 1] of an image shipped in insightface's package data (t1.jpg, Tom_Hanks_54745.png)."""
    import importlib.util

    import OpenImageIO as oiio

    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.submodule_search_locations
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "images" / name
    buf = oiio.ImageBuf(str(path))
    arr = buf.get_pixels(oiio.FLOAT)
    assert arr is not None, f"cannot read {path}"
    return np.ascontiguousarray(arr[..., :3], np.float32)


def consent_json(path: Path, who: str = "Test Subject (stand-in consent for tests)", scope: str = "recast unit tests only") -> Path:
    import json

    path.write_text(json.dumps({"who": who, "scope": scope, "when": "2026-01-01"}))
    return path
