"""A few hundred steps of the 5-layer Ladder VAE on the 10-sample bound under each encoder gradient.

    CFAE_DATA=../shared/data python benchmarks/ladder_dreg_probe.py --gradient dreg --batch-norm --steps 500

The cpu preset's network and settings (64-32-16-8-4 latents, Adam 2e-3, batch 256, K = 10, KL warm-up
over 470 steps = 2 epochs), drawn batches instead of epochs, one thread. Every 25 steps it prints: step,
the training loss (-L_K of the tempered weights), the untempered -L_10, the one-sample -ELBO, the
gradient's global norm before the step, and seconds since the start. It shows whether a gradient keeps
training stable (the Ladder VAE under dreg with batch norm does not; docs/results.md).
"""

import argparse
import math
import os
import time

import torch

from cfae.data import get_dataset
from cfae.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gradient", choices=("iwae", "dreg"), required=True)
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = get_dataset("mnist-binary", "train", os.environ.get("CFAE_DATA"), None)
    torch.manual_seed(0)
    options = dict(input_shape=(1, 28, 28), layer_sizes=(64, 32, 16, 8, 4), layer_hidden=(512, 256, 128, 64, 32),
                   batch_norm=args.batch_norm, importance_samples=10, iw_gradient=args.gradient)
    if args.gradient == "dreg" and args.batch_norm:  # cfae refuses this pairing; the probe shows why
        model = build_model("lvae", **{**options, "iw_gradient": "iwae"})
        model.config = model.config.model_copy(update={"iw_gradient": "dreg"})  # not validated: the refusal is skipped
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
