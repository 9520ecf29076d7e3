"""Convolutional encoder and decoder sized from the input shape (28, 64, 96 pixels; 1 or 3 channels).

Each encoder stage halves the resolution with a stride-2 convolution, 4x4 with padding 1 ("conv")
or 5x5 with padding 2 ("dcgan", the VAE-GAN / CDVAE-GAN networks of Larsen et al. 2016 and seed
001 Table 1, which also put a batch-normalised fully connected layer after the convolutions); the
decoder mirrors the stages with transposed convolutions whose output_padding restores the exact
encoder sizes.
"""

from __future__ import annotations

from torch import Tensor, nn

PADDING = {4: 1, 5: 2}


def stage_sizes(size: int, stages: int, kernel: int = 4) -> list[int]:
    """Spatial sizes after each stride-2 convolution: s -> floor(s / 2) (k4 p1) or ceil(s / 2) (k5 p2)."""
    if kernel not in PADDING:
        raise ValueError(f"kernel must be one of {sorted(PADDING)}, got {kernel}")
    sizes = [size]
    for _ in range(stages):
        sizes.append((sizes[-1] + 2 * PADDING[kernel] - kernel) // 2 + 1)
    if sizes[-1] < 1:
        raise ValueError(f"input of {size} pixels is too small for {stages} stride-2 stages")
    return sizes


def conv_stages(c: int, channels: tuple[int, ...], kernel: int, activation: type[nn.Module] = nn.ReLU,
                first_norm: bool = True) -> nn.Sequential:
    """Conv(stride 2) + BatchNorm + activation per stage (no norm on the first when first_norm is False)."""
    layers: list[nn.Module] = []
    for k, c_out in enumerate(channels):
        layers.append(nn.Conv2d(c, c_out, kernel, 2, PADDING[kernel]))
        if k > 0 or first_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(activation())
        c = c_out
    return nn.Sequential(*layers)


def flat_size(input_shape: tuple[int, ...], channels: tuple[int, ...], kernel: int) -> int:
    _, h, w = input_shape
    return channels[-1] * stage_sizes(h, len(channels), kernel)[-1] * stage_sizes(w, len(channels), kernel)[-1]


class ConvEncoder(nn.Module):
    """Conv + BatchNorm + ReLU per stage, optionally a Linear + BatchNorm1d + ReLU layer of fc
    units, then a linear head to out_dim."""

    def __init__(self, input_shape: tuple[int, ...], out_dim: int, channels: tuple[int, ...] = (32, 64, 128),
                 kernel: int = 4, fc: int | None = None):
        super().__init__()
        self.features = conv_stages(input_shape[0], channels, kernel)
        flat = flat_size(input_shape, channels, kernel)
        self.fc = nn.Sequential(nn.Linear(flat, fc), nn.BatchNorm1d(fc), nn.ReLU()) if fc else nn.Identity()
        self.head = nn.Linear(fc or flat, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.fc(self.hidden_features(x)))

    def hidden_features(self, x: Tensor) -> Tensor:
        """The last conv stage's activations, flattened."""
        return self.features(x).flatten(1)


class ConvDecoder(nn.Module):
    """Linear to the smallest feature map (batch-normalised when project_norm), then stride-2
    ConvTranspose stages back to (C, H, W)."""

    def __init__(self, latent_dim: int, output_shape: tuple[int, ...], channels: tuple[int, ...] = (32, 64, 128),
                 kernel: int = 4, project_norm: bool = False):
        super().__init__()
        c_img, h, w = output_shape
        hs, ws = stage_sizes(h, len(channels), kernel), stage_sizes(w, len(channels), kernel)
        self.start = (channels[-1], hs[-1], ws[-1])
        self.project = nn.Linear(latent_dim, channels[-1] * hs[-1] * ws[-1])
        outs = list(reversed(channels[:-1])) + [c_img]
        layers: list[nn.Module] = [nn.BatchNorm2d(channels[-1])] if project_norm else []
        layers.append(nn.ReLU())
        c, p = channels[-1], PADDING[kernel]
        for k, c_out in enumerate(outs):
            i = len(channels) - k  # index of the input size in hs/ws
            # ConvTranspose output: 2 in - 2 - 2p + k + output_padding
            pad = (hs[i - 1] - 2 * hs[i] + 2 + 2 * p - kernel, ws[i - 1] - 2 * ws[i] + 2 + 2 * p - kernel)
            layers.append(nn.ConvTranspose2d(c, c_out, kernel, 2, p, output_padding=pad))
            if k < len(outs) - 1:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU()]
            c = c_out
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.project(z).view(-1, *self.start))
