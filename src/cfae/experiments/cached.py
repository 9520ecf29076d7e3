"""Runs, predictors and FID feature backends that an experiment trains once and then reuses: each
lives in its own folder, and a finished one is loaded instead of retrained (an unfinished run resumes)."""

from __future__ import annotations

from pathlib import Path

import torch

from cfae.data.base import ImageDataset
from cfae.metrics.fid import DomainFeatures
from cfae.metrics.inception import InceptionFeatures
from cfae.train.classifier import load_predictor, save_predictor, train_predictor
from cfae.train.run import RunConfig, train_run


def trained_run(folder: Path, config: RunConfig):
    """The model of the run in folder, trained (or resumed) up to config's epochs; on the CPU, in eval mode.
    A run already past those epochs is refused: scored under the smaller count, it would misreport what ran."""
    model, history = train_run(config, folder, resume=(folder / "checkpoints").exists())
    reached = history[-1]["epoch"] if history else 0
    if reached != config.train.epochs:
        raise ValueError(f"{folder}: the run is at epoch {reached}, past the {config.train.epochs} this experiment "
                         "scores; its state at that epoch is gone. Give it another folder, or ask for its epochs")
    return model.cpu().eval()


def cached_predictor(folder: Path, kind: str, train: ImageDataset, test: ImageDataset, network: str, target: str,
                     epochs: int, seed: int = 0):
    """(model, record) of the predictor saved in folder, else trained (from `seed`) and saved there."""
    if (folder / "predictor.json").exists():
        return load_predictor(folder)
    model, record = train_predictor(kind, train, test, network, target, epochs, seed)
    save_predictor(folder, model, record)
    return model, record


def feature_backend(folder: Path, train: ImageDataset, test: ImageDataset, inception: str | Path | None = None,
                    epochs: int = 3) -> tuple[torch.nn.Module, dict]:
    """Inception-v3 pool features from a user's weights file, else a classifier of the dataset's class
    label (else of its attributes, seed 1) trained by cfae."""
    if inception is not None:
        return InceptionFeatures.from_file(inception), {"weights": str(inception)}
    kind, target = ("classifier", "label") if "label" in train.labels else ("attributes", "attributes")
    net, record = cached_predictor(folder, kind, train, test, "conv", target, epochs)
    return DomainFeatures(net, f"cfae domain classifier of {target!r} (conv, {folder.name}/)"), record
