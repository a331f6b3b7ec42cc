"""ONNX Runtime providers: CPU only where no GPU can run; on a GPU machine CUDA, and TensorRT
(FP16 by default, its engines cached under $RECAST_HOME) when asked for. The GPU branches are
exercised by making the runtime report GPU providers (this machine has none); the session is
a real one, built from a stand-in ONNX file (tests/_onnx_standins.py, exact inswapper
signature, random weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from recast.pipeline.errors import FaceModelError
from recast.pipeline.onnxrt import RuntimeOptions, choose_providers, make_session, provider_options
from tests._onnx_standins import inswapper_standin

GPU_RUNTIME = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.fixture
def gpu_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(GPU_RUNTIME))
    monkeypatch.setenv("RECAST_FORCE_CUDA", "1")


def test_cpu_only_when_no_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECAST_FORCE_CUDA", raising=False)
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(GPU_RUNTIME))
    if any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl")):
        pytest.skip("this machine has an NVIDIA device node: the no-device branch cannot be seen here")
    assert choose_providers() == ["CPUExecutionProvider"]


def test_tensorrt_only_when_asked_fp16_by_default(gpu_runtime: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECAST_TENSORRT", raising=False)
    assert choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(RuntimeOptions(use_gpu=False)) == ["CPUExecutionProvider"]
    assert provider_options(choose_providers()) == [{}, {}]

    monkeypatch.setenv("RECAST_HOME", str(tmp_path))
    monkeypatch.setenv("RECAST_TENSORRT", "1")
    chosen = choose_providers()
    assert chosen == GPU_RUNTIME
    trt, cuda, cpu = provider_options(chosen)
    assert trt["trt_fp16_enable"] == "True" and trt["trt_engine_cache_enable"] == "True"
    assert Path(trt["trt_engine_cache_path"]) == tmp_path / "cache" / "tensorrt"
    assert cuda == {} and cpu == {}

    monkeypatch.setenv("RECAST_TENSORRT", "fp32")
    assert provider_options(chosen)[0]["trt_fp16_enable"] == "False"


def test_session_runs_with_the_options_it_was_given(tmp_path: Path) -> None:
    """A real session on this machine's providers, options passed the same way as on a GPU:
    the stand-in inswapper's output has its signature's shape."""
    session = make_session(inswapper_standin(tmp_path / "inswapper_128.onnx"))
    assert session.get_providers()[-1] == "CPUExecutionProvider"
    feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in session.get_inputs()}
    (out,) = session.run(None, feeds)
    assert out.shape == (1, 3, 128, 128)


def test_missing_or_broken_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(FaceModelError, match="model file not found"):
        make_session(tmp_path / "absent.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(FaceModelError, match="cannot load ONNX model") as info:
        make_session(bad)
    assert "\n" not in str(info.value)
