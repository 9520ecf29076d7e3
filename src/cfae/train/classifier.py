"""Train, save and load classifiers and regressors of images (safetensors weights + JSON record).

    FOLDER/predictor.safetensors   weights
    FOLDER/predictor.json          kind, network, input shape, outputs or target, test score, what ran
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from cfae import jsonio
from cfae.data.base import ImageDataset
from cfae.nn.classifier import Regressor, predictor_body
from cfae.registry import check_choices
from cfae.train.checkpoint import CheckpointError
from cfae.train.progress import TrainingProgress
from cfae.train.provenance import provenance

WEIGHTS, RECORD = "predictor.safetensors", "predictor.json"
PREDICTOR_KINDS = ("classifier", "attributes", "regressor")


@torch.no_grad()
def classifier_accuracy(classifier: nn.Module, data: ImageDataset, label: str = "label", batch_size: int = 1000) -> float:
    classifier.eval()
    correct = sum((classifier.logits(b.x).argmax(1) == b.label(label)).sum().item() for b in data.in_order(batch_size))
    return correct / len(data)


@torch.no_grad()
def attribute_accuracy(classifier: nn.Module, data: ImageDataset, batch_size: int = 1000) -> list[float]:
    """Per attribute: the share of images whose predicted bit (logit > 0) equals its label."""
    classifier.eval()
    hits = sum(((classifier.logits(b.x) > 0).float() == b.label("attributes")).float().sum(0)
               for b in data.in_order(batch_size))
    return (hits / len(data)).tolist()


def named_labels(data: ImageDataset, target: str) -> Tensor:
    """The label `target` (N,), or for comma-separated names their columns as floats (N, k); an
    unknown name is refused with the valid ones."""
    names = target.split(",")
    for name in names:
        if name not in data.labels:
            raise ValueError(f"dataset {data.name!r} has no label {name!r}; valid choices: {', '.join(data.labels)}")
    return data.labels[target] if len(names) == 1 else torch.stack([data.labels[n].float() for n in names], 1)


@torch.no_grad()
def regressor_mae(regressor: Regressor, data: ImageDataset, target: str, batch_size: int = 1000) -> float | list[float]:
    """Mean absolute error on data; one per target when `target` names several."""
    regressor.eval()
    y = named_labels(data, target).float()
    predicted = torch.cat([regressor.predict(b.x) for b in data.in_order(batch_size)])
    error = (predicted - y).abs().mean(0)
    return error.item() if error.ndim == 0 else error.tolist()


def train_predictor(kind: str, train: ImageDataset, test: ImageDataset, network: str = "conv", target: str = "label",
                    epochs: int = 3, seed: int = 0, batch_size: int = 128, lr: float = 1e-3,
                    progress: bool = False) -> tuple[nn.Module, dict]:
    """Adam on cross-entropy (classifier of label `target`), on per-attribute binary cross-entropy
    (attributes: one logit per column of labels["attributes"]) or on the squared error of the
    standardised target (regressor); returns the model in eval mode and its record (test accuracy,
    train and test accuracy per attribute, or MAE)."""
    check_choices("predictor kind", [kind], PREDICTOR_KINDS)
    if kind == "attributes":
        target = "attributes"
    y_all = named_labels(train, target)
    torch.manual_seed(seed)
    if kind == "classifier":
        classes = int(y_all.max()) + 1
        model = predictor_body(network, train.image_shape, classes)
        loss_of = lambda out, y: F.cross_entropy(out, y)  # noqa: E731
    elif kind == "attributes":
        model = predictor_body(network, train.image_shape, y_all.shape[1])
        loss_of = lambda out, y: F.binary_cross_entropy_with_logits(out, y.float())  # noqa: E731
    else:
        y_all = y_all.float()
        centre, spread = y_all.mean(0), y_all.std(0).clamp_min(1e-6)  # a constant target stays finite
        model = Regressor(network, train.image_shape, centre, spread, outputs=1 if y_all.ndim == 1 else y_all.shape[1])
        loss_of = lambda out, y: F.mse_loss(out, (y.float() - centre) / spread)  # noqa: E731
        mean, std = centre.tolist(), spread.tolist()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = -(-len(train) // batch_size)
    with TrainingProgress(progress, epochs, steps) as bar:
        for _ in range(epochs):
            model.train()
            for index in train.index_batches(batch_size):
                loss = loss_of(model(train.pixels(index)), y_all[index])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.advance(1, {"loss": loss.item()})
    model.eval()
    record = {"kind": kind, "network": network, "target": target, "input_shape": list(train.image_shape),
              "dataset": train.name, "train_size": len(train), "epochs": epochs, "seed": seed, "lr": lr,
              "batch_size": batch_size, "provenance": provenance()}
    if kind == "classifier":
        record.update(outputs=classes, test_accuracy=classifier_accuracy(model, test, target))
    elif kind == "attributes":
        record.update(outputs=y_all.shape[1], attribute_names=train.attribute_names,
                      train_accuracy=attribute_accuracy(model, train), test_accuracy=attribute_accuracy(model, test))
    else:
        record.update(outputs=model.outputs, target_mean=mean, target_std=std, test_mae=regressor_mae(model, test, target))
    return model, record


def save_predictor(folder: str | Path, model: nn.Module, record: dict) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / WEIGHTS)
    jsonio.write_json(folder / RECORD, record)
    return folder


def load_predictor(folder: str | Path, device="cpu") -> tuple[nn.Module, dict]:
    """Rebuild a saved classifier or regressor; never executes code from the files."""
    folder = Path(folder)
    weights, meta = folder / WEIGHTS, folder / RECORD
    if not weights.is_file() or not meta.is_file():
        raise CheckpointError(f"{folder}: no {WEIGHTS} + {RECORD}; is it a folder written by `cfae train-classifier` "
                              "or `cfae train-regressor`?")
    try:
        record = json.loads(meta.read_text())
        shape = tuple(record["input_shape"])
        if record["kind"] in ("classifier", "attributes"):
            model = predictor_body(record["network"], shape, record["outputs"])
        else:
            model = Regressor(record["network"], shape, outputs=record.get("outputs", 1))
        model.load_state_dict(load_file(weights))
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{folder}: unreadable predictor ({err})") from None
    return model.to(device).eval(), record


def cached_classifier(train: ImageDataset, test: ImageDataset, folder: Path, epochs: int = 3) -> tuple[nn.Module, float]:
    """Load the conv classifier saved in `folder`, else train and save it there."""
    if (folder / WEIGHTS).is_file():
        model, record = load_predictor(folder)
        return model, record["test_accuracy"]
    model, record = train_predictor("classifier", train, test, "conv", epochs=epochs)
    save_predictor(folder, model, record)
    return model, record["test_accuracy"]
