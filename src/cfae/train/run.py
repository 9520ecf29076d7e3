"""A run: dataset + model + training settings in one JSON-serialisable record, trained into a folder.

    RUN/run.json        the RunConfig (what `cfae evaluate/plot/sample` read back)
    RUN/log.jsonl       one record per epoch
    RUN/checkpoints/    safetensors checkpoints (see checkpoint.py)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from cfae.data import ImageDataset, get_dataset
from cfae.models import MODELS, BaseModel as Autoencoder
from cfae.train.checkpoint import CheckpointError
from cfae.train.config import TrainConfig
from cfae.train.trainer import Trainer

RUN_FILE = "run.json"


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    dataset: str
    data_root: str | None = None
    limit: int | None = Field(None, ge=1, description="train and evaluate on the first N examples")
    model_options: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=TrainConfig)

    def load_split(self, split: str) -> ImageDataset:
        return get_dataset(self.dataset, split, self.data_root, self.limit)

    def build_model(self, image_shape: tuple[int, int, int]) -> Autoencoder:
        cls = MODELS.get(self.model)
        return cls(cls.Config(name=self.model, input_shape=image_shape, **self.model_options))


def read_run_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; is {run_dir} a folder written by `cfae train`?")
    try:
        return RunConfig.model_validate_json(path.read_text())
    except ValueError as err:
        raise CheckpointError(f"{path}: invalid run config ({err})") from None


def train_run(config: RunConfig, out_dir: str | Path, resume: bool = False) -> tuple[Autoencoder, list[dict]]:
    """Train (or, with resume, continue) a run into out_dir; returns the model and its history."""
    out = Path(out_dir)
    MODELS.get(config.model)  # fail on an unknown name before loading data
    train_data = config.load_split("train")
    test_data = config.load_split("test")
    torch.manual_seed(config.train.seed)  # weights initialise from the run's seed too
    model = config.build_model(train_data.image_shape)
    trainer = Trainer(model, config.train, train_data, test_data, out_dir=out)
    if resume:
        trainer.resume()
    else:
        if (out / "checkpoints").exists():
            raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_FILE).write_text(json.dumps(config.model_dump(mode="json"), indent=2))
    history = trainer.fit()
    return trainer.model, history
