"""The dataset type every loader returns: images resident in one tensor plus named labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import Tensor


@dataclass
class ImageDataset:
    """Images (N, C, H, W) and a dict of per-example labels/factors, each of length N.

    Images are stored as uint8 (0..255) or float32 in [0, 1]; `batch` always returns float32
    in [0, 1]. Keeping the whole set in one tensor on the training device lets the trainer draw
    batches by index, with no DataLoader on the hot path.
    """

    name: str
    images: Tensor
    labels: dict[str, Tensor] = field(default_factory=dict)
    class_names: list[str] | None = None

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        for key, value in self.labels.items():
            if len(value) != len(self.images):
                raise ValueError(f"{self.name}: label {key!r} has {len(value)} rows for {len(self.images)} images")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def batch(self, index: Tensor | slice) -> Tensor:
        """Float32 images in [0, 1] for the given indices."""
        x = self.images[index]
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()

    def __getitem__(self, i: int) -> tuple[Tensor, dict[str, Tensor]]:
        return self.batch(slice(i, i + 1))[0], {k: v[i] for k, v in self.labels.items()}

    def head(self, n: int | None) -> "ImageDataset":
        """The first n examples (all when n is None)."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"limit must be positive, got {n}")
        return ImageDataset(self.name, self.images[:n], {k: v[:n] for k, v in self.labels.items()}, self.class_names)

    def to(self, device: torch.device | str) -> "ImageDataset":
        return ImageDataset(
            self.name, self.images.to(device), {k: v.to(device) for k, v in self.labels.items()}, self.class_names
        )

    def index_batches(self, batch_size: int, shuffle: bool = True) -> Iterator[Tensor]:
        """Index tensors covering the set once; the permutation uses torch's global RNG (seeded)."""
        n = len(self)
        order = torch.randperm(n) if shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]

    @property
    def class_labels(self) -> Tensor | None:
        """The label used to colour plots and score kNN: 'label' if present, else None."""
        return self.labels.get("label")
