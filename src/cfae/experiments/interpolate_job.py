"""`cfae counterfactual interpolate`: latent paths between pairs of test images of a run's dataset,
as a PNG grid (a row a pair: start input, the decoded path, end input) and its JSON record with the
paths' scores (cfae.metrics.interpolation), scored by a classifier when one is given."""

from __future__ import annotations

from pathlib import Path

import torch

import cfae
from cfae.counterfactual.interpolate import interpolate
from cfae.counterfactual.streams import predictor_kind
from cfae.experiments.losocs import class_indices
from cfae.experiments.report import save_scores
from cfae.metrics import interpolation as im
from cfae.metrics.streams import coefficient_of_variation, frame_differences, summary
from cfae.train.classifier import load_predictor
from cfae.train.run import read_run_config
from cfae.viz.grid import save_image_grid


def _class_scores(classifier, result, start_x: torch.Tensor, end_x: torch.Tensor, t: torch.Tensor) -> dict:
    """The classifier's view of each path: neither share, switch point, and the mean probability of the
    start input's class and of the end input's class at each t (classes: the classifier's labels of the inputs)."""
    with torch.no_grad():
        start_class, end_class = classifier.logits(start_x).argmax(1), classifier.logits(end_x).argmax(1)
        probabilities = classifier.logits(result.counterfactuals.flatten(0, 1)).softmax(1).unflatten(0, result.codes_after.shape[:2])
    rows = torch.arange(len(result))
    p_start, p_end = probabilities[rows, :, start_class], probabilities[rows, :, end_class]
    differ = start_class != end_class  # a pair the classifier puts in one class has no switch to find
    return {"neither_share": summary(im.neither_share(probabilities.argmax(2), start_class, end_class)),
            "switch_point": summary(im.switch_point(p_start[differ], p_end[differ], t)),
            "pairs_in_two_classes": int(differ.sum()),
            "mean_p_start_class": p_start.mean(0).tolist(), "mean_p_end_class": p_end.mean(0).tolist()}


def write_interpolations(run: Path, n: int, steps: int, path: str, from_class: int | None, to_class: int | None,
                         classifier_dir: Path | None, out: Path, seed: int = 0, say=print) -> Path:
    """n pairs of test images (start of class from_class, end of class to_class, or any), each joined by
    a path of `steps` decoded codes; writes out (PNG) and out with .json."""
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose another --out")
    classifier = None
    if classifier_dir is not None:
        classifier, _ = load_predictor(classifier_dir)
        if predictor_kind(classifier) != "classifier":
            raise ValueError(f"--classifier {classifier_dir}: a regressor; the paths are scored by a classifier's classes")
    model = cfae.load(run).eval()
    data = read_run_config(run).load_split("test")
    for option, value in (("--from-class", from_class), ("--to-class", to_class)):
        if value is not None and "label" not in data.labels:
            raise ValueError(f"{option} {value}: {data.name} has no class labels; leave it out to pair any images")
        if value is not None and not (data.labels["label"] == value).any():
            raise ValueError(f"{option} {value}: no test image of that class in {data.name}")
    starts, ends = (class_indices(data, n, label, torch.Generator().manual_seed(s))
                    for label, s in ((from_class, seed), (to_class, seed + 1)))
    pairs = min(len(starts), len(ends))
    start, end = data.batch(starts[:pairs]), data.batch(ends[:pairs])
    result = interpolate(model, start, end, steps, path)
    t = torch.tensor(result.settings["t"])
    grid = torch.cat([start.x.unsqueeze(1), result.counterfactuals, end.x.unsqueeze(1)], 1)
    image = save_image_grid(out, grid.flatten(0, 1), nrow=steps + 2)
    record = {"run": str(run), "method": "interpolate", "path": path, "steps": steps, "t": t.tolist(), "seed": seed,
              "from_class": from_class, "to_class": to_class, "start_indices": starts[:pairs].tolist(),
              "end_indices": ends[:pairs].tolist(),
              "layout": f"{pairs} rows (one a pair) x {steps + 2} columns: start input, {steps} decoded codes, end input",
              "norm_dip": summary(im.norm_dip(result.codes_after)),
              "smoothness_cv": summary(torch.tensor([coefficient_of_variation(frame_differences(f)) for f in result.counterfactuals]))}
    if classifier is not None:
        record["classifier"] = {"folder": str(classifier_dir), **_class_scores(classifier, result, start.x, end.x, t)}
    save_scores(out.with_suffix(".json"), record, model)
    say(f"{pairs} {path} interpolations of {steps} steps written to {image}"
        + (f"; frames in neither end's class: {record['classifier']['neither_share']['mean']:.1%}" if classifier else ""))
    return image
