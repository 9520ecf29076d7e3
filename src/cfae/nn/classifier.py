"""Image classifiers and regressors: the models whose decisions counterfactuals explain.

A classifier exposes logits(x) -> (N, classes); a regressor exposes predict(x) -> (N,) in the
target's own units (the network learns the standardised target, (y - mean) / std).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cfae.nn.conv import stage_sizes

PREDICTOR_NETWORKS = ("conv", "mlp")


class ConvClassifier(nn.Module):
    """Two conv + max-pool stages, dropout, one hidden linear layer; returns `classes` outputs."""

    def __init__(self, input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10, width: int = 32):
        super().__init__()
        c, h, w = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        size = stage_sizes(h, 2)[-1] * stage_sizes(w, 2)[-1]
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * width * size, 128), nn.ReLU(),
                                  nn.Linear(128, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def logits(self, x: Tensor) -> Tensor:
        return self(x)

    def embedding(self, x: Tensor) -> Tensor:
        """The 128 hidden units before the output layer (the domain features of cfae.metrics.fid)."""
        return self.head[:-1](self.features(x))


class MLPClassifier(nn.Module):
    """A fully connected classifier (seed 002's MNIST digit classifier): flatten, ReLU hidden layers."""

    def __init__(self, input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10,
                 hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        sizes = [int(torch.tensor(input_shape).prod()), *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def logits(self, x: Tensor) -> Tensor:
        return self(x)


def predictor_body(network: str, input_shape: tuple[int, int, int], outputs: int) -> nn.Module:
    """The conv or fully connected network with `outputs` outputs."""
    if network == "conv":
        return ConvClassifier(input_shape, outputs)
    if network == "mlp":
        return MLPClassifier(input_shape, outputs)
    raise ValueError(f"unknown predictor network {network!r}; valid choices: {', '.join(PREDICTOR_NETWORKS)}")


class Regressor(nn.Module):
    """predict(x) = std * net(x) + mean: a scalar image attribute (e.g. stroke thickness), or with
    outputs k > 1 several at once ((N, k); mean and std per output)."""

    def __init__(self, network: str, input_shape: tuple[int, int, int], mean=0.0, std=1.0, outputs: int = 1):
        super().__init__()
        self.outputs = outputs
        self.net = predictor_body(network, input_shape, outputs)
        shape = () if outputs == 1 else (outputs,)  # a scalar buffer for one output, as saved before
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).expand(shape).clone())
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).expand(shape).clone())

    def forward(self, x: Tensor) -> Tensor:
        """The standardised prediction (what the loss sees): (N,) for one output, else (N, k)."""
        out = self.net(x)
        return out[:, 0] if self.outputs == 1 else out

    def predict(self, x: Tensor) -> Tensor:
        return self(x) * self.std + self.mean
