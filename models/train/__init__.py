"""Actor training: per-actor DeepFaceLab-style autoencoders exported as .dfm-layout ONNX.

The order of stages (``trainer.run_training``):

1. ``sources``  — actor footage (movie, sequence, photos) and shot plates -> frames in
   the working space the swapper sees.
2. ``extract``  — faces found by the project's analyser, aligned with the ``dfm``
   backend's whole-face geometry, landmark-hull masks; blurry / tiny / profile faces
   rejected and counted. Cached per run in the work folder.
3. ``augment``  — random warp + colour, driven by one seeded numpy Generator.
4. ``net`` / ``loss`` — shared encoder + bottleneck, src and dst decoders with mask
   heads; masked L1 + SSIM with extra weight on eyes and mouth.
5. ``checkpoint`` / ``preview`` — safetensors checkpoints (weights, optimizer, iteration,
   RNG, loss curve) each with its preview grid PNG.
6. ``export``   — ONNX in the .dfm layout, registered as a ``dfm`` actor.

PyTorch is the optional ``train`` extra: nothing here imports torch at module load
except ``net``/``loss``/``checkpoint``/``trainer``/``export``; call ``require_torch``
first for a one-line error without it.
"""

from __future__ import annotations

from recast.pipeline.errors import TrainError

TORCH_HINT = "actor training needs PyTorch: pip install 'recast[train]' (adds torch, torchvision, safetensors)"


def require_torch() -> None:
    """TrainError (one line saying how to add it) when torch or safetensors is missing."""
    try:
        import safetensors  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise TrainError(TORCH_HINT) from None
