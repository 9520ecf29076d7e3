"""Train (once) and cache the independent CNN classifier of a labelled image dataset."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from cfae.data.base import ImageDataset
from cfae.nn.classifier import ConvClassifier


@torch.no_grad()
def accuracy(classifier: ConvClassifier, data: ImageDataset, batch_size: int = 1000) -> float:
    classifier.eval()
    correct = 0
    for start in range(0, len(data), batch_size):
        x = data.pixels(slice(start, start + batch_size))
        correct += (classifier(x).argmax(1) == data.labels["label"][start : start + batch_size]).sum().item()
    return correct / len(data)


def train_classifier(train: ImageDataset, test: ImageDataset, epochs: int = 3, seed: int = 0,
                     batch_size: int = 128, lr: float = 1e-3) -> tuple[ConvClassifier, float]:
    """Adam on cross-entropy; returns the classifier (eval mode) and its test accuracy."""
    torch.manual_seed(seed)
    classes = int(train.labels["label"].max()) + 1
    model = ConvClassifier(train.image_shape, classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for index in train.index_batches(batch_size):
            loss = F.cross_entropy(model(train.pixels(index)), train.labels["label"][index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval(), accuracy(model, test)


def cached_classifier(train: ImageDataset, test: ImageDataset, folder: Path, epochs: int = 3) -> tuple[ConvClassifier, float]:
    """Load the classifier saved in `folder` (safetensors + JSON), else train and save it there."""
    weights, meta = folder / "classifier.safetensors", folder / "classifier.json"
    if weights.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        model = ConvClassifier(tuple(info["input_shape"]), info["classes"])
        model.load_state_dict(load_file(weights))
        return model.eval(), info["test_accuracy"]
    model, acc = train_classifier(train, test, epochs)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    classes = int(train.labels["label"].max()) + 1
    meta.write_text(json.dumps({"input_shape": list(train.image_shape), "classes": classes, "test_accuracy": acc,
                                "epochs": epochs, "dataset": train.name}))
    return model, acc
