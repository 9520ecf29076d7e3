"""Training settings, serialised with every checkpoint."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

OPTIMIZER_TYPES = ("adam", "adamw", "rmsprop", "sgd")


class OptimizerSettings(BaseModel):
    """Overrides for one network's optimiser (None keeps the model's default for that network)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["adam", "adamw", "rmsprop", "sgd"] | None = None
    lr: float | None = Field(None, gt=0)
    weight_decay: float = Field(0.0, ge=0)


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1, description="global batch: split across processes when distributed")
    lr: float = Field(1e-3, gt=0, description="learning rate of every network whose model and settings name none")
    optimizers: dict[str, OptimizerSettings] = Field(default_factory=dict, description="per-network overrides")
    lr_schedule: Literal["constant", "cosine", "step"] = "constant"
    lr_step_epochs: int = Field(10, ge=1, description="step schedule: multiply lr by 0.5 every N epochs")
    kl_warmup_epochs: int = Field(0, ge=0, description="KL warm-up: the KL weight rises linearly 0 -> 1 over the "
                                  "first N epochs, step by step (Sonderby et al. 2016 eq. 26); 0: off")
    seed: int = 0
    device: str = "auto"
    bf16: bool = Field(False, description="bf16 autocast around forward passes (CUDA; CPUs with AMX gain most)")
    compile: Literal["off", "default", "reduce-overhead", "max-autotune"] = Field(
        "off", description="torch.compile the model's forward (and with it the backward) in this mode; "
        "reduce-overhead replays CUDA graphs, for small batches where kernel launches dominate. Per-step "
        "schedules (KL warm-up, capacity annealing) are read from buffers, so one graph serves every step")
    sync_every: int = Field(50, ge=1, description="steps between host syncs (progress bar, NaN check)")
    divergence_factor: Optional[float] = Field(None, gt=0, description="stop when an epoch's mean training loss "
                                               "exceeds the best epoch's by this many times |best| (a run that "
                                               "diverged without NaN); the last good checkpoint is kept; None: off")
    grad_clip_norm: Optional[float] = Field(None, gt=0, description="before each optimiser step, scale that optimiser's "
                                            "gradients down to this global L2 norm when larger (the epoch log "
                                            "records the share of steps clipped); None: off")
    eval_batch_size: int = Field(1000, ge=1)
    eval_every: int = Field(1, ge=1, description="epochs between test-set evaluations; the last epoch is always "
                            "evaluated. Training is unchanged: each epoch draws its noise from its own seed")
    progress: bool = True


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
