"""The seed 003 Appendix skeleton (its Figure 10 and Table 3), shared by AE, beta-VAE and SAE.

ConvNet: ConvBlocks (3x3 convolution with `channels[k]` filters, Mish, BatchNorm), with `pools` 2x2
max-poolings spread evenly among them (after blocks depth/pools, 2 depth/pools, ...), then a dense
head of 3 Linear layers with Mish between them. UpsampleNet: the same in reverse, with bilinear
upsampling back to the encoder's sizes where the ConvNet pooled; its last convolution gives the
image logits (the sigmoid is the likelihood's mean). Linear and convolution weights get Glorot
(Xavier) uniform initialisation. Seed sizes for MNIST: depth 12 with 32 filters and 3 poolings
("S": 6 latent dimensions, "Standard": 12); the dense head widths are cfae's (the seed gives none).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEAD = (256, 128)


def glorot_(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights and zero biases for every Linear and Conv2d in module."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.Mish(), nn.BatchNorm2d(c_out))


def pool_positions(depth: int, pools: int) -> set[int]:
    """Indices of the blocks followed by a pooling: evenly spaced, the last after the last block."""
    pools = min(pools, depth)
    return {round((k + 1) * depth / pools) - 1 for k in range(pools)}


def dense_head(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(nn.Mish())
    return nn.Sequential(*layers)


def spatial_sizes(size: int, depth: int, pools: int) -> list[int]:
    """Spatial size entering each block, and the final size last (pooling floors: 28 -> 14 -> 7 -> 3)."""
    after = pool_positions(depth, pools)
    sizes = [size]
    for k in range(depth):
        sizes.append(sizes[-1] // 2 if k in after else sizes[-1])
    if sizes[-1] < 1:
        raise ValueError(f"input of {size} pixels is too small for {pools} poolings")
    return sizes


class PooledEncoder(nn.Module):
    """ConvNet of seed 003: ConvBlocks with max-pooling, then a 3-layer dense head to out_dim."""

    def __init__(self, input_shape: tuple[int, ...], out_dim: int, channels: tuple[int, ...] = (32,) * 12, pools: int = 3):
        super().__init__()
        c, h, w = input_shape
        after = pool_positions(len(channels), pools)
        layers: list[nn.Module] = []
        for k, c_out in enumerate(channels):
            layers.append(conv_block(c, c_out))
            if k in after:
                layers.append(nn.MaxPool2d(2))
            c = c_out
        self.features = nn.Sequential(*layers)
        flat = c * spatial_sizes(h, len(channels), pools)[-1] * spatial_sizes(w, len(channels), pools)[-1]
        self.head = dense_head([flat, *HEAD, out_dim])
        glorot_(self)

    def hidden_features(self, x: Tensor) -> Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.hidden_features(x))


class UpsampleDecoder(nn.Module):
    """UpsampleNet of seed 003: the dense head reversed, then ConvBlocks with bilinear upsampling."""

    def __init__(self, latent_dim: int, output_shape: tuple[int, ...], channels: tuple[int, ...] = (32,) * 12, pools: int = 3):
        super().__init__()
        c_img, h, w = output_shape
        self.hs, self.ws = spatial_sizes(h, len(channels), pools), spatial_sizes(w, len(channels), pools)
        self.after = pool_positions(len(channels), pools)
        self.start = (channels[-1], self.hs[-1], self.ws[-1])
        self.head = dense_head([latent_dim, *reversed(HEAD), channels[-1] * self.hs[-1] * self.ws[-1]])
        self.channels = channels
        self.blocks = nn.ModuleList(
            conv_block(channels[k], channels[k - 1]) if k > 0 else nn.Conv2d(channels[0], c_img, 3, padding=1)
            for k in reversed(range(len(channels))))
        glorot_(self)

    def upsample(self, h: Tensor, k: int) -> Tensor:
        """Undo the pooling after encoder block k (bilinear, to the exact encoder size)."""
        if k not in self.after:
            return h
        return F.interpolate(h, size=(self.hs[k], self.ws[k]), mode="bilinear", align_corners=False)

    def forward(self, z: Tensor) -> Tensor:
        h = self.head(z).view(-1, *self.start)
        for block, k in zip(self.blocks, reversed(range(len(self.channels)))):
            h = block(self.upsample(h, k))
        return h


class AdaIN(nn.Module):
    """Affine modulation of a feature map by a latent chunk (SAE, Leeb et al. 2020; reference E):
    h -> (1 + s(chunk)) * h + b(chunk) per channel, (s, b) from a small MLP on the chunk."""

    def __init__(self, chunk: int, channels: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(chunk, hidden), nn.Mish(), nn.Linear(hidden, 2 * channels))

    def forward(self, h: Tensor, chunk: Tensor) -> Tensor:
        scale, shift = self.net(chunk).chunk(2, dim=1)
        return (1 + scale)[:, :, None, None] * h + shift[:, :, None, None]


class StructuralDecoder(UpsampleDecoder):
    """SAE decoder: a learned constant tensor instead of the dense head; the code is split into one
    chunk per upsampling stage (torch.tensor_split order: earlier dimensions act at coarser scales),
    and each chunk modulates the features entering that stage through AdaIN."""

    def __init__(self, latent_dim: int, output_shape: tuple[int, ...], channels: tuple[int, ...] = (32,) * 12, pools: int = 3):
        super().__init__(latent_dim, output_shape, channels, pools)
        del self.head
        self.stages = sorted(self.after, reverse=True)  # decoder order: coarse to fine
        if latent_dim < len(self.stages):
            raise ValueError(f"an SAE decoder needs at least {len(self.stages)} latent dimensions (one per stage), got {latent_dim}")
        self.constant = nn.Parameter(torch.randn(*self.start))
        sizes = [len(c) for c in torch.arange(latent_dim).tensor_split(len(self.stages))]
        self.modulations = nn.ModuleList(AdaIN(size, channels[k]) for size, k in zip(sizes, self.stages))
        glorot_(self.modulations)

    def forward(self, z: Tensor) -> Tensor:
        chunks = dict(zip(self.stages, z.tensor_split(len(self.stages), dim=1)))
        modulate = dict(zip(self.stages, self.modulations))
        h = self.constant.expand(len(z), *self.start)
        for block, k in zip(self.blocks, reversed(range(len(self.channels)))):
            h = self.upsample(h, k)
            if k in modulate:
                h = modulate[k](h, chunks[k])
            h = block(h)
        return h
