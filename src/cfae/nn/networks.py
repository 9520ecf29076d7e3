"""The network registry: encoders and decoders built by name from the image shape."""

from __future__ import annotations

from torch import nn

from cfae.nn.conv import ConvDecoder, ConvEncoder
from cfae.nn.mlp import MLPDecoder, MLPEncoder

_ENCODERS = {"mlp": MLPEncoder, "conv": ConvEncoder}
_DECODERS = {"mlp": MLPDecoder, "conv": ConvDecoder}
DEFAULT_HIDDEN = {"mlp": (512, 256), "conv": (32, 64, 128)}
NETWORKS = tuple(sorted(_ENCODERS))


def _check(kind: str) -> None:
    if kind not in _ENCODERS:
        raise ValueError(f"unknown network {kind!r}; valid choices: {', '.join(NETWORKS)}")


def build_encoder(kind: str, input_shape: tuple[int, ...], out_dim: int, hidden: tuple[int, ...] | None = None) -> nn.Module:
    """Encoder from images (C, H, W) to out_dim features; hidden = layer widths or channels."""
    _check(kind)
    return _ENCODERS[kind](tuple(input_shape), out_dim, tuple(hidden or DEFAULT_HIDDEN[kind]))


def build_decoder(kind: str, latent_dim: int, output_shape: tuple[int, ...], hidden: tuple[int, ...] | None = None) -> nn.Module:
    """Decoder from latent_dim to image-shaped logits; hidden is given in encoder order."""
    _check(kind)
    return _DECODERS[kind](latent_dim, tuple(output_shape), tuple(hidden or DEFAULT_HIDDEN[kind]))
