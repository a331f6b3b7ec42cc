"""ONNX Runtime sessions with explicit providers: CUDA/TensorRT only when usable.

Logs stay clean on CPU machines: we never ask for a provider the installed
runtime does not offer, and we silence ORT's own warnings below ERROR.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recast.pipeline.errors import FaceModelError


@dataclass(frozen=True)
class RuntimeOptions:
    use_gpu: bool = True  # use CUDA/TensorRT when the runtime and a device offer them
    threads: int = 0  # 0 = ORT default


def _cuda_usable() -> bool:
    # onnxruntime-gpu lists CUDA even without a driver; check a device node exists.
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl")) or bool(os.environ.get("RECAST_FORCE_CUDA"))


def choose_providers(opts: RuntimeOptions = RuntimeOptions()) -> list[str]:
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen: list[str] = []
    if opts.use_gpu and _cuda_usable():
        for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider"):
            if p in available and not (p == "TensorrtExecutionProvider" and not os.environ.get("RECAST_TENSORRT")):
                chosen.append(p)
    chosen.append("CPUExecutionProvider")
    return chosen


def tensorrt_precision() -> str:
    """``RECAST_TENSORRT`` asks for TensorRT before CUDA: ``1``/``fp16`` (reduced precision
    where a layer allows it: the speed studios quote), ``fp32`` (full precision, slower)."""
    value = os.environ.get("RECAST_TENSORRT", "").strip().lower()
    return "fp32" if value == "fp32" else "fp16"


def provider_options(providers: list[str]) -> list[dict[str, str]]:
    """ONNX Runtime's per-provider options for ``providers`` (same order). TensorRT builds an
    engine per model and input shape, minutes for a large one: it is kept under
    ``$RECAST_HOME/cache/tensorrt`` so a farm worker builds it once."""
    out: list[dict[str, str]] = []
    for p in providers:
        if p == "TensorrtExecutionProvider":
            from recast.pipeline.jobs.store import recast_home

            out.append({
                "trt_fp16_enable": "True" if tensorrt_precision() == "fp16" else "False",
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(recast_home() / "cache" / "tensorrt"),
            })
        else:
            out.append({})
    return out


def make_session(path: str | os.PathLike[str], opts: RuntimeOptions = RuntimeOptions()):  # -> ort.InferenceSession
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise FaceModelError(f"{p}: model file not found")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if opts.threads:
        so.intra_op_num_threads = opts.threads
    try:
        chosen = choose_providers(opts)
        return ort.InferenceSession(str(p), sess_options=so, providers=chosen, provider_options=provider_options(chosen))
    except Exception as exc:  # noqa: BLE001 - ORT raises many kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FaceModelError(f"{p}: cannot load ONNX model ({first})") from None
