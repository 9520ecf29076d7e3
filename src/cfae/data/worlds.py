"""Datasets drawn by a known causal mechanism: the true counterfactual of do(concept = v) for any example.

A world names its concepts (label names, in order), the true graph between them, the (mean, scale)
that standardises each label, and two functions over rows of a dataset split:
    intervene(data, rows, labels, concept, value) -> (labels after the intervention, simulable)
    draw(data, rows, labels) -> float images in [0, 1] of those rows' scenes at the given labels
`simulable` is False where the data's own mechanism could never produce the intervened scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from torch import Tensor

from cfae.data import morpho_scm, pendulum
from cfae.data.base import ImageDataset


@dataclass(frozen=True)
class CausalWorld:
    name: str
    concepts: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]  # (parent, child)
    standardisation: dict[str, tuple[float, float]]
    intervene: Callable[[ImageDataset, object, np.ndarray, str, float], tuple[np.ndarray, bool]]
    draw: Callable[[ImageDataset, object, np.ndarray], Tensor]

    def labels_of(self, data: ImageDataset, rows) -> np.ndarray:
        """(n, k) float64 concept labels of the given rows, in the world's concept order."""
        return np.stack([data.labels[c][rows].numpy() for c in self.concepts], 1).astype(np.float64).reshape(-1, len(self.concepts))

    def counterfactual(self, data: ImageDataset, rows, concept: str, value: float) -> tuple[Tensor, np.ndarray, bool]:
        """do(concept = value) on the given rows: (the true images, their labels, simulable)."""
        labels, simulable = self.intervene(data, rows, self.labels_of(data, rows), concept, value)
        return self.draw(data, rows, labels), labels, simulable

    def graph(self) -> np.ndarray:
        """0/1 adjacency [parent, child] in concept order."""
        out = np.zeros((len(self.concepts), len(self.concepts)), dtype=int)
        for parent, child in self.edges:
            out[self.concepts.index(parent), self.concepts.index(child)] = 1
        return out


PENDULUM = CausalWorld(
    "pendulum", pendulum.CONCEPTS,
    tuple((angle, shadow) for angle in pendulum.CONCEPTS[:2] for shadow in pendulum.CONCEPTS[2:]),
    pendulum.CONCEPT_STANDARDISATION,
    intervene=lambda data, rows, labels, concept, value: pendulum.intervened_labels(labels, concept, value),
    draw=lambda data, rows, labels: pendulum.render_labels(labels))

MORPHO_SCM = CausalWorld(
    "morpho-scm", morpho_scm.CONCEPTS, (("thickness", "intensity"),), morpho_scm.STANDARDISATION,
    intervene=lambda data, rows, labels, concept, value: morpho_scm.intervened_labels(
        labels, data.labels["intensity_noise"][rows].numpy().astype(np.float64), concept, value),
    draw=morpho_scm.render)

WORLDS = {world.name: world for world in (MORPHO_SCM, PENDULUM)}


def causal_world(dataset: str) -> CausalWorld:
    """The world behind a dataset name; other names fail with the valid choices."""
    if dataset not in WORLDS:
        raise ValueError(f"dataset {dataset!r} has no known causal mechanism to intervene on; "
                         f"valid choices: {', '.join(WORLDS)}")
    return WORLDS[dataset]
