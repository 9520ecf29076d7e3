"""Convolutional encoder and decoder sized from the input shape (28, 64, 96 pixels; 1 or 3 channels).

Each encoder stage halves the resolution with a 4x4 stride-2 convolution; the decoder mirrors the
stages with transposed convolutions whose output_padding restores the exact encoder sizes.
"""

from __future__ import annotations

from torch import Tensor, nn


def stage_sizes(size: int, stages: int) -> list[int]:
    """Spatial sizes after each stride-2 k4 p1 convolution: s -> floor(s / 2)."""
    sizes = [size]
    for _ in range(stages):
        sizes.append(sizes[-1] // 2)
    if sizes[-1] < 1:
        raise ValueError(f"input of {size} pixels is too small for {stages} stride-2 stages")
    return sizes


class ConvEncoder(nn.Module):
    """Conv(k4, s2, p1) + BatchNorm + ReLU per stage, then a linear head to out_dim."""

    def __init__(self, input_shape: tuple[int, ...], out_dim: int, channels: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        c, h, w = input_shape
        layers: list[nn.Module] = []
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c = c_out
        self.features = nn.Sequential(*layers)
        hs, ws = stage_sizes(h, len(channels)), stage_sizes(w, len(channels))
        self.head = nn.Linear(c * hs[-1] * ws[-1], out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.hidden_features(x))

    def hidden_features(self, x: Tensor) -> Tensor:
        """The last conv stage's activations, flattened."""
        return self.features(x).flatten(1)


class ConvDecoder(nn.Module):
    """Linear to the smallest feature map, then ConvTranspose(k4, s2, p1) stages back to (C, H, W)."""

    def __init__(self, latent_dim: int, output_shape: tuple[int, ...], channels: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        c_img, h, w = output_shape
        hs, ws = stage_sizes(h, len(channels)), stage_sizes(w, len(channels))
        self.start = (channels[-1], hs[-1], ws[-1])
        self.project = nn.Linear(latent_dim, channels[-1] * hs[-1] * ws[-1])
        outs = list(reversed(channels[:-1])) + [c_img]
        layers: list[nn.Module] = [nn.ReLU()]
        c = channels[-1]
        for k, c_out in enumerate(outs):
            i = len(channels) - k  # index of the input size in hs/ws
            pad = (hs[i - 1] - 2 * hs[i], ws[i - 1] - 2 * ws[i])
            layers.append(nn.ConvTranspose2d(c, c_out, 4, 2, 1, output_padding=pad))
            if k < len(outs) - 1:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU()]
            c = c_out
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).view(-1, *self.start))
