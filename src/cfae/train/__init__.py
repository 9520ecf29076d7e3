"""Training: one Trainer for every model, safetensors + JSON checkpoints."""

from cfae.train.checkpoint import CheckpointError, load_model
from cfae.train.config import TrainConfig
from cfae.train.trainer import DivergedError, NonFiniteLossError, Trainer

__all__ = ["CheckpointError", "DivergedError", "NonFiniteLossError", "TrainConfig", "Trainer", "load_model"]
