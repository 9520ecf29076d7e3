"""Training settings, serialised with every checkpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    lr_schedule: Literal["constant", "cosine", "step"] = "constant"
    lr_step_epochs: int = Field(10, ge=1, description="step schedule: multiply lr by 0.5 every N epochs")
    seed: int = 0
    device: str = "auto"
    bf16: bool = Field(False, description="bf16 autocast; applied on CUDA only")
    sync_every: int = Field(50, ge=1, description="steps between host syncs (progress bar, NaN check)")
    eval_batch_size: int = Field(1000, ge=1)
    progress: bool = True


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name
