"""Concept-level scores of causal representations on a dataset with concept labels (issue 13).

    concept handle   where a model keeps concept i: a model whose causes are named by the concepts
                     (cause_names, causes(codes)) intervenes on that cause's dimensions; any other
                     model on the one code dimension whose posterior mean has the largest |Pearson r|
                     with the concept label
    value map        latent = a + b * label per handle dimension, least squares on the data, so
                     that do(concept = v) in label units becomes a latent value for every model
    MIC / TIC        minepy's MINE(alpha 0.6, c 15) between each label and its handle (the mean of
                     its dimensions), averaged over concepts, in % (TIC normalised by its cell count)
    SHD              structural Hamming distance between thresholded graphs: one per missing,
                     extra or reversed edge
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from cfae.data.base import ImageDataset
from cfae.data.worlds import CausalWorld
from cfae.metrics.mic import mine_statistics
from cfae.metrics.pixels import mean_squared_error


@dataclass
class ConceptHandle:
    """Concept `name` lives in `dims` of the model's causes (key = name) or codes (key = index)."""

    name: str
    key: str | int
    dims: list[int]
    intercept: np.ndarray  # (len(dims),)
    slope: np.ndarray  # (len(dims),)

    @property
    def on_causes(self) -> bool:
        """True when the handle names a cause (intervened through the causes), not a code index."""
        return isinstance(self.key, str)

    def latent_value(self, value: float) -> Tensor:
        return torch.as_tensor(self.intercept + self.slope * value, dtype=torch.float32)


def concepts_are_causes(model, concepts: list[str]) -> bool:
    """True when the model names its causes after the concepts (CausalVAE's concept latents)."""
    names = getattr(model, "cause_names", ())
    return all(c in names for c in concepts)


@torch.no_grad()
def concept_codes(model, data: ImageDataset, as_causes: bool, batch_size: int = 500) -> Tensor:
    """Per example: the model's causes (as_causes) or its posterior means."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for batch in data.in_order(batch_size, device):
        codes = model.encode(batch).mean
        out.append((model.causes(codes) if as_causes else codes).cpu())
    return torch.cat(out)


def _fit_line(label: np.ndarray, latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares latent = a + b label, column by column."""
    design = np.stack([np.ones_like(label), label], 1)
    coef, *_ = np.linalg.lstsq(design, latent, rcond=None)
    return coef[0], coef[1]


def concept_handles(model, data: ImageDataset, concepts: list[str]) -> list[ConceptHandle]:
    """One handle per concept (module docstring), fitted on `data`."""
    as_causes = concepts_are_causes(model, concepts)
    codes = concept_codes(model, data, as_causes).numpy().astype(np.float64)
    handles = []
    for name in concepts:
        label = data.labels[name].numpy().astype(np.float64)
        if as_causes:
            width = codes.shape[1] // len(model.cause_names)
            start = model.cause_names.index(name) * width
            dims, key = list(range(start, start + width)), name
        else:
            centred = codes - codes.mean(0)
            lc = label - label.mean()
            norms = np.linalg.norm(centred, axis=0) * np.linalg.norm(lc)
            r = np.abs(lc @ centred) / np.where(norms > 0, norms, np.inf)  # |Pearson r|; 0 for a constant dimension
            dims = [int(r.argmax())]
            key = dims[0]
        intercept, slope = _fit_line(label, codes[:, dims])
        handles.append(ConceptHandle(name, key, dims, intercept, slope))
    return handles


def concept_information(model, data: ImageDataset, handles: list[ConceptHandle]) -> dict:
    """MIC and normalised TIC (in %) between each concept label and its handle, and their means."""
    codes = concept_codes(model, data, handles[0].on_causes).numpy().astype(np.float64)
    per = {}
    for h in handles:
        stats = mine_statistics(data.labels[h.name].numpy().astype(np.float64), codes[:, h.dims].mean(1))
        per[h.name] = {"mic": 100 * stats["mic"], "tic": 100 * stats["tic_norm"]}
    return {"per_concept": per, "mic": float(np.mean([v["mic"] for v in per.values()])),
            "tic": float(np.mean([v["tic"] for v in per.values()]))}


def structural_hamming_distance(learned: np.ndarray, truth: np.ndarray) -> int:
    """Edges to add, remove or reverse to turn `learned` into `truth` (both 0/1, [parent, child];
    a reversed edge counts once)."""
    learned, truth = np.asarray(learned, bool), np.asarray(truth, bool)
    if learned.shape != truth.shape:
        raise ValueError(f"graphs of shapes {learned.shape} and {truth.shape} cannot be compared")
    distance = 0
    k = len(truth)
    for i in range(k):
        for j in range(i + 1, k):
            if (learned[i, j], learned[j, i]) != (truth[i, j], truth[j, i]):
                distance += 1
    return distance + int((learned.diagonal() != truth.diagonal()).sum())


@torch.no_grad()
def true_counterfactual(model, codes: Tensor, world: CausalWorld, data: ImageDataset, rows, handle: ConceptHandle,
                        value: float):
    """do(handle's concept = value) on the encoded rows of data: (the model's counterfactual images,
    the world's true images, the true labels, whether the data's mechanism can produce them)."""
    truth, truth_labels, simulable = world.counterfactual(data, rows, handle.name, value)
    return model.intervene(codes, {handle.key: handle.latent_value(value)}), truth, truth_labels, simulable


@torch.no_grad()
def concept_counterfactuals(model, data: ImageDataset, world: CausalWorld, handles: list[ConceptHandle] | None,
                            values: dict[str, list[float]], regressor=None, n: int = 64, seed: int = 0) -> dict:
    """Per intervened concept, over n test examples and the given values (label units): the mean
    squared pixel error between the model's do(concept = v) and the world's true image, whether the
    mechanism could produce those scenes, and, given a concept regressor (predict -> (N, k), the
    world's concepts in order), the mean absolute error of the re-estimated concepts against the true
    intervened values (the intervened concept itself, and the others). model None (and handles None)
    scores the unchanged example: the original image offered as every counterfactual, the floor a
    model has to beat."""
    rng = np.random.default_rng(seed)
    rows = torch.as_tensor(rng.choice(len(data), size=min(n, len(data)), replace=False))
    images = data.pixels(rows)
    if model is not None:
        model.eval()
        codes = model.encode(images).mean
    out = {}
    for name in [h.name for h in handles] if handles is not None else world.concepts:
        pixel, own, others, simulable = [], [], [], []
        k = world.concepts.index(name)
        for value in values[name]:
            if model is None:
                truth, truth_labels, possible = world.counterfactual(data, rows, name, value)
                counterfactual = images
            else:
                handle = next(h for h in handles if h.name == name)
                counterfactual, truth, truth_labels, possible = true_counterfactual(model, codes, world, data, rows, handle, value)
            pixel.append(mean_squared_error(counterfactual, truth))
            simulable.append(possible)
            if regressor is not None:
                error = np.abs(regressor.predict(counterfactual).numpy() - truth_labels).mean(0)
                own.append(float(error[k]))
                others.append(float(np.delete(error, k).mean()))
        out[name] = {"pixel_mse": float(np.mean(pixel)), "simulable": bool(all(simulable))}
        if regressor is not None:
            out[name].update(concept_error=float(np.mean(own)), other_concepts_error=float(np.mean(others)))
    return out
