"""Metrics: they take a model through its contract (encode/decode) and never import a specific model."""

from cfae.metrics.basic import basic_metrics
from cfae.metrics.encode import Encoded, encode_dataset

__all__ = ["Encoded", "basic_metrics", "encode_dataset"]
