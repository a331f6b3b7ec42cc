"""ONNX Runtime sessions with explicit providers: CUDA/TensorRT only when usable.

Logs stay clean on CPU machines: we never ask for a provider the installed
runtime does not offer, and we silence ORT's own warnings below ERROR.

onnxruntime-gpu (1.21 on) finds CUDA and cuDNN only on the system library path or when the
nvidia-* pip libraries (its ``cuda``/``cudnn`` extras) are loaded first: choosing CUDA
preloads them (``onnxruntime.preload_dlls``, once per process). ORT does not fail a session
whose CUDA provider cannot start, it runs it on CPU: :func:`make_session` says so, once per
process, in one line.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from recast.pipeline.errors import FaceModelError
from recast.pipeline.notices import notice


@dataclass(frozen=True)
class RuntimeOptions:
    use_gpu: bool = True  # use CUDA/TensorRT when the runtime and a device offer them
    threads: int = 0  # 0 = ORT default


def _cuda_usable() -> bool:
    # onnxruntime-gpu lists CUDA even without a driver; check a device node exists.
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl")) or bool(os.environ.get("RECAST_FORCE_CUDA"))


def choose_providers(opts: RuntimeOptions = RuntimeOptions()) -> list[str]:
    """The providers to ask for, best first; CPU always last. Choosing CUDA (or TensorRT, which
    runs on the same CUDA libraries) preloads the CUDA/cuDNN pip libraries."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen: list[str] = []
    if opts.use_gpu and _cuda_usable():
        for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider"):
            if p in available and not (p == "TensorrtExecutionProvider" and not os.environ.get("RECAST_TENSORRT")):
                chosen.append(p)
    if chosen:
        preload_cuda_libraries()
    chosen.append("CPUExecutionProvider")
    return chosen


_preload_lock = threading.Lock()
_preload_state: dict[str, str | None] = {}  # "problem": what the one preload of this process said went wrong (None: nothing)


def preload_cuda_libraries() -> str | None:
    """Load CUDA and cuDNN from the nvidia-* pip libraries beside onnxruntime (then from the
    system library path), once per process, before the first CUDA session: without this,
    onnxruntime-gpu installed from pip cannot start its CUDA provider and runs on CPU.

    Called only when a GPU provider is chosen (a runtime that offers one); a runtime without
    ``preload_dlls`` (before 1.21) is left to the system library path. ORT prints what it
    cannot load: that text is kept out of the output and returned (its first line), for the
    one line :func:`make_session` prints if CUDA then does not start; None when nothing failed.
    """
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return None
    with _preload_lock:
        if "problem" not in _preload_state:
            said = io.StringIO()
            try:
                with contextlib.redirect_stdout(said):
                    preload()
                failed = [ln.strip() for ln in said.getvalue().splitlines() if "fail" in ln.lower()]
                problem = failed[0] if failed else None
            except Exception as exc:  # noqa: BLE001 - a preload that breaks must not stop the session
                problem = f"preload_dlls: {type(exc).__name__}: {' '.join(str(exc).split())}"
            _preload_state["problem"] = problem
        return _preload_state["problem"]


_SHORT = {"TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA", "CPUExecutionProvider": "CPU"}


def _say_if_fell_back(chosen: list[str], got: list[str]) -> None:
    """One line, once per process, when a GPU provider was asked for but the session lacks it."""
    missing = [p for p in chosen if p != "CPUExecutionProvider" and p not in got]
    if not missing:
        return
    if "CUDAExecutionProvider" in missing:
        why = _preload_state.get("problem") or "its CUDA/cuDNN libraries did not load"
    else:
        why = "the TensorRT libraries did not load"
    names = ", ".join(_SHORT.get(p, p) for p in missing)
    runs_on = _SHORT.get(got[0], got[0]) if got else "CPU"
    notice(f"recast: ONNX Runtime could not start {names} ({why}): models run on {runs_on}")


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
        session = ort.InferenceSession(str(p), sess_options=so, providers=chosen, provider_options=provider_options(chosen))
    except Exception as exc:  # noqa: BLE001 - ORT raises many kinds
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FaceModelError(f"{p}: cannot load ONNX model ({first})") from None
    _say_if_fell_back(chosen, list(session.get_providers()))
    return session
