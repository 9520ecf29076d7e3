"""`cfae counterfactual stream`: streams from test images of a run's dataset, written as PNG strips,
animated GIFs, an overview figure and streams.json."""

from __future__ import annotations

from pathlib import Path

import torch

import cfae
from cfae.counterfactual.prototypes import prototypes_for
from cfae.counterfactual.streams import StreamSettings, predictor_kind, stream
from cfae.experiments.losocs import cohort_inputs
from cfae.experiments.report import save_scores
from cfae.metrics.encode import encode_dataset
from cfae.train.classifier import load_predictor
from cfae.train.run import read_run_config
from cfae.viz.streams import example_streams, stream_gif, stream_strip


def write_streams(run: Path, predictor_dir: Path, out: Path, n: int, from_class: int | None, to: int | None,
                  target: float | None, change: float | None, settings: StreamSettings, seed: int = 0,
                  device: str = "cpu", prototype_k: int = 5, tau_given: bool = False, say=print) -> Path:
    """Streams from n test images (of class from_class, or any) to a class or a regressor value. With
    the "prototype" plausibility term, each stream's prototype is the mean of the prototype_k codes of
    the target class (first 10,000 training images) nearest to its start."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already holds files; choose another --out")
    predictor, record = load_predictor(predictor_dir, device)
    kind = predictor_kind(predictor)
    if kind == "classifier" and to is None:
        raise ValueError(f"{predictor_dir} is a classifier: pass --to CLASS")
    if kind == "classifier" and (target is not None or change is not None):
        raise ValueError(f"{predictor_dir} is a classifier: --target and --change are for a regressor; pass --to CLASS only")
    for option, given in (("--to", to is not None), ("--tau", tau_given)):
        if kind == "regressor" and given:
            raise ValueError(f"{predictor_dir} is a regressor of {record['target']}: {option} is for a classifier")
    if kind == "classifier" and not 0 <= to < record["outputs"]:
        raise ValueError(f"--to {to}: the classifier has classes 0..{record['outputs'] - 1}")
    if kind == "regressor" and (target is None) == (change is None):
        raise ValueError(f"{predictor_dir} is a regressor of {record['target']}: pass exactly one of --target VALUE or --change DELTA")
    if settings.plausibility == "prototype" and kind != "classifier":
        raise ValueError("--plausibility prototype needs class prototypes: pass a classifier as --model and --to CLASS")
    model = cfae.load(run, device=device)
    data = read_run_config(run).load_split("test")
    if from_class is not None and not (data.labels["label"] == from_class).any():
        raise ValueError(f"--from {from_class}: no test image of that class in {data.name}")
    index, _ = cohort_inputs(data, n, from_class, None, seed)
    batch = data.batch(index).to(device)
    goal = to if kind == "classifier" else (change if change is not None else target)
    reference = (encode_dataset(model, read_run_config(run).load_split("train").head(10000))
                 if settings.plausibility == "prototype" else None)
    prototypes = prototypes_for(model, batch, torch.full((len(batch),), goal), settings, reference, prototype_k)
    result = stream(model, predictor, batch, goal, settings, change=change is not None, prototypes=prototypes)
    out.mkdir(parents=True, exist_ok=True)
    frames = result.frames
    for i in range(len(result)):
        clip = frames[i, : int(result.lengths[i])]
        stream_strip(clip, out / f"stream-{i:03d}.png")
        stream_gif(clip, out / f"stream-{i:03d}.gif")
    example_streams(result, out / "streams.png", rows=min(n, 16))
    last = result.lengths - 1
    rows = torch.arange(len(result))
    summary = {
        "run": str(run), "predictor": str(predictor_dir), "predictor_kind": kind, "target_name": record["target"],
        "from": from_class, "to": to, "target": target, "change": change, "seed": seed,
        "test_indices": index.tolist(), "settings": result.settings,
        "prototype_k": prototype_k if settings.plausibility == "prototype" else None, "seconds": result.seconds,
        "success_rate": float(result.success.float().mean()), "steps": result.steps.tolist(),
        "start_score": result.scores[:, 0].tolist(), "end_score": result.scores[rows, last].tolist(),
        "targets": result.targets.tolist(),
    }
    save_scores(out / "streams.json", summary, model)
    say(f"{len(result)} streams, success {summary['success_rate']:.0%}, {result.seconds:.2f} s; written to {out}")
    return out
