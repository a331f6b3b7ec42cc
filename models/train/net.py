"""The DeepFaceLab-style "DF" autoencoder (PyTorch).

    face -> Encoder (4 stride-2 5x5 convs) -> Inter (dense bottleneck, one upscale)
         -> Decoder src | Decoder dst, each: 3 upscales + residual blocks -> RGB (sigmoid)
                                      and a lighter mask branch -> 1 channel (sigmoid)

The encoder and bottleneck are shared, so both identities live in one latent space;
swapping is "encode a dst face, decode it with the src decoder". Resolution must be a
multiple of 16 (the encoder halves it four times, the bottleneck works at R/16).
Tensors are NCHW RGB in [0, 1]; the ONNX wrapper in ``export`` adds the .dfm layout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from recast.pipeline.errors import TrainError


@dataclass(frozen=True)
class NetConfig:
    resolution: int = 128
    e_dims: int = 64  # encoder width (first conv); doubles per stage
    ae_dims: int = 256  # bottleneck width
    d_dims: int = 64  # decoder width
    d_mask_dims: int = 22  # mask branch width

    def __post_init__(self) -> None:
        if self.resolution % 16 or not 32 <= self.resolution <= 1024:
            raise TrainError(f"--resolution {self.resolution}: must be a multiple of 16 between 32 and 1024")
        if min(self.e_dims, self.ae_dims, self.d_dims, self.d_mask_dims) < 2:
            raise TrainError(f"--dims {self.e_dims},{self.ae_dims},{self.d_dims},{self.d_mask_dims}: every width must be >= 2")

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class Down(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 5, stride=2, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), 0.1)


class Up(nn.Module):
    """3x3 conv to 4x channels + pixel shuffle (DeepFaceLab's depth-to-space upscale)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.leaky_relu(self.conv(x), 0.1), 2)


class Res(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(ch, ch, 3, padding=1)
        self.b = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b(F.leaky_relu(self.a(x), 0.2))
        return F.leaky_relu(x + y, 0.2)


class Encoder(nn.Module):
    def __init__(self, e: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(Down(3, e), Down(e, e * 2), Down(e * 2, e * 4), Down(e * 4, e * 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.layers(x), 1)


class Inter(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.low = cfg.resolution // 16
        self.ae = cfg.ae_dims
        self.dense1 = nn.Linear(cfg.e_dims * 8 * self.low * self.low, cfg.ae_dims)
        self.dense2 = nn.Linear(cfg.ae_dims, self.low * self.low * cfg.ae_dims)
        self.up = Up(cfg.ae_dims, cfg.ae_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense2(self.dense1(x))
        return self.up(x.view(-1, self.ae, self.low, self.low))


class Decoder(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        d, m, ae = cfg.d_dims, cfg.d_mask_dims, cfg.ae_dims
        self.up1, self.res1 = Up(ae, d * 8), Res(d * 8)
        self.up2, self.res2 = Up(d * 8, d * 4), Res(d * 4)
        self.up3, self.res3 = Up(d * 4, d * 2), Res(d * 2)
        self.out = nn.Conv2d(d * 2, 3, 1)
        self.mask = nn.Sequential(Up(ae, m * 8), Up(m * 8, m * 4), Up(m * 4, m * 2))
        self.mask_out = nn.Conv2d(m * 2, 1, 1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.res1(self.up1(z))
        x = self.res2(self.up2(x))
        x = self.res3(self.up3(x))
        return torch.sigmoid(self.out(x)), torch.sigmoid(self.mask_out(self.mask(z)))


class DFModel(nn.Module):
    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.e_dims)
        self.inter = Inter(cfg)
        self.decoder_src = Decoder(cfg)
        self.decoder_dst = Decoder(cfg)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.inter(self.encoder(x))

    def forward(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(src rgb, src mask, dst rgb, dst mask) reconstructions."""
        zs, zd = self.latent(src), self.latent(dst)
        return (*self.decoder_src(zs), *self.decoder_dst(zd))

    def swap(self, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dst face mask, celeb face, celeb mask) for dst faces: what the .dfm export computes."""
        z = self.latent(dst)
        _, dst_mask = self.decoder_dst(z)
        celeb, celeb_mask = self.decoder_src(z)
        return dst_mask, celeb, celeb_mask
