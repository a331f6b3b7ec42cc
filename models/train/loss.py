"""Training loss: masked L1 + structural dissimilarity, extra weight on eyes and mouth,
plus the mask heads' error.

Per decoder: ``W_SSIM * DSSIM + W_L1 * L1`` on mask-weighted images (the mask is the
blurred face hull, so the background does not count), ``W_PARTS * L1`` over the
eyes/mouth map, and ``W_MASK * MSE`` of the predicted mask against the hull.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

W_SSIM = 5.0
W_L1 = 5.0
W_PARTS = 15.0
W_MASK = 5.0


def _gauss_kernel(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None].repeat(3, 1, 1, 1)


def dssim(a: torch.Tensor, b: torch.Tensor, size: int) -> torch.Tensor:
    """(1 - SSIM) / 2, Gaussian window ``size`` (odd), on NCHW RGB in [0, 1]."""
    k = _gauss_kernel(size, 1.5 * size / 11.0, a.device).to(a.dtype)
    pad = size // 2
    f = lambda x: F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="reflect"), k, groups=3)  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    saa = f(a * a) - mu_a * mu_a
    sbb = f(b * b) - mu_b * mu_b
    sab = f(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (saa + sbb + c2))
    return ((1.0 - ssim) / 2.0).mean()


def window_for(resolution: int) -> int:
    """DeepFaceLab's SSIM window ~ resolution / 11.6, odd, at least 3."""
    w = max(3, int(resolution / 11.6))
    return w if w % 2 else w + 1


def soft_mask(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """The hull mask blurred a little (a box blur of ~R/32), so edges are learnt softly."""
    k = max(1, resolution // 32) * 2 + 1
    return F.avg_pool2d(mask, k, stride=1, padding=k // 2, count_include_pad=False)


def face_loss(pred: torch.Tensor, pred_mask: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
    r = int(target.shape[-1])
    m = soft_mask(mask, r)
    pm, tm = pred * m, target * m
    loss = W_SSIM * dssim(pm, tm, window_for(r)) + W_L1 * (pm - tm).abs().mean()
    loss = loss + W_PARTS * ((pred - target).abs() * parts).mean()
    return loss + W_MASK * F.mse_loss(pred_mask, mask)
