"""The swapper's inference on a GPU through ONNX Runtime: CPU EP (the floor) vs CUDA EP, fp32 and
fp16, one call of 4 faces vs 4 calls, and the project's own ``InswapperSwapper.swap`` on CUDA.

No model is downloaded: a STAND-IN with inswapper_128's exact signature (``target`` float32
[1,3,128,128], ``source`` float32 [1,512] -> ``output`` float32 [1,3,128,128], the 512x512
emap as the graph's last initializer, ir_version 8, opset 17) and of its size is built in a temp
dir: a conv encoder down to 16x16x1024, six residual blocks modulated by the latent (the real
file's "style blocks"), a decoder back to 128x128, random weights, ~540 MB of fp32 weights and
~70 GFLOP per face (the real file: ~530 MB). Its figures are what a model of that size and
shape costs; they say nothing about the swap's quality.

Sessions come from ``recast.pipeline.onnxrt.make_session`` (the project's provider choice and
CUDA library preload). Timings are of ``session.run`` with numpy in and out (host copies
included, as the swapper calls it), medians of interleaved rounds (A B A B). The batch figure
uses one session per input shape; ``gpu_shape_switch_ms`` shows why (ORT searches cuDNN's
algorithms again whenever a session's input shape changes). TensorRT is reported as found or
not and never faked.

Without a CUDA provider (onnxruntime without CUDA, or no NVIDIA device) it prints its figures as
``n/a`` with the reason and exits 0; ``--cpu`` then still builds the model and measures the CPU
parts (a check of this script on a CPU machine). Imports: numpy, onnx, onnxruntime, cv2 and the
project's own modules, nothing else (it runs on a bare GPU machine).

Usage: python benchmarks/bench_gpu.py [--cpu] [--scale S] [--rounds N] [--cuda-calls K]
Exit status: 0, 1 when a target is missed, 3 when CUDA was chosen but did not start.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, interleaved, use_home  # noqa: E402

SIZE = 128
LATENT = 512
OPSET = 17
IR_VERSION = 8
FRAME_FIGURE_MS = 110.0  # the per-frame ONNX Runtime figure studios quote for inswapper on an RTX 3090 (whole swap)


# ---- the stand-in model -------------------------------------------------------------------


def build_standin(scale: float = 1.0, batch: int | str = 1, seed: int = 0):  # -> onnx.ModelProto
    """inswapper_128's signature and size: encoder 3->128->256->512->1024 (to 16x16), 6 residual
    blocks of two 3x3 convs each modulated by the latent (scale and shift from a Gemm of
    ``source``), decoder back to 128x128, sigmoid; the 512x512 emap last. ``scale`` shrinks the
    widths (a small copy for checks); ``batch`` a symbolic name makes the batch dimension free."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    widths = [max(4, int(round(c * scale))) for c in (128, 256, 512, 1024)]
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def weight(name: str, shape: tuple[int, ...], fan_in: int, gain: float = 2.0) -> str:
        w = rng.standard_normal(shape, dtype=np.float32)
        w *= np.float32(np.sqrt(gain / fan_in))
        inits.append(numpy_helper.from_array(w, name))
        return name

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def conv(x: str, name: str, cin: int, cout: int, k: int, stride: int = 1, gain: float = 2.0) -> str:
        w = weight(f"{name}.w", (cout, cin, k, k), cin * k * k, gain)
        b = const(f"{name}.b", np.zeros(cout, np.float32))
        nodes.append(helper.make_node("Conv", [x, w, b], [name], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4))
        return name

    def relu(x: str) -> str:
        nodes.append(helper.make_node("Relu", [x], [f"{x}.relu"]))
        return f"{x}.relu"

    axes = const("axes23", np.asarray([2, 3], np.int64))

    def modulate(x: str, name: str, c: int) -> str:
        """x * (1 + gamma(source)) + beta(source), per channel (the latent steers every block)."""
        out = x
        for part, bias in (("gamma", 1.0), ("beta", 0.0)):
            w = weight(f"{name}.{part}.w", (LATENT, c), LATENT, gain=0.02)
            b = const(f"{name}.{part}.b", np.full(c, bias, np.float32))
            nodes.append(helper.make_node("Gemm", ["source", w, b], [f"{name}.{part}"]))
            nodes.append(helper.make_node("Unsqueeze", [f"{name}.{part}", axes], [f"{name}.{part}4"]))
        nodes.append(helper.make_node("Mul", [out, f"{name}.gamma4"], [f"{name}.scaled"]))
        nodes.append(helper.make_node("Add", [f"{name}.scaled", f"{name}.beta4"], [f"{name}.mod"]))
        return f"{name}.mod"

    c0, c1, c2, c3 = widths
    x = relu(conv("target", "enc0", 3, c0, 7))
    x = relu(conv(x, "enc1", c0, c1, 3, 2))
    x = relu(conv(x, "enc2", c1, c2, 3, 2))
    x = relu(conv(x, "enc3", c2, c3, 3, 2))
    for i in range(6):
        y = relu(modulate(conv(x, f"blk{i}.conv1", c3, c3, 3), f"blk{i}.mod1", c3))
        y = modulate(conv(y, f"blk{i}.conv2", c3, c3, 3, gain=0.5), f"blk{i}.mod2", c3)
        nodes.append(helper.make_node("Add", [x, y], [f"blk{i}.out"]))
        x = f"blk{i}.out"
    for i, (cin, cout) in enumerate(((c3, c2), (c2, c1), (c1, c0))):
        w = weight(f"dec{i}.w", (cin, cout, 2, 2), cin)  # stride = kernel: each output pixel sees one tap per input channel
        b = const(f"dec{i}.b", np.zeros(cout, np.float32))
        nodes.append(helper.make_node("ConvTranspose", [x, w, b], [f"dec{i}"], kernel_shape=[2, 2], strides=[2, 2]))
        x = relu(f"dec{i}")
    x = conv(x, "to_rgb", c0, 3, 7, gain=1.0)
    nodes.append(helper.make_node("Sigmoid", [x], ["output"]))
    emap = rng.standard_normal((LATENT, LATENT), dtype=np.float32) / np.float32(np.sqrt(LATENT))
    inits.append(numpy_helper.from_array(emap, "emap"))  # last, as in the real file (read, not run)

    n = batch
    graph = helper.make_graph(
        nodes,
        "inswapper_standin_full",
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [n, 3, SIZE, SIZE]), helper.make_tensor_value_info("source", TensorProto.FLOAT, [n, LATENT])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [n, 3, SIZE, SIZE])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="recast-bench-standin")
    model.ir_version = IR_VERSION
    return model


def with_batch(model, batch: int | str):  # -> onnx.ModelProto
    """A copy whose inputs' and output's first dimension is ``batch`` (a name: symbolic)."""
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    for v in list(out.graph.input) + list(out.graph.output):
        d = v.type.tensor_type.shape.dim[0]
        d.Clear()
        if isinstance(batch, str):
            d.dim_param = batch
        else:
            d.dim_value = batch
    return out


def to_fp16(model, keep: tuple[str, ...] = ("emap",)):  # -> onnx.ModelProto
    """A float16 copy with the same float32 signature: float initializers cast to float16 (but
    ``keep``), a Cast after each float32 input and before each float32 output. Enough for the
    graphs built here (no Constant nodes, no float attribute tensors, no Resize scales)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT and t.name not in keep:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    renamed: dict[str, str] = {}
    head: list[onnx.NodeProto] = []
    for v in g.input:
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            renamed[v.name] = f"{v.name}.fp16"
            head.append(helper.make_node("Cast", [v.name], [renamed[v.name]], to=TensorProto.FLOAT16))
    outputs = {v.name for v in g.output if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    for n in g.node:
        for j, name in enumerate(n.input):
            n.input[j] = renamed.get(name, f"{name}.fp16" if name in outputs else name)
        for j, name in enumerate(n.output):
            if name in outputs:
                n.output[j] = f"{name}.fp16"
    tail = [helper.make_node("Cast", [f"{name}.fp16"], [name], to=TensorProto.FLOAT) for name in sorted(outputs)]
    body = list(g.node)
    del g.node[:]
    g.node.extend(head + body + tail)
    del g.value_info[:]
    return out


def save(model, path: Path) -> Path:
    import onnx

    onnx.checker.check_model(model)  # in memory: the files are < 2 GB
    onnx.save(model, str(path))
    return path


# ---- measuring -----------------------------------------------------------------------------


def feeds_for(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, LATENT)).astype(np.float32)
    latent /= np.linalg.norm(latent, axis=1, keepdims=True)
    return {"target": rng.random((n, 3, SIZE, SIZE), dtype=np.float32), "source": latent}


def per_call(session, feeds: dict[str, np.ndarray], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        session.run(None, feeds)
    return (time.perf_counter() - t0) / calls


def warm(session, feeds: dict[str, np.ndarray], calls: int = 3) -> float:
    """The first calls (cuDNN's algorithm search, memory arenas); seconds of the first one."""
    t0 = time.perf_counter()
    session.run(None, feeds)
    first = time.perf_counter() - t0
    for _ in range(calls - 1):
        session.run(None, feeds)
    return first


def tensorrt_state(ort) -> str:
    """Whether TensorRT could run here: ORT's TensorRT EP needs libnvinfer (not a pip dependency of onnxruntime-gpu)."""
    listed = "TensorrtExecutionProvider" in ort.get_available_providers()
    for lib in ("libnvinfer.so.10", "libnvinfer.so"):
        try:
            ctypes.CDLL(lib)
            return f"libnvinfer found ({lib}), TensorRT EP {'listed' if listed else 'not listed'}"
        except OSError:
            continue
    return f"TensorRT not installed (libnvinfer cannot be loaded){'; the runtime lists its EP' if listed else ''}"


def synthetic_face(crop: int = 256):  # -> recast.pipeline.types.Face
    from recast.pipeline.types import Face

    arc = np.asarray([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)
    s = crop * 0.7 / 112.0
    kps = arc * s + (crop - 112 * s) / 2
    return Face(box=np.asarray([kps[:, 0].min() - 30, kps[:, 1].min() - 40, kps[:, 0].max() + 30, kps[:, 1].max() + 30], np.float32), score=0.99, kps5=kps)


def swap_path(model_path: Path, root: Path, rounds: int) -> tuple[list[str], float, tuple[int, ...]]:
    """The project's own swapper on a synthetic 256x256 crop with the stand-in as the actor's model:
    the providers its session got and the median seconds of one ``swap``."""
    from recast.models.base import ActorModel
    from recast.models.swappers.inswapper import LATENT_FILE, MODEL_FILE, InswapperSwapper, check_inswapper

    actor_dir = root / "actor"
    actor_dir.mkdir()
    os.link(model_path, actor_dir / MODEL_FILE)
    emap = check_inswapper(actor_dir / MODEL_FILE)  # the project's own check of the file: signature and the emap last
    rng = np.random.default_rng(3)
    emb = rng.standard_normal(LATENT).astype(np.float32)
    latent = (emb / np.linalg.norm(emb)) @ emap
    np.save(actor_dir / LATENT_FILE, (latent / np.linalg.norm(latent)).astype(np.float32))
    actor = ActorModel("bench", actor_dir, {"backend": "inswapper", "inswapper": {"latent": LATENT_FILE}})
    swapper = InswapperSwapper()
    crop = np.random.default_rng(4).random((256, 256, 3), dtype=np.float32)
    face = synthetic_face(256)
    res = swapper.swap(crop, face, actor)  # loads the session, warms up
    for _ in range(2):
        swapper.swap(crop, face, actor)
    providers = list(next(iter(swapper._loaded.values())).session.get_providers())
    sec = interleaved({"swap": lambda: None if swapper.swap(crop, face, actor) is None else None}, rounds)["swap"]
    return providers, sec, tuple(res.rgb.shape)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="without a CUDA provider, still build the model and measure the CPU parts")
    ap.add_argument("--scale", type=float, default=1.0, help="width of the stand-in (1.0: inswapper_128's size, ~540 MB)")
    ap.add_argument("--rounds", type=int, default=8, help="interleaved rounds (medians)")
    ap.add_argument("--cuda-calls", type=int, default=10, help="CUDA calls per round (averaged)")
    ap.add_argument("--keep", type=Path, help="write the models here instead of a temp dir")
    args = ap.parse_args()

    import onnxruntime as ort

    from recast.pipeline import onnxrt
    from recast.pipeline.onnxrt import RuntimeOptions, _cuda_usable, choose_providers, make_session

    available = ort.get_available_providers()
    chosen = choose_providers()  # the project's choice; on a GPU runtime this preloads CUDA/cuDNN
    cuda = "CUDAExecutionProvider" in chosen
    preload = ("" if not cuda else "; CUDA/cuDNN preload: " + (onnxrt._preload_state.get("problem") or "no failure reported")
               if hasattr(ort, "preload_dlls") else "; this onnxruntime has no preload_dlls")
    print(f"runtime: onnxruntime {ort.__version__} offers {available}; the project chooses {chosen}{preload}; {os.cpu_count()} CPUs", flush=True)
    if not cuda:
        why = ("onnxruntime without CUDA (the CPU build)" if "CUDAExecutionProvider" not in available
               else "no NVIDIA device (/dev/nvidia0)" if not _cuda_usable() else "CUDA not chosen")
        for name, target in (("gpu_face_fp32_ms", f"target <= {FRAME_FIGURE_MS:.0f} ms per face"), ("gpu_speedup_fp32", "target >= 5x the CPU EP"),
                             ("gpu_face_fp16_ms", "no target"), ("gpu_batch4_gain", "no target"), ("gpu_shape_switch_ms", "no target"),
                             ("gpu_swap_ms", "no target")):
            print(f"{name}: n/a (no CUDA provider: {why}) ({target})", flush=True)
        if not args.cpu:
            return 0
    print(f"tensorrt: {tensorrt_state(ort)}; not measured", flush=True)
    if cuda:  # a tiny stand-in first: a CUDA provider that does not start is known in a second, not after the big build
        with tempfile.TemporaryDirectory(prefix="recast_bench_probe_") as tmp:
            probe = make_session(save(build_standin(1 / 32), Path(tmp) / "probe.onnx")).get_providers()
        if probe[0] != "CUDAExecutionProvider":
            print(f"gpu_face_fp32_ms: n/a (the CUDA provider did not start: the session got {probe}) (target <= {FRAME_FIGURE_MS:.0f} ms per face)", flush=True)
            return 3

    ok = True
    with tempfile.TemporaryDirectory(prefix="recast_bench_gpu_") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        use_home(root)
        t0 = time.perf_counter()
        base = build_standin(args.scale)
        fp32 = save(base, root / "standin_fp32.onnx")
        fp16 = save(to_fp16(base), root / "standin_fp16.onnx")
        batched = with_batch(base, "N")
        fp32n = save(batched, root / "standin_fp32_batchN.onnx")
        fp16n = save(to_fp16(batched), root / "standin_fp16_batchN.onnx")
        weights = sum(len(t.raw_data) for t in base.graph.initializer)
        del base, batched
        print(f"model: stand-in {fp32.stat().st_size / 1e6:.0f} MB on disk ({weights / 1e6:.0f} MB fp32 weights; fp16 copy {fp16.stat().st_size / 1e6:.0f} MB), "
              f"{_gflop(args.scale):.1f} GFLOP per face, built in {time.perf_counter() - t0:.1f} s", flush=True)

        one = feeds_for(1)
        four = feeds_for(4, seed=2)
        cpu = make_session(fp32, RuntimeOptions(use_gpu=False))
        first_cpu = warm(cpu, one, 2)
        ref = cpu.run(None, one)[0]
        fns = {"cpu": lambda: per_call(cpu, one, 1)}
        if cuda:
            s32 = make_session(fp32)
            s16 = make_session(fp16)
            got = (s32.get_providers(), s16.get_providers())
            print(f"sessions: fp32 {got[0]}, fp16 {got[1]}", flush=True)
            if got[0][0] != "CUDAExecutionProvider" or got[1][0] != "CUDAExecutionProvider":
                print("gpu_face_fp32_ms: n/a (the CUDA provider did not start: see the line above) (target <= 110 ms per face)", flush=True)
                return 3
            firsts = (warm(s32, one, 5), warm(s16, one, 5))
            print(f"first calls (cuDNN algorithm search): fp32 {firsts[0] * 1e3:.0f} ms, fp16 {firsts[1] * 1e3:.0f} ms; CPU {first_cpu * 1e3:.0f} ms", flush=True)
            out32, out16 = s32.run(None, one)[0], s16.run(None, one)[0]
            print(f"agreement: max |CUDA fp32 - CPU fp32| {np.abs(out32 - ref).max():.2e}, max |CUDA fp16 - CPU fp32| {np.abs(out16 - ref).max():.2e} (output in [0, 1])", flush=True)
            k = args.cuda_calls
            fns["cuda32"] = lambda: per_call(s32, one, k)
            fns["cuda16"] = lambda: per_call(s16, one, k)
        med = interleaved(fns, args.rounds)
        ms = {key: v * 1e3 for key, v in med.items()}
        emit("gpu_face_cpu_ms", f"{ms['cpu']:.1f} ms", f"no target: the floor, CPU EP fp32, {os.cpu_count()} CPUs, one face", None)
        if cuda:
            ok &= emit("gpu_face_fp32_ms", f"{ms['cuda32']:.2f} ms", f"target <= {FRAME_FIGURE_MS:.0f} ms per face: inside the per-frame ORT figure studios quote for a whole swap on an RTX 3090",
                       ms["cuda32"] <= FRAME_FIGURE_MS)
            ok &= emit("gpu_speedup_fp32", f"{ms['cpu'] / ms['cuda32']:.1f}x ({ms['cpu']:.1f} ms CPU / {ms['cuda32']:.2f} ms CUDA)", "target >= 5x the CPU EP of the same machine",
                       ms["cpu"] / ms["cuda32"] >= 5.0)
            emit("gpu_face_fp16_ms", f"{ms['cuda16']:.2f} ms ({ms['cuda32'] / ms['cuda16']:.2f}x fp32)", "no target: the same weights cast to float16, float32 in and out", None)
            del s16

            singles = [{k2: v[i:i + 1] for k2, v in four.items()} for i in range(4)]

            def four_calls(s) -> float:
                t = time.perf_counter()
                for f in singles:
                    s.run(None, f)
                return time.perf_counter() - t

            # One session per input shape: ORT (1.20 on) runs cuDNN's algorithm search again each
            # time a session's input shape changes (onnxruntime issue 23006), measured below.
            pinned = {}
            for label, path in (("32", fp32n), ("16", fp16n)):
                one_s, four_s = make_session(path), make_session(path)
                warm(one_s, singles[0], 3)
                warm(four_s, four, 3)
                pinned[label] = (one_s, four_s)
            b32 = pinned["32"][1].run(None, four)[0]
            s32_2 = pinned["32"][0].run(None, singles[2])[0]
            print(f"batch agreement: max |batch[2] - single[2]| {np.abs(b32[2:3] - s32_2).max():.2e}", flush=True)
            bm = interleaved({"four32": lambda: four_calls(pinned["32"][0]), "batch32": lambda: per_call(pinned["32"][1], four, 1),
                              "four16": lambda: four_calls(pinned["16"][0]), "batch16": lambda: per_call(pinned["16"][1], four, 1)}, args.rounds * 2)
            emit("gpu_batch4_gain", f"{bm['four32'] / bm['batch32']:.2f}x fp32 (4 calls {bm['four32'] * 1e3:.2f} ms, one call of 4 {bm['batch32'] * 1e3:.2f} ms); "
                 f"{bm['four16'] / bm['batch16']:.2f}x fp16 (4 calls {bm['four16'] * 1e3:.2f} ms, one call of 4 {bm['batch16'] * 1e3:.2f} ms)",
                 "no target: 4 faces of one frame in one call vs 4 calls, symbolic batch copy, one session per shape", None)
            del pinned
            _shape_switch(fp32, fp32n, one, singles[0], four, args.rounds)
            del s32
        providers, swap_s, shape = swap_path(fp32, root, args.rounds * 2)
        emit("gpu_swap_ms", f"{swap_s * 1e3:.2f} ms on {providers[0].removesuffix('ExecutionProvider')} (session {providers})",
             f"no target: InswapperSwapper.swap on a 256x256 crop -> {shape}: align, the stand-in, paste back", None)
        _write_json(root, ms, cuda)
    if cuda:
        _tensorrt_session_check()
    return 0 if ok else 1


def _shape_switch(fp32: Path, fp32n: Path, one: dict[str, np.ndarray], single: dict[str, np.ndarray], four: dict[str, np.ndarray], rounds: int) -> None:
    """What one session pays when its input shape alternates (1 face, then 4, ...): cuDNN's
    algorithm search runs again at each change with ORT's default ``cudnn_conv_algo_search``
    (EXHAUSTIVE); with HEURISTIC it does not search. Both through ``ort.InferenceSession``
    directly: an ORT option the project does not set, measured here to decide whether it should."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    res = {}
    for search in ("EXHAUSTIVE", "HEURISTIC"):
        prov = [("CUDAExecutionProvider", {"cudnn_conv_algo_search": search}), "CPUExecutionProvider"]
        alt = ort.InferenceSession(str(fp32n), sess_options=so, providers=prov)
        warm(alt, single, 2)
        warm(alt, four, 2)
        times = []
        for _ in range(rounds):
            for feeds in (single, four):
                t = time.perf_counter()
                alt.run(None, feeds)
                times.append(time.perf_counter() - t)
        fixed = ort.InferenceSession(str(fp32), sess_options=so, providers=prov)
        warm(fixed, one, 3)
        steady = interleaved({"one": lambda: per_call(fixed, one, 10)}, rounds)["one"]
        res[search] = (float(np.median(times[0::2])), float(np.median(times[1::2])), steady)
        del alt, fixed
    ex, he = res["EXHAUSTIVE"], res["HEURISTIC"]
    emit("gpu_shape_switch_ms", f"EXHAUSTIVE (ORT's default) {ex[0] * 1e3:.1f} ms per 1-face call and {ex[1] * 1e3:.1f} ms per 4-face call when they alternate; "
         f"HEURISTIC {he[0] * 1e3:.1f} / {he[1] * 1e3:.1f} ms; fixed shape, 1 face: {ex[2] * 1e3:.2f} ms EXHAUSTIVE, {he[2] * 1e3:.2f} ms HEURISTIC",
         "no target: one session whose input shape changes every call, symbolic batch copy, fp32", None)


def _gflop(scale: float) -> float:
    """Multiply-adds x 2 of the stand-in's convolutions at batch 1 (the Gemms are noise)."""
    c0, c1, c2, c3 = (max(4, int(round(c * scale))) for c in (128, 256, 512, 1024))
    macs = (3 * c0 * 49 * 128**2 + c0 * c1 * 9 * 64**2 + c1 * c2 * 9 * 32**2 + c2 * c3 * 9 * 16**2
            + 12 * c3 * c3 * 9 * 16**2
            + c3 * c2 * 4 * 16**2 + c2 * c1 * 4 * 32**2 + c1 * c0 * 4 * 64**2 + c0 * 3 * 49 * 128**2)
    return 2 * macs / 1e9


def _write_json(root: Path, ms: dict[str, float], cuda: bool) -> None:
    out = os.environ.get("RECAST_BENCH_JSON")
    if out:
        Path(out).write_text(json.dumps({"ms_per_face": ms, "cuda": cuda}, indent=1))


def _tensorrt_session_check() -> None:
    """What the project does when RECAST_TENSORRT asks for TensorRT here (a tiny stand-in: no engine build)."""
    with tempfile.TemporaryDirectory(prefix="recast_bench_trt_") as tmp:
        from recast.pipeline.onnxrt import make_session

        use_home(Path(tmp))
        small = save(build_standin(1 / 32), Path(tmp) / "tiny.onnx")
        os.environ["RECAST_TENSORRT"] = "1"
        try:
            s = make_session(small)
            print(f"tensorrt check: RECAST_TENSORRT=1 gave a session on {s.get_providers()}", flush=True)
        except Exception as exc:  # noqa: BLE001 - reported, the figures above stand
            print(f"tensorrt check: RECAST_TENSORRT=1: {type(exc).__name__}: {exc}", flush=True)
        finally:
            os.environ.pop("RECAST_TENSORRT", None)


if __name__ == "__main__":
    sys.exit(main())
