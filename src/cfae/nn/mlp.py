"""Fully connected encoder and decoder sized from the image shape."""

from __future__ import annotations

import math

from torch import Tensor, nn


def mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers with an activation between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flatten (C, H, W) -> hidden layers -> out_dim."""

    def __init__(self, input_shape: tuple[int, ...], out_dim: int, hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        self.net = mlp([math.prod(input_shape), *hidden, out_dim])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))

    def hidden_features(self, x: Tensor) -> Tensor:
        """The last hidden layer's activations, (N, hidden[-1])."""
        return self.net[:-1](x.flatten(1))


class MLPDecoder(nn.Module):
    """latent -> hidden layers (reversed) -> image-shaped logits."""

    def __init__(self, latent_dim: int, output_shape: tuple[int, ...], hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.net = mlp([latent_dim, *reversed(hidden), math.prod(output_shape)])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(-1, *self.output_shape)
