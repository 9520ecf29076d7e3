"""A few hundred steps of the 5-layer Ladder VAE on the 10-sample bound under each encoder gradient.

    CFAE_DATA=../shared/data python benchmarks/ladder_dreg_probe.py --gradient dreg --batch-norm --steps 500
    python benchmarks/ladder_dreg_probe.py --noise
    CFAE_DATA=../shared/data python benchmarks/ladder_dreg_probe.py --noise --run RUN
    CFAE_DATA=../shared/data python benchmarks/ladder_dreg_probe.py --time

By default: the cpu preset's network and settings (64-32-16-8-4 latents, Adam 2e-3, batch 256,
K = 10, KL warm-up over 470 steps = 2 epochs), drawn batches instead of epochs, one thread. Every 25
steps it prints: step, the training loss (-L_K of the tempered weights), the untempered -L_10, the
one-sample -ELBO, the gradient's global norm before the step, and seconds since the start. It shows
whether a gradient keeps training stable (the Ladder VAE under dreg with batch norm does not;
docs/results.md).

--noise: each estimator's spread per parameter group, the median over a group's parameters of
sd(dreg) / sd(iwae) and of sd(dreg-unshared) / sd(iwae), over 20 gradients taken at the same
weights. Without --run: the two-layer ladder of tests/test_importance.py (4 pixels, K = 4; each
gradient the mean over 4000 rows of one image). With --run: that run's latest checkpoint (a Ladder
VAE without batch norm), at its training K, each gradient on the same 100 test images.

--time: seconds per training step (forward and backward, batch 256, K = 10, no batch norm) of each
estimator, the three interleaved round by round on one thread, so that the machine's load falls on
all alike; prints each one's median and its ratio to iwae.
"""

import argparse
import math
import os
import time

import torch

from cfae.data import get_dataset
from cfae.data.base import Batch
from cfae.models import build_model
from cfae.train.checkpoint import load_model, resolve_checkpoint


def noise_by_group(build, batch: Batch, repeats: int = 20) -> None:
    """Median over each group's parameters of sd(dreg) / sd(iwae) and sd(dreg-unshared) / sd(iwae),
    build(gradient) giving the model."""
    spread, groups = {}, []
    for gradient in ("iwae", "dreg", "dreg-unshared"):
        model = build(gradient).train()
        torch.manual_seed(1)
        rows = []
        for _ in range(repeats):
            model.zero_grad()
            model(batch).loss.backward()
            rows.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        spread[gradient] = torch.stack(rows).double().std(0)
        groups = [name.split(".")[0] for name, p in model.named_parameters() for _ in range(p.numel())]
    for group in dict.fromkeys(groups):
        rows = torch.tensor([i for i, g in enumerate(groups) if g == group])
        plain = spread["iwae"][rows]
        ratios = [(spread[name][rows][plain > 0] / plain[plain > 0]).median().item() for name in ("dreg", "dreg-unshared")]
        print(f"{group}: {len(rows)} parameters, median sd / sd(iwae): dreg {ratios[0]:.2f}, dreg-unshared {ratios[1]:.2f}")


def tiny_ladder(gradient: str):
    torch.manual_seed(3)
    return build_model("lvae", input_shape=(1, 1, 4), layer_sizes=(2, 1), layer_hidden=(6, 4),
                       importance_samples=4, iw_gradient=gradient)


def trained(run: str):
    """build(gradient) for noise_by_group: the run's latest checkpoint under either gradient."""
    checkpoint = resolve_checkpoint(run)

    def build(gradient: str):
        model = load_model(checkpoint)
        model.config = model.config.model_copy(update={"iw_gradient": gradient})
        return model

    return build


def step_times(rounds: int = 6, steps: int = 3) -> None:
    """Median seconds per forward-and-backward step of each estimator, interleaved (module docstring)."""
    train = get_dataset("mnist-binary", "train", os.environ.get("CFAE_DATA"), None)
    batch = train.batch(torch.arange(256))
    models = {}
    for gradient in ("iwae", "dreg", "dreg-unshared"):
        torch.manual_seed(0)
        models[gradient] = build_model("lvae", input_shape=(1, 28, 28), layer_sizes=(64, 32, 16, 8, 4),
                                       layer_hidden=(512, 256, 128, 64, 32), importance_samples=10,
                                       iw_gradient=gradient).train()
    seconds = {gradient: [] for gradient in models}
    for _ in range(rounds):
        for gradient, model in models.items():
            for _ in range(steps):
                start = time.perf_counter()
                model.zero_grad()
                model(batch).loss.backward()
                seconds[gradient].append(time.perf_counter() - start)
    median = {gradient: sorted(s)[len(s) // 2] for gradient, s in seconds.items()}
    for gradient, value in median.items():
        print(f"{gradient}: {value * 1000:.0f} ms a step, {value / median['iwae']:.2f} x iwae")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gradient", choices=("iwae", "dreg", "dreg-unshared"))
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--noise", action="store_true", help="the spread per parameter group instead (docstring)")
    parser.add_argument("--time", action="store_true", help="seconds per step of each estimator instead (docstring)")
    parser.add_argument("--run", help="with --noise: a run folder of a Ladder VAE without batch norm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.time:
        return step_times()
    if args.noise and args.run:
        test = get_dataset("mnist-binary", "test", os.environ.get("CFAE_DATA"), None)
        return noise_by_group(trained(args.run), test.batch(torch.arange(100)))
    if args.noise:
        return noise_by_group(tiny_ladder, Batch(torch.tensor([1.0, 0.0, 1.0, 1.0]).view(1, 1, 1, 4).repeat(4000, 1, 1, 1)))
    if args.gradient is None:
        parser.error("--gradient is needed unless --noise")
    train = get_dataset("mnist-binary", "train", os.environ.get("CFAE_DATA"), None)
    torch.manual_seed(0)
    options = dict(input_shape=(1, 28, 28), layer_sizes=(64, 32, 16, 8, 4), layer_hidden=(512, 256, 128, 64, 32),
                   batch_norm=args.batch_norm, importance_samples=10, iw_gradient=args.gradient)
    if args.gradient != "iwae" and args.batch_norm:  # cfae refuses this pairing; the probe shows why
        model = build_model("lvae", **{**options, "iw_gradient": "iwae"})
        model.config = model.config.model_copy(update={"iw_gradient": args.gradient})  # not validated: no refusal
    else:
        model = build_model("lvae", **options)
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    draw, start = torch.Generator().manual_seed(0), time.time()
    for step in range(args.steps):
        model.set_schedule(step, kl_weight=min(1.0, step / 470))
        out = model(train.batch(torch.randint(0, len(train), (256,), generator=draw)))
        optimiser.zero_grad()
        out.loss.backward()
        norm = math.sqrt(sum(p.grad.square().sum().item() for p in model.parameters() if p.grad is not None))
        optimiser.step()
        if step % 25 == 0 or not math.isfinite(out.loss.item()):
            terms = out.terms
            print(step, round(out.loss.item(), 1), round(terms["neg_iw_bound"].item(), 1), round(terms["neg_elbo"].item(), 1),
                  round(norm, 1), round(time.time() - start), flush=True)


if __name__ == "__main__":
    main()
