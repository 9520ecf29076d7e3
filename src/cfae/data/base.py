"""The dataset type every loader returns (images resident in one tensor plus named labels) and
the batch type that carries images and labels together to models, evaluation and metrics."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from cfae.data.idx import DataFileError

TRAIN_TEST = ("test", "train")  # the splits of every dataset but CelebA


@dataclass
class Batch:
    """Images x (N, C, H, W) float32 in [0, 1] and per-example labels {name: (N, ...)}."""

    x: Tensor
    labels: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device) -> "Batch":
        return Batch(self.x.to(device), {k: v.to(device) for k, v in self.labels.items()})

    def select(self, index) -> "Batch":
        """The rows `index` of images and labels alike."""
        return Batch(self.x[index], {k: v[index] for k, v in self.labels.items()})

    def label(self, name: str) -> Tensor:
        if name not in self.labels:
            raise KeyError(f"this batch has no label {name!r}; it has: {', '.join(sorted(self.labels)) or 'none'}")
        return self.labels[name]


def as_batch(data: Batch | Tensor) -> Batch:
    """A Batch from a Batch or a bare image tensor (no labels)."""
    return data if isinstance(data, Batch) else Batch(data)


def image_tensor(array: np.ndarray, source: str) -> Tensor:
    """Images as stored: integers in 0..255 become uint8, floats in [0, 1] float32; anything else
    (negative or > 255 integers, floats outside [0, 1] or NaN) is refused naming the source."""
    array = np.asarray(array)
    if array.size == 0:
        raise DataFileError(f"{source}: holds no images")
    if np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise DataFileError(f"{source}: integer pixels must lie in 0..255, found {low}..{high}")
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.uint8))
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise DataFileError(f"{source}: float pixels contain NaN or infinity")
        low, high = float(array.min()), float(array.max())
        if low < 0 or high > 1:
            raise DataFileError(f"{source}: float pixels must lie in [0, 1], found {low:g}..{high:g}")
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    raise DataFileError(f"{source}: pixels of type {array.dtype} are neither integers nor floats")


@dataclass
class ImageDataset:
    """Images (N, C, H, W) and a dict of per-example labels/factors, each of length N.

    Images are stored as uint8 (0..255) or float32 in [0, 1]; `pixels` always returns float32
    in [0, 1] and `batch` a Batch with the labels too. Keeping the whole set in one tensor on the
    training device lets the trainer draw batches by index, with no DataLoader on the hot path.
    """

    name: str
    images: Tensor
    labels: dict[str, Tensor] = field(default_factory=dict)
    class_names: list[str] | None = None
    attribute_names: list[str] | None = None  # columns of labels["attributes"] (N, k) in {0, 1}

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        for key, value in self.labels.items():
            if len(value) != len(self.images):
                raise ValueError(f"{self.name}: label {key!r} has {len(value)} rows for {len(self.images)} images")
        if self.attribute_names is not None:
            columns = self.labels["attributes"].shape[1] if "attributes" in self.labels else None
            if columns != len(self.attribute_names):
                raise ValueError(f"{self.name}: {len(self.attribute_names)} attribute names for "
                                 f"{columns or 'no'} attribute columns")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def pixels(self, index: Tensor | slice) -> Tensor:
        """Float32 images in [0, 1] for the given indices."""
        x = self.images[index]
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def batch(self, index: Tensor | slice) -> Batch:
        """Images and labels of the given indices."""
        return Batch(self.pixels(index), {k: v[index] for k, v in self.labels.items()})

    def in_order(self, batch_size: int, device=None) -> Iterator[Batch]:
        """Consecutive batches covering the set once, in order (evaluation), optionally moved to device."""
        for start in range(0, len(self), batch_size):
            batch = self.batch(slice(start, start + batch_size))
            yield batch.to(device) if device is not None else batch

    def _with(self, images: Tensor, labels: dict[str, Tensor], **changes) -> "ImageDataset":
        return dataclasses.replace(self, images=images, labels=labels, **changes)

    def head(self, n: int | None) -> "ImageDataset":
        """The first n examples (all when n is None)."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"limit must be positive, got {n}")
        return self._with(self.images[:n], {k: v[:n] for k, v in self.labels.items()})

    def subset(self, index: Tensor) -> "ImageDataset":
        """The examples at these indices (or where this boolean mask is True), in that order."""
        return self._with(self.images[index], {k: v[index] for k, v in self.labels.items()})

    def with_classes(self, classes: list[int] | None, label: str = "label") -> "ImageDataset":
        """Only the examples whose `label` is one of `classes` (all when classes is None)."""
        if classes is None:
            return self
        if label not in self.labels:
            raise ValueError(f"dataset {self.name!r} has no {label!r} labels to select classes by")
        kept = self.subset(torch.isin(self.labels[label], torch.as_tensor(classes)))
        if len(kept) == 0:
            raise ValueError(f"dataset {self.name!r} has no examples of classes {classes}")
        return kept

    def to(self, device: torch.device | str) -> "ImageDataset":
        return self._with(self.images.to(device), {k: v.to(device) for k, v in self.labels.items()})

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch; datasets resampled per epoch override it."""

    def index_batches(self, batch_size: int, shuffle: bool = True, generator: torch.Generator | None = None) -> Iterator[Tensor]:
        """Index tensors covering the set once, in a permutation drawn from `generator` (else torch's global RNG)."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]

    @property
    def class_labels(self) -> Tensor | None:
        """The label used to colour plots and score kNN: 'label' if present, else None."""
        return self.labels.get("label")


def bernoulli_draw(probabilities: Tensor, seed: int) -> Tensor:
    """uint8 0/255 images with each pixel on with its grey level as probability (seeded, on the CPU)."""
    gen = torch.Generator().manual_seed(seed)
    p = probabilities.float().div(255.0) if probabilities.dtype == torch.uint8 else probabilities.float()
    return (torch.rand(p.shape, generator=gen) < p.cpu()).to(torch.uint8).mul_(255)


@dataclass
class DynamicBinarized(ImageDataset):
    """Binarised images resampled every epoch (x ~ Bernoulli(grey level), seed (seed, epoch)), as in
    the likelihood literature's dynamically binarised MNIST. `probabilities` keeps the grey levels."""

    probabilities: Tensor | None = None
    seed: int = 0

    def set_epoch(self, epoch: int) -> None:
        draw = bernoulli_draw(self.probabilities, self.seed * 1_000_003 + epoch)
        self.images = draw.to(self.images.device)

    def head(self, n: int | None) -> "ImageDataset":
        cut = super().head(n)
        return cut if cut is self else dataclasses.replace(cut, probabilities=self.probabilities[:n])

    def subset(self, index: Tensor) -> "ImageDataset":
        return dataclasses.replace(super().subset(index), probabilities=self.probabilities[index])
