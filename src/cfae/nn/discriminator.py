"""The GAN discriminator of VAE-GAN (Larsen et al. 2016) and CDVAE-GAN (seed 001, Table 1).

Stride-2 convolutions with batch norm (none on the first) and LeakyReLU(0.2), a fully connected
LeakyReLU layer, one logit. `forward` returns (logit (N,), features (N, F)): the features are the
last convolution stage, flattened, the layer l whose activations VAE-GAN's reconstruction compares.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from cfae.nn.conv import conv_stages, flat_size


class Discriminator(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], channels: tuple[int, ...] = (32, 64, 128),
                 kernel: int = 4, fc: int = 256):
        super().__init__()
        leaky = partial(nn.LeakyReLU, 0.2)
        self.features = conv_stages(input_shape[0], channels, kernel, leaky, first_norm=False)
        self.head = nn.Sequential(nn.Linear(flat_size(input_shape, channels, kernel), fc), leaky(), nn.Linear(fc, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = self.features(x).flatten(1)
        return self.head(features)[:, 0], features
