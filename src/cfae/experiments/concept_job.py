"""`cfae counterfactual intervene`: seed 004's Figure 3 for a run trained on a dataset with a known
mechanism (Pendulum, morpho-scm), next to the true counterfactuals, and one do(concept = value)
scored against the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import cfae
from cfae.data.base import ImageDataset
from cfae.data.worlds import CausalWorld, causal_world
from cfae.experiments.report import save_scores
from cfae.metrics.causal import ConceptHandle, concept_handles, true_counterfactual
from cfae.metrics.pixels import mean_squared_error
from cfae.registry import check_choices
from cfae.train.run import read_run_config
from cfae.viz.grid import save_image_grid

STEPS = 7


def concept_values(train: ImageDataset, world: CausalWorld, steps: int = STEPS) -> dict[str, list[float]]:
    """Evenly spaced values between the 5% and 95% quantiles of each concept's training labels."""
    return {c: np.linspace(*np.quantile(train.labels[c].numpy(), [0.05, 0.95]), steps).tolist() for c in world.concepts}


@torch.no_grad()
def figure3(model, handles: list[ConceptHandle], world: CausalWorld, data: ImageDataset, index: int,
            values: dict[str, list[float]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(model grid, true grid) of example `index`: one row per concept set across its values, the
    original scene and the model's reconstruction in the bottom row."""
    rows = torch.tensor([index])
    image = data.pixels(rows)
    codes = model.encode(image).mean
    model_rows, true_rows = [], []
    for h in handles:
        for value in values[h.name]:
            counterfactual, truth, _, _ = true_counterfactual(model, codes, world, data, rows, h, value)
            model_rows.append(counterfactual)
            true_rows.append(truth)
    blank = torch.ones_like(image)
    bottom = [image, model.decode(codes)] + [blank] * (STEPS - 2)
    return torch.cat(model_rows + bottom), torch.cat(true_rows + [image] + [blank] * (STEPS - 1))


def write_figure3(model, handles, world: CausalWorld, test: ImageDataset, values, folder: Path, index: int) -> list[Path]:
    grid, truth = figure3(model, handles, world, test, index, values)
    return [save_image_grid(folder / "figure3.png", grid, STEPS, scale=1),
            save_image_grid(folder / "figure3_truth.png", truth, STEPS, scale=1)]


@torch.no_grad()
def write_intervention(run: Path, concept: str | None, value: float | None, n: int, out: Path,
                       regressor: Path | None = None, seed: int = 0, say=print) -> Path:
    """Figure 3 (model and truth) for one test scene; with concept and value, also n scenes under
    do(concept = value): inputs, the model's counterfactuals and the true renders, with the pixel
    error and (given a concept regressor) the re-estimated concepts against the true values."""
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another --out")
    if (concept is None) != (value is None):
        raise ValueError("--concept and --value go together")
    config = read_run_config(run)
    try:
        world = causal_world(config.dataset)
    except ValueError as err:
        raise ValueError(f"{run} was trained on {config.dataset!r}: {err}") from None
    if concept is not None:
        check_choices("concept", [concept], world.concepts)
    model = cfae.load(run).eval()
    train, test = config.load_split("train"), config.load_split("test")
    handles = concept_handles(model, train, list(world.concepts))
    rows = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n]
    paths = write_figure3(model, handles, world, test, concept_values(train, world), out, int(rows[0]))
    record = {"run": str(run), "test_indices": rows.tolist(),
              "handles": {h.name: {"key": h.key, "dims": h.dims} for h in handles}}
    if concept is not None:
        h = handles[world.concepts.index(concept)]
        codes = model.encode(test.pixels(rows)).mean
        counterfactual, truth, truth_labels, simulable = true_counterfactual(model, codes, world, test, rows, h, value)
        paths.append(save_image_grid(out / f"do-{concept}={value:g}.png",
                                     torch.cat([test.pixels(rows), counterfactual, truth]), len(rows), scale=1))
        record.update(concept=concept, value=value, simulable=simulable,
                      pixel_mse=mean_squared_error(counterfactual, truth))
        if not simulable:
            say(f"note: the data's mechanism never produces a set {concept}; the truth is drawn with its causes kept")
        if regressor is not None:
            from cfae.train.classifier import load_predictor

            predictor, _ = load_predictor(regressor)
            estimate = predictor.predict(counterfactual).numpy()
            record["estimated_concepts"] = dict(zip(world.concepts, estimate.mean(0).tolist()))
            record["concept_abs_error"] = dict(zip(world.concepts, np.abs(estimate - truth_labels).mean(0).tolist()))
        say(f"do({concept} = {value:g}): pixel MSE to the true render {record['pixel_mse']:.5f}")
    save_scores(out / "intervention.json", record, model)
    for path in paths:
        say(f"written {path}")
    return out
