"""Shared real-face inputs for the faces tests (package-shipped images only, no downloads)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np


def insightface_images_dir() -> Path:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None, "insightface is not installed"
    return Path(spec.origin).parent / "data" / "images"


def load_rgb(path: Path) -> np.ndarray:
    """Package JPEG/PNG as float32 RGB [0, 1] (8-bit sources only, never EXR)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut().astype(np.float32) / 255.0


def t1() -> np.ndarray:
    return load_rgb(insightface_images_dir() / "t1.jpg")


def t1_face(k: int = 0) -> np.ndarray:
    """t1.jpg cut round its ``k``-th face from the left (dlib), with 1.2 face sizes around it:
    ``t1_face(0)`` is the long-haired face with downcast eyes, turned a little."""
    from recast.pipeline.faces import AnalyserOptions, create_analyser

    img = t1()
    an = create_analyser("dlib", AnalyserOptions(), notify=lambda _t: None)
    x0, y0, x1, y1 = (float(v) for v in sorted(an.analyse(img, embed=False), key=lambda f: float(f.box[0]))[k].box)
    pad = 1.2 * max(x1 - x0, y1 - y0)
    h, w = img.shape[:2]
    return np.ascontiguousarray(img[int(max(0, y0 - pad)) : int(min(h, y1 + pad)), int(max(0, x0 - pad)) : int(min(w, x1 + pad))])


def tom_hanks() -> np.ndarray:
    return load_rgb(insightface_images_dir() / "Tom_Hanks_54745.png")


def lfw_faces(size: int = 160, pad: int = 80) -> list[np.ndarray]:
    """The 100 face images of skimage's lfw_subset, upscaled and padded with edge pixels
    (the originals are 25x25 tight crops, far below any detector's minimum)."""
    from skimage import data

    faces = data.lfw_subset()[:100]
    out = []
    for f in faces:
        big = cv2.resize(f.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        out.append(np.repeat(np.clip(big, 0, 1)[:, :, None], 3, axis=2))
    return out


def megamind_frames(media: Path, count: int, scale: float = 0.5, start: int = 0) -> list[np.ndarray]:
    """``count`` decoded frames of Megamind.avi as float32 sRGB [0, 1], resized by ``scale``."""
    import av

    out: list[np.ndarray] = []
    with av.open(str(media / "Megamind.avi")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            if scale != 1.0:
                rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            out.append(rgb.astype(np.float32) / 255.0)
            if len(out) >= count:
                break
    return out


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    a = np.clip(rgb, 0.0, 1.0)
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4).astype(np.float32)


def skimage_rgb(name: str) -> np.ndarray:
    """One of skimage's sample images as float sRGB RGB in 0..1 (stereo pairs: the left
    view; grey images repeated into three channels; non-uint8 data stretched to 0..1)."""
    from skimage import data

    img = getattr(data, name)()
    a = np.asarray(img[0] if isinstance(img, tuple) else img)
    if a.dtype == bool:
        a = a.astype(np.float32)
    elif a.dtype == np.uint8:
        a = a.astype(np.float32) / 255.0
    else:
        a = a.astype(np.float32)
        a = (a - a.min()) / max(1e-6, float(a.max() - a.min()))
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, 2)
    return np.ascontiguousarray(a[:, :, :3])


def hd_plate(path: Path, srgb: np.ndarray, height: int = 1080) -> tuple[np.ndarray, object]:
    """``srgb`` scaled to ``height`` px tall (at most 1920 wide), centred in an 18 % grey
    1920x1080 half EXR (bench_preview's layout), written and read back: the plate's linear
    pixels and its OCIO display map, as the engine shows them to an analyser."""
    from recast.pipeline.color import ColorContext
    from recast.pipeline.plateio import new_spec, read_plate, write_image

    h, w = srgb.shape[:2]
    nw = min(1920, round(w * height / h))
    nh = round(h * nw / w)
    big = cv2.resize(srgb_to_linear(srgb), (nw, nh), interpolation=cv2.INTER_CUBIC)
    frame = np.full((1080, 1920, 3), 0.18, np.float32)
    y, x = (1080 - nh) // 2, (1920 - nw) // 2
    frame[y : y + nh, x : x + nw] = np.clip(big, 0.0, None)
    write_image(path, frame, new_spec(1920, 1080, ["R", "G", "B"], "half", "zip"))
    plate = read_plate(path)
    color = ColorContext()
    return plate.rgb(), color.display_fn(color.plate_space(plate))


def write_exr_sequence(frames: list[np.ndarray], directory: Path, name: str = "mm", first: int = 1001) -> str:
    """Write scene-linear half EXRs ``<name>.####.exr`` with the foundation writer; returns the pattern."""
    from recast.pipeline.plateio import new_spec, write_image

    directory.mkdir(parents=True, exist_ok=True)
    for i, rgb in enumerate(frames):
        h, w = rgb.shape[:2]
        spec = new_spec(w, h, ["R", "G", "B"], pixel_type="half", compression="zip")
        write_image(directory / f"{name}.{first + i:04d}.exr", srgb_to_linear(rgb), spec)
    return str(directory / f"{name}.####.exr")


# ---- stand-in insightface models ------------------------------------------------------
# These are NOT the real buffalo_l weights: tiny ONNX graphs with the exact input/output
# signatures insightface 2.1 routes on, so tests prove loading and plumbing without a
# download. The stand-in detector fires on bright regions; the stand-in recogniser is a
# fixed random projection of pooled pixels; the stand-in landmarker returns a fixed layout.


def _save(model, path: Path) -> Path:
    import onnx

    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def standin_scrfd(path: Path, with_kps: bool = True, five_strides: bool = False) -> Path:
    """SCRFD signature: input [1,3,H,W]; per stride, scores [N,1], then boxes [N,4], then
    (with keypoints) kps [N,10]. Strides 8/16/32 with 2 anchors per cell (6 or 9 outputs),
    or with ``five_strides`` 8/16/32/64/128 with 1 anchor (10 or 15 outputs) — the four
    layouts insightface 2.1 routes on by output count. Only stride 32 fires: the score is
    the mean brightness of the 32x32 window centred on the anchor."""
    from onnx import TensorProto, helper, numpy_helper

    strides = (8, 16, 32, 64, 128) if five_strides else (8, 16, 32)
    anchors = 1 if five_strides else 2
    nodes, inits, outputs = [], [], []
    x = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])
    kps_off = np.array([-0.35, -0.2, 0.35, -0.2, 0.0, 0.1, -0.25, 0.45, 0.25, 0.45], np.float32)

    def head(stride: int, kind: str, k: int, scale: float, bias: np.ndarray) -> str:
        tag = f"{kind}{stride}"
        nodes.append(
            helper.make_node(
                "AveragePool", ["input.1"], [f"{tag}_pool"], kernel_shape=[stride, stride],
                strides=[stride, stride], pads=[stride // 2, stride // 2, 0, 0], count_include_pad=0,
            )
        )
        nodes.append(helper.make_node("ReduceMean", [f"{tag}_pool"], [f"{tag}_mean"], axes=[1], keepdims=1))
        nodes.append(helper.make_node("Concat", [f"{tag}_mean"] * (anchors * k), [f"{tag}_cat"], axis=1))
        inits.append(numpy_helper.from_array(np.array(scale, np.float32), f"{tag}_scale"))
        inits.append(numpy_helper.from_array(bias.reshape(1, anchors * k, 1, 1).astype(np.float32), f"{tag}_bias"))
        nodes.append(helper.make_node("Mul", [f"{tag}_cat", f"{tag}_scale"], [f"{tag}_mul"]))
        nodes.append(helper.make_node("Add", [f"{tag}_mul", f"{tag}_bias"], [f"{tag}_add"]))
        nodes.append(helper.make_node("Transpose", [f"{tag}_add"], [f"{tag}_t"], perm=[0, 2, 3, 1]))
        inits.append(numpy_helper.from_array(np.array([-1, k], np.int64), f"{tag}_shape"))
        last = f"{tag}_out"
        nodes.append(helper.make_node("Reshape", [f"{tag}_t", f"{tag}_shape"], [f"{tag}_r" if kind == "score" else last]))
        if kind == "score":
            nodes.append(helper.make_node("Sigmoid", [f"{tag}_r"], [last]))
        outputs.append(helper.make_tensor_value_info(last, TensorProto.FLOAT, ["N", k]))
        return last

    # blob = (pixel - 127.5) / 128, so bright ~ +1, black ~ -1
    for s in strides:
        fires = s == 32
        head(s, "score", 1, 12.0 if fires else 0.0, np.full(anchors, -4.0 if fires else -12.0))
    for s in strides:
        head(s, "bbox", 4, 0.0, np.full(4 * anchors, 2.0))  # distances: two strides each side
    if with_kps:
        for s in strides:
            head(s, "kps", 10, 0.0, np.tile(kps_off, anchors))
    graph = helper.make_graph(nodes, "scrfd_standin", [x], outputs, inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def _pooled_projection(path: Path, name: str, size: int, pool: int, out_dim: int, bias: np.ndarray, seed: int) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    n = 3 * (size // pool) ** 2
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((n, out_dim)) * (0.01 if name == "lmk" else 1.0)).astype(np.float32)
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, ["B", 3, size, size])
    y = helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["B", out_dim])
    nodes = [
        helper.make_node("AveragePool", ["data"], ["p"], kernel_shape=[pool, pool], strides=[pool, pool]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["fc1"]),
    ]
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(bias.astype(np.float32), "b")]
    graph = helper.make_graph(nodes, f"{name}_standin", [x], [y], inits)
    return _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def standin_arcface(path: Path) -> Path:
    """ArcFace signature: [B,3,112,112] -> [B,512]."""
    return _pooled_projection(path, "arcface", 112, 8, 512, np.zeros(512), seed=3)


def standin_2d106(path: Path) -> Path:
    """2d106 signature: [B,3,192,192] -> [B,212]; output in [-1, 1] crop units (a fixed ring)."""
    t = np.linspace(0, 2 * np.pi, 106, endpoint=False)
    ring = np.stack([0.4 * np.cos(t), 0.5 * np.sin(t)], axis=1).reshape(-1)
    return _pooled_projection(path, "lmk", 192, 16, 212, ring, seed=4)


def standin_pack(directory: Path, landmarks: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    standin_scrfd(directory / "det_10g.onnx")
    standin_arcface(directory / "w600k_r50.onnx")
    if landmarks:
        standin_2d106(directory / "2d106det.onnx")
    return directory
