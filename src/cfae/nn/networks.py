"""The network registry: encoders and decoders built by name from the image shape."""

from __future__ import annotations

from functools import partial

from torch import nn

from cfae.nn.conv import ConvDecoder, ConvEncoder
from cfae.nn.mlp import MLPDecoder, MLPEncoder
from cfae.nn.pooled import PooledEncoder, StructuralDecoder, UpsampleDecoder
from cfae.registry import check_choices

# "dcgan": 5x5 stride-2 convolutions, a 2048-unit layer after them and a batch-normalised projection
# in the decoder (Larsen et al. 2016; seed 001 Table 1, whose widths are the defaults).
# "pooled": seed 003's ConvNet / UpsampleNet (Mish, max-pooling, bilinear upsampling; hidden = the
# filters of each ConvBlock); "structural": the same encoder with the SAE decoder (Leeb et al. 2020).
_ENCODERS = {"mlp": MLPEncoder, "conv": ConvEncoder, "dcgan": partial(ConvEncoder, kernel=5, fc=2048),
             "pooled": PooledEncoder, "structural": PooledEncoder}
_DECODERS = {"mlp": MLPDecoder, "conv": ConvDecoder, "dcgan": partial(ConvDecoder, kernel=5, project_norm=True),
             "pooled": UpsampleDecoder, "structural": StructuralDecoder}
DEFAULT_HIDDEN = {"mlp": (512, 256), "conv": (32, 64, 128), "dcgan": (64, 128, 256), "pooled": (32,) * 12,
                  "structural": (32,) * 12}
# Discriminator (channels, kernel, fully connected width) for each network family.
DISCRIMINATORS = {"mlp": ((32, 64, 128), 4, 256), "conv": ((32, 64, 128), 4, 256), "dcgan": ((64, 128, 256, 512), 5, 2048),
                  "pooled": ((32, 64, 128), 4, 256), "structural": ((32, 64, 128), 4, 256)}
NETWORKS = tuple(sorted(_ENCODERS))


def _check(kind: str) -> None:
    check_choices("network", [kind], NETWORKS)


def build_encoder(kind: str, input_shape: tuple[int, ...], out_dim: int, hidden: tuple[int, ...] | None = None) -> nn.Module:
    """Encoder from images (C, H, W) to out_dim features; hidden = layer widths or channels."""
    _check(kind)
    return _ENCODERS[kind](tuple(input_shape), out_dim, tuple(hidden or DEFAULT_HIDDEN[kind]))


def build_decoder(kind: str, latent_dim: int, output_shape: tuple[int, ...], hidden: tuple[int, ...] | None = None) -> nn.Module:
    """Decoder from latent_dim to image-shaped logits; hidden is given in encoder order."""
    _check(kind)
    return _DECODERS[kind](latent_dim, tuple(output_shape), tuple(hidden or DEFAULT_HIDDEN[kind]))
