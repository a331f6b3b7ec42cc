"""LPIPS through the real ``lpips`` package.

The real AlexNet trunk is never downloaded in tests. These tests use a
*randomly initialised* trunk (``trunk="random"``, or a random torchvision
AlexNet saved under the checkpoint's name): they check the code path and the
loading of a trunk file, not perceptual quality.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

torch = pytest.importorskip("torch", reason="torch not installed (pip install torch==2.14.1)")
pytest.importorskip("lpips", reason="lpips not installed (pip install lpips==0.1.4)")

from recast.qc.lpips_metric import ALEXNET_FILE, LpipsOptions, LpipsScorer
from recast.qc.metrics import Unavailable

REPO = Path(__file__).resolve().parents[1]


def _faces() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = data.astronaut()[20:220, 140:320].astype(np.float32) / 255.0
    graded = np.clip(a * np.array([1.05, 1.0, 0.95], np.float32), 0, 1)
    other = data.chelsea()[40:240, 100:280].astype(np.float32) / 255.0  # a cat, not a person
    return a, graded, other


def test_missing_trunk_is_unavailable_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    scorer = LpipsScorer()
    a, _, _ = _faces()
    with pytest.raises(Unavailable, match=f"AlexNet trunk not found at .*{ALEXNET_FILE}.*recast models fetch lpips"):
        scorer.distance(a, a)


def test_random_trunk_code_path_orders_distances() -> None:
    # RANDOM trunk: only the code path is meaningful here.
    torch.manual_seed(0)
    scorer = LpipsScorer(LpipsOptions(trunk="random"))
    a, graded, other = _faces()
    assert scorer.distance(a, a) == pytest.approx(0.0, abs=1e-6)
    d_small, d_big = scorer.distance(a, graded), scorer.distance(a, other)
    assert 0.0 < d_small < d_big


def test_trunk_file_is_loaded_from_the_torch_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    torch.manual_seed(1)
    ckpt = tmp_path / "torch" / "hub" / "checkpoints" / ALEXNET_FILE
    ckpt.parent.mkdir(parents=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), ckpt)  # stand-in: random weights, real layout
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    scorer = LpipsScorer()
    a, graded, _ = _faces()
    assert scorer.unavailable_reason() is None
    state = torch.load(ckpt, weights_only=True)
    assert torch.equal(scorer._load().net.slice1[0].weight, state["features.0.weight"])
    assert torch.equal(getattr(scorer._load().net.slice5, "10").weight, state["features.10.weight"])
    assert scorer.distance(a, graded) > 0.0

    ckpt.write_bytes(b"not a checkpoint")
    broken = LpipsScorer()
    assert "not a usable AlexNet checkpoint" in (broken.unavailable_reason() or "")


def test_models_fetch_refuses_a_file_with_the_wrong_sha256(tmp_path: Path) -> None:
    fake = tmp_path / "alexnet.pth"
    fake.write_bytes(b"definitely not alexnet")
    env = {"TORCH_HOME": str(tmp_path / "torch"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "recast", "models", "fetch", "lpips", "--from", str(fake)],
                       check=False, cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "does not match the expected 7be5be79" in r.stderr
    assert not (tmp_path / "torch" / "hub" / "checkpoints" / ALEXNET_FILE).exists()


def test_models_fetch_checks_the_full_sha256_not_its_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recast.qc.lpips_metric as lm
    from recast.pipeline.cli.models_cmd import install_trunk
    from recast.pipeline.errors import QCError

    assert len(lm.ALEXNET_SHA256) == 64 and lm.ALEXNET_SHA256.startswith("7be5be79")  # the name's prefix, pinned in full
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    src = tmp_path / "alexnet.pth"
    src.write_bytes(b"stand-in bytes; the digest is what is checked")
    dest = tmp_path / "torch" / "hub" / "checkpoints" / ALEXNET_FILE
    # a file whose digest only shares the 8 hex digits in the file name is refused
    monkeypatch.setattr(lm, "sha256_file", lambda _p: lm.ALEXNET_SHA256[:8] + "0" * 56)
    with pytest.raises(QCError, match=f"does not match the expected {lm.ALEXNET_SHA256}"):
        install_trunk(src)
    assert not dest.exists()
    # the exact digest installs
    monkeypatch.setattr(lm, "sha256_file", lambda _p: lm.ALEXNET_SHA256)
    assert install_trunk(src) == dest and dest.read_bytes() == src.read_bytes()
    # an installed file with a prefix-only match is not taken as installed
    monkeypatch.setattr(lm, "sha256_file", lambda _p: lm.ALEXNET_SHA256[:8] + "f" * 56)
    with pytest.raises(QCError, match="fails its sha256 check"):
        install_trunk(None)
