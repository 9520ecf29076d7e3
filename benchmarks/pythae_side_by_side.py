"""cfae against pythae on the same networks, data, initial weights and settings: VAE and IWAE on binarised MNIST.

For each seed and objective (the ELBO; the K-sample IW bound), one job trains the same pair of networks
twice from the same initial weights, through pythae 0.1.2's TrainingPipeline and through cfae's Trainer,
and records both libraries' training images/s (their ratio is measured in the same job) and the test
log-likelihood bound each training reached. cfae alone also trains the IW bound with the DReG encoder
gradient, which pythae does not have.
- Networks: Burda et al.'s 784-200-200-50 (cfae's `vae -o hidden=[200,200]`), Bernoulli decoder;
  pythae gets deep copies wrapped as its BaseEncoder / BaseDecoder (sigmoid on the logits).
- Data: one fixed binarisation of MNIST's training set (seeded Bernoulli draw of the grey levels), the
  same tensor for both libraries (pythae's pipeline takes no dynamic binarisation); the test set is
  cfae's fixed-binarised mnist-binary test split.
- Adam 1e-3, batch 100, no evaluation during training; the same thread count for both.
- Scoring: cfae's importance_weighted_bound with K = --final-k on the whole test set for every
  trained pair, and, as a cross-check of the two scorers, pythae's own get_nll beside cfae's bound on
  the first --check-n test images. pythae's get_nll draws in batches of 100: asked for K <= 100 it
  takes 100 draws, else 100 * (K // 100); so --final-k must be a multiple of 100 for the two to
  use the same K.
The objective elbo-pythae-bce trains cfae alone on the ELBO with pythae's Bernoulli term (a binary
cross-entropy of the probabilities, each log clamped at -100) instead of cfae's from the logits: the
ELBO runs of pythae and cfae differ in that term and in their shuffling orders, and this tells which.
Each finished job is one line of OUT/results.jsonl; a rerun skips the jobs already there (resumable,
shardable with --seeds). --summary-only writes OUT/table.md and OUT/summary.json from those lines.

    PYTHONPATH=/tmp/pysite CFAE_DATA=../shared/data python benchmarks/pythae_side_by_side.py --out runs/pythae --seeds 0,1,2 --epochs 10
/tmp/pysite holds pythae (../shared/wheels) and imageio, tqdm, cloudpickle (`pip install --target`).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cfae.data import ImageDataset, get_dataset
from cfae.data.base import bernoulli_draw
from cfae.metrics.likelihood import importance_weighted_bound
from cfae.models import build_model
from cfae.train import TrainConfig, Trainer
from cfae.train.provenance import processor

TRAIN_BINARISATION_SEED = 1  # the one fixed draw of the training set both libraries see
OBJECTIVES = {"elbo": (1, "iwae"), "iwae": (None, "iwae"), "iwae-dreg": (None, "dreg"),  # (K or None = --k, gradient)
              "elbo-pythae-bce": (1, "iwae")}
# cfae trained on pythae's Bernoulli term: F.binary_cross_entropy on sigmoid(logits), each log clamped at
# -100 by torch, instead of cfae's from the logits (a diagnostic of the ELBO gap; scored as usual)
PYTHAE_BCE = {"elbo-pythae-bce"}


def pythae_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per example as pythae's VAE computes it: from the probabilities, not the logits."""
    return F.binary_cross_entropy(torch.sigmoid(logits.float()), x, reduction="none").flatten(1).sum(1)


def cfae_model(seed: int, k: int, gradient: str):
    torch.manual_seed(seed)
    return build_model("vae", input_shape=(1, 28, 28), latent_dim=50, hidden=[200, 200], likelihood="bernoulli",
                       importance_samples=k, iw_gradient=gradient)


def pythae_model(cfae, k: int):
    """pythae's VAE (k = 1) or IWAE on deep copies of cfae's initial networks."""
    from pythae.models import IWAE, VAE, IWAEConfig, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            mean, log_var = self.inner(x).chunk(2, dim=1)
            return ModelOutput(embedding=mean, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.inner(z)))

    common = {"input_dim": (1, 28, 28), "latent_dim": 50, "reconstruction_loss": "bce"}
    config = VAEConfig(**common) if k == 1 else IWAEConfig(**common, number_samples=k)
    kind = VAE if k == 1 else IWAE
    return kind(config, encoder=Encoder(copy.deepcopy(cfae.encoder)), decoder=Decoder(copy.deepcopy(cfae.decoder)))


def train_pythae(model, x: torch.Tensor, epochs: int, seed: int) -> float:
    """Seconds of pythae's TrainingPipeline (Adam 1e-3, batch 100, no evaluation data)."""
    from pythae.pipelines.training import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    with tempfile.TemporaryDirectory() as folder:
        config = BaseTrainerConfig(output_dir=folder, learning_rate=1e-3, per_device_train_batch_size=100,
                                   per_device_eval_batch_size=100, num_epochs=epochs, seed=seed, no_cuda=True)
        start = time.perf_counter()
        TrainingPipeline(training_config=config, model=model)(train_data=x.numpy(), eval_data=None)
        return time.perf_counter() - start


def train_cfae(model, data: ImageDataset, epochs: int, seed: int) -> float:
    """Seconds of cfae's Trainer on the same settings."""
    config = TrainConfig(epochs=epochs, batch_size=100, lr=1e-3, seed=seed, device="cpu", progress=False)
    start = time.perf_counter()
    Trainer(model, config, data, None).fit()
    return time.perf_counter() - start


def scored(model, test: ImageDataset, final_k: int, check_n: int, seed: int, pythae=None) -> dict:
    """cfae's IW bound on the whole test set, and on the first check_n images beside pythae's get_nll."""
    model.eval()
    head = ImageDataset(test.name, test.images[:check_n])
    record = {"log_p_bound": importance_weighted_bound(model, test, final_k, seed=seed)["log_likelihood_bound"],
              "check_cfae": importance_weighted_bound(model, head, final_k, seed=seed)["log_likelihood_bound"]}
    if pythae is not None:
        torch.manual_seed(seed)
        with torch.no_grad():
            record["check_pythae_get_nll"] = float(pythae.eval().get_nll(head.pixels(slice(None)), n_samples=final_k))
    return record


def job(objective: str, seed: int, args, train: ImageDataset, test: ImageDataset) -> dict:
    k, gradient = OBJECTIVES[objective]
    k = k or args.k
    record = {"objective": objective, "k": k, "gradient": gradient, "seed": seed, "epochs": args.epochs,
              "images": len(train), "threads": torch.get_num_threads(), "machine": processor()}
    model = cfae_model(seed, k, gradient)
    if gradient == "iwae" and objective not in PYTHAE_BCE:  # pythae's IWAE gradient is the plain reparameterised one
        rival = pythae_model(model, k)
        seconds = train_pythae(rival, train.pixels(slice(None)), args.epochs, seed)
        record["pythae"] = {"train_s": round(seconds, 2), "images_per_s": round(len(train) * args.epochs / seconds, 1)}
        model_of_rival = cfae_model(seed, k, gradient)
        model_of_rival.encoder.load_state_dict(rival.encoder.inner.state_dict())
        model_of_rival.decoder.load_state_dict(rival.decoder.inner.state_dict())
        record["pythae"].update(scored(model_of_rival, test, args.final_k, args.check_n, seed, pythae=rival))
    if objective in PYTHAE_BCE:
        model.reconstruction_nll = pythae_bce  # for training only: scored below with cfae's own
    seconds = train_cfae(model, train, args.epochs, seed)
    model.__dict__.pop("reconstruction_nll", None)
    record["cfae"] = {"train_s": round(seconds, 2), "images_per_s": round(len(train) * args.epochs / seconds, 1)}
    if "pythae" in record:
        record["speed_ratio_cfae_over_pythae"] = round(record["cfae"]["images_per_s"] / record["pythae"]["images_per_s"], 3)
    record["cfae"].update(scored(model, test, args.final_k, args.check_n, seed))
    return record


def one_step_agreement(seed: int, x: torch.Tensor) -> dict:
    """The ELBO loss and its gradients in pythae's VAE and in cfae's, from the same initial weights on
    the same batch with the same draw of epsilon (the global generator seeded alike before each
    forward pass): the largest absolute differences, and the largest gradient for scale."""
    from cfae.data.base import Batch

    model = cfae_model(seed, 1, "iwae").train()
    rival = pythae_model(model, 1).train()
    torch.manual_seed(seed)
    theirs = rival({"data": x}).loss
    theirs.backward()
    torch.manual_seed(seed)
    ours = model(Batch(x)).loss
    ours.backward()
    pairs = [(a.grad, b.grad) for net, inner in ((model.encoder, rival.encoder.inner), (model.decoder, rival.decoder.inner))
             for a, b in zip(net.parameters(), inner.parameters())]
    return {"seed": seed, "batch": len(x), "threads": torch.get_num_threads(), "machine": processor(),
            "loss_cfae": ours.item(), "loss_pythae": theirs.item(),
            "loss_abs_diff": abs(ours.item() - theirs.item()),
            "grad_max_abs_diff": max((a - b).abs().max().item() for a, b in pairs),
            "grad_max_abs": max(a.abs().max().item() for a, _ in pairs)}


def summarise(out: Path, records: list[dict]) -> None:
    """table.md and summary.json: mean +- sd over seeds per objective and library."""
    def stat(values):
        values = [v for v in values if v is not None]
        if not values:
            return "-"
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.2f} +- {sd:.2f}"

    rows, summary = [], {}
    for objective in OBJECTIVES:
        mine = [r for r in records if r["objective"] == objective]
        for library in ("pythae", "cfae"):
            runs = [r[library] for r in mine if library in r]
            if not runs:
                continue
            entry = {"seeds": [r["seed"] for r in mine if library in r], "epochs": sorted({r["epochs"] for r in mine}),
                     "k": mine[0]["k"], **{key: [run.get(key) for run in runs] for key in
                                          ("images_per_s", "log_p_bound", "check_cfae", "check_pythae_get_nll")}}
            if library == "cfae":
                entry["speed_ratio_cfae_over_pythae"] = [r.get("speed_ratio_cfae_over_pythae") for r in mine]
            summary[f"{objective}/{library}"] = entry
            ratio = stat(entry.get("speed_ratio_cfae_over_pythae", [])) if library == "cfae" else "-"
            rows.append(f"| {objective} (K = {entry['k']}) | {library} | {len(runs)} | {', '.join(map(str, entry['epochs']))} "
                        f"| {stat(entry['images_per_s'])} | {ratio} | {stat(entry['log_p_bound'])} "
                        f"| {stat(entry['check_cfae'])} | {stat(entry['check_pythae_get_nll'])} |")
    header = ("| objective | trained by | seeds | epochs | train images/s | cfae / pythae speed (same job) "
              "| test log p(x) bound, K = final | first check-n images: cfae's bound | same images: pythae's get_nll |\n"
              "|---|---|---|---|---|---|---|---|---|")
    machines = sorted({str(r.get("machine")) for r in records})
    note = (f"\nTrain images/s pools {len(records)} jobs (machine labels recorded: {', '.join(machines)}), each run at "
            "whatever load it met, some on other days and boxes at other speeds. Only the cfae / pythae ratio, "
            "measured within each job, compares across jobs.\n")
    (out / "table.md").write_text(header + "\n" + "\n".join(rows) + "\n" + note)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(header + "\n" + "\n".join(rows) + "\n" + note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/pythae-side-by-side"))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=5, help="K of the IW objectives")
    parser.add_argument("--objectives", default=",".join(OBJECTIVES), help=f"any of {', '.join(OBJECTIVES)}")
    parser.add_argument("--final-k", type=int, default=500, help="K of the test-set scoring")
    parser.add_argument("--check-n", type=int, default=500, help="test images scored by both libraries' scorers")
    parser.add_argument("--limit", type=int, default=None, help="first N training images (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--check-step", action="store_true", help="only compare one ELBO step's loss and gradients "
                        "(same weights, batch and epsilon) per seed, into OUT/step_check.jsonl")
    args = parser.parse_args()
    objectives = [o for o in args.objectives.split(",") if o]
    unknown = sorted(set(objectives) - set(OBJECTIVES))
    if unknown:
        parser.error(f"--objectives: unknown {', '.join(unknown)}; valid choices: {', '.join(OBJECTIVES)}")
    if args.final_k % 100:
        parser.error(f"--final-k {args.final_k}: pythae's get_nll takes its draws 100 at a time, so give a multiple of 100")
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    records = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
    if not args.summary_only:
        torch.set_num_threads(args.threads)
        logging.getLogger("pythae").setLevel(logging.WARNING)
        grey = get_dataset("mnist", "train", limit=args.limit)
        train = ImageDataset("mnist-binary-fixed", bernoulli_draw(grey.images, TRAIN_BINARISATION_SEED))
        test = get_dataset("mnist-binary", "test")
        if args.check_step:
            with (args.out / "step_check.jsonl").open("a") as handle:
                for seed in (int(s) for s in args.seeds.split(",")):
                    check = one_step_agreement(seed, train.pixels(slice(seed * 100, seed * 100 + 100)))
                    print(json.dumps(check), flush=True)
                    handle.write(json.dumps(check) + "\n")
            return
        done = {(r["objective"], r["seed"], r["epochs"], r["images"]) for r in records}
        for seed in (int(s) for s in args.seeds.split(",")):
            for objective in objectives:
                if (objective, seed, args.epochs, len(train)) in done:
                    continue
                record = job(objective, seed, args, train, test)
                print(json.dumps(record), flush=True)
                with results.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                records.append(record)
    summarise(args.out, records)


if __name__ == "__main__":
    main()
