"""Optimisers per named network and the learning-rate schedules, as pure functions of the epoch."""

from __future__ import annotations

import math

import torch

from cfae.models.base import Network
from cfae.train.config import TrainConfig

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
               "sgd": torch.optim.SGD}


def build_optimizers(networks: dict[str, Network], config: TrainConfig) -> dict[str, torch.optim.Optimizer]:
    """One optimiser per network: type and lr from config.optimizers[name], else the model's
    default for that network, else Adam at config.lr. Unknown network names are refused."""
    unknown = set(config.optimizers) - set(networks)
    if unknown:
        raise ValueError(f"train.optimizers names unknown networks {sorted(unknown)}; "
                         f"this model's networks: {', '.join(networks)}")
    optimizers = {}
    for name, net in networks.items():
        settings = config.optimizers.get(name)
        kind = (settings and settings.type) or net.optimizer
        lr = (settings and settings.lr) or net.lr or config.lr
        extra = {"weight_decay": settings.weight_decay} if settings and settings.weight_decay else {}
        if net.betas is not None and kind in ("adam", "adamw"):
            extra["betas"] = net.betas
        fused = {"fused": True} if kind in ("adam", "adamw") else {}  # one kernel per step, CPU and CUDA
        optimizers[name] = _OPTIMIZERS[kind](net.parameters, lr=lr, **extra, **fused)
        for group in optimizers[name].param_groups:
            group["base_lr"] = lr
    return optimizers


def clip_gradient_norm(optimizer: torch.optim.Optimizer, max_norm: float) -> torch.Tensor:
    """g <- g min(1, max_norm / ||g||), ||g|| the L2 norm of all of the optimiser's gradients taken
    together (Pascanu et al. 2013); returns the 0-d tensor ||g|| > max_norm, left on the device."""
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True) > max_norm


def lr_factor(epoch: int, config: TrainConfig) -> float:
    """Multiplier of each optimiser's base lr during epoch `epoch` (0-based) of config.epochs:
    constant 1; cosine (1 + cos(pi epoch / epochs)) / 2; step 0.5^floor(epoch / lr_step_epochs).
    A function of the current total, so extending a run re-spreads the cosine over the new total."""
    if config.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    if config.lr_schedule == "step":
        return 0.5 ** (epoch // config.lr_step_epochs)
    return 1.0


def set_epoch_lr(optimizers: dict[str, torch.optim.Optimizer], epoch: int, config: TrainConfig) -> dict[str, float]:
    """Set every group's lr to base_lr x lr_factor; returns {name: lr} for the log."""
    factor = lr_factor(epoch, config)
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * factor
    return {name: opt.param_groups[0]["lr"] for name, opt in optimizers.items()}
