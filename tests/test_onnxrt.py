"""ONNX Runtime providers: CPU only where no GPU can run; on a GPU machine CUDA, and TensorRT
(FP16 by default, its engines cached under $RECAST_HOME) when asked for. The GPU branches are
exercised by making the runtime report GPU providers (this machine has none); the session is
a real one, built from a stand-in ONNX file (tests/_onnx_standins.py, exact inswapper
signature, random weights)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from recast.pipeline import onnxrt
from recast.pipeline.errors import FaceModelError
from recast.pipeline.notices import NoticeBoard
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


# ---- CUDA libraries and the CPU fallback ----------------------------------
# onnxruntime-gpu from pip finds CUDA/cuDNN only when its nvidia-* libraries are preloaded, and a
# session whose CUDA provider cannot start runs on CPU without failing. This machine has no GPU:
# the runtime's functions are replaced to see the choice logic, and the fallback check is seen on
# a real session that asked for CUDA from a CPU-only runtime (ORT then gives it CPU alone).


@pytest.fixture
def fresh_preload(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A process that has not preloaded yet; the calls of a recording ``preload_dlls``."""
    monkeypatch.setattr(onnxrt, "_preload_state", {})
    calls: list[str] = []
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: calls.append("preload"), raising=False)
    return calls


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> NoticeBoard:
    b = NoticeBoard(stream=io.StringIO())
    monkeypatch.setattr(onnxrt, "notice", b.notify)
    return b


def test_choosing_cuda_preloads_its_libraries_once(gpu_runtime: None, fresh_preload: list[str]) -> None:
    assert choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert fresh_preload == ["preload"]


def test_no_preload_without_a_gpu_provider(monkeypatch: pytest.MonkeyPatch, fresh_preload: list[str]) -> None:
    monkeypatch.setenv("RECAST_FORCE_CUDA", "1")
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])  # a CPU-only runtime
    assert choose_providers() == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: list(GPU_RUNTIME))
    assert choose_providers(RuntimeOptions(use_gpu=False)) == ["CPUExecutionProvider"]
    assert fresh_preload == []


def test_runtime_without_preload_dlls_still_chooses_cuda(gpu_runtime: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """ORT before 1.21 has no preload_dlls: CUDA is still chosen (the system library path may hold it)."""
    monkeypatch.setattr(onnxrt, "_preload_state", {})
    monkeypatch.delattr(ort, "preload_dlls", raising=False)
    assert choose_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnxrt.preload_cuda_libraries() is None


def test_what_preload_could_not_load_is_kept_not_printed(gpu_runtime: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(onnxrt, "_preload_state", {})

    def noisy_preload(*_a: object, **_k: object) -> None:  # what ORT prints when the nvidia-* wheels are absent
        print("Failed to load libcudnn.so.9: libcudnn.so.9: cannot open shared object file: No such file or directory")
        print("Please follow https://onnxruntime.ai/docs/install/#cuda-and-cudnn to install CUDA.")

    monkeypatch.setattr(ort, "preload_dlls", noisy_preload, raising=False)
    choose_providers()
    assert capsys.readouterr().out == ""
    assert onnxrt.preload_cuda_libraries().startswith("Failed to load libcudnn.so.9")

    monkeypatch.setattr(onnxrt, "_preload_state", {})
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: 1 / 0, raising=False)
    assert "ZeroDivisionError" in onnxrt.preload_cuda_libraries()  # a broken preload does not stop the session


def test_session_that_asked_for_cuda_but_runs_on_cpu_says_so_once(gpu_runtime: None, fresh_preload: list[str], board: NoticeBoard, tmp_path: Path) -> None:
    """A real session: the runtime here has no CUDA provider, so ORT gives the session CPU alone,
    as it does on a GPU machine whose CUDA libraries did not load."""
    model = inswapper_standin(tmp_path / "inswapper_128.onnx")
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):  # ORT's own Python warning on this CPU runtime
        first = make_session(model)
    with pytest.warns(UserWarning):
        make_session(model)
    assert first.get_providers() == ["CPUExecutionProvider"]
    assert len(board.seen) == 1
    (line,) = board.seen
    assert line.startswith("recast: ONNX Runtime could not start CUDA (") and line.endswith("): models run on CPU")
    assert "\n" not in line


def test_fallback_line_names_what_preload_could_not_load(gpu_runtime: None, monkeypatch: pytest.MonkeyPatch, board: NoticeBoard, tmp_path: Path) -> None:
    monkeypatch.setattr(onnxrt, "_preload_state", {})
    monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: print("Failed to load libcublasLt.so.13: not found"), raising=False)
    with pytest.warns(UserWarning):
        make_session(inswapper_standin(tmp_path / "m.onnx"))
    assert board.seen == ["recast: ONNX Runtime could not start CUDA (Failed to load libcublasLt.so.13: not found): models run on CPU"]


class _SessionOn:
    """Stands in for ort.InferenceSession: records what it was asked for, reports ``got`` (None: all of it)."""

    def __init__(self, got: list[str] | None) -> None:
        self.got = got

    def __call__(self, path: str, sess_options: object = None, providers: list[str] | None = None, provider_options: object = None) -> _SessionOn:
        self.asked = list(providers or [])
        return self

    def get_providers(self) -> list[str]:
        return list(self.asked if self.got is None else self.got)


def test_no_line_when_the_session_got_what_it_asked_for(gpu_runtime: None, fresh_preload: list[str], board: NoticeBoard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = inswapper_standin(tmp_path / "m.onnx")
    monkeypatch.setattr(ort, "InferenceSession", _SessionOn(None))
    assert make_session(model).get_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    make_session(model, RuntimeOptions(use_gpu=False))
    assert board.seen == []


def test_tensorrt_missing_but_cuda_running_is_named(gpu_runtime: None, fresh_preload: list[str], board: NoticeBoard, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """RECAST_TENSORRT asked for TensorRT; ORT could not start it (no TensorRT libraries) but CUDA runs."""
    monkeypatch.setenv("RECAST_HOME", str(tmp_path))
    monkeypatch.setenv("RECAST_TENSORRT", "1")
    monkeypatch.setattr(ort, "InferenceSession", _SessionOn(["CUDAExecutionProvider", "CPUExecutionProvider"]))
    make_session(inswapper_standin(tmp_path / "m.onnx"))
    assert fresh_preload == ["preload"]
    assert board.seen == ["recast: ONNX Runtime could not start TensorRT (the TensorRT libraries did not load): models run on CUDA"]
