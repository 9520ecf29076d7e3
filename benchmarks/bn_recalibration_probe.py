"""Test bounds of a trained run with batch norm under two sets of running statistics: the ones training
left (an exponential moving average, momentum 0.1, of the last steps' batches) and ones recomputed as
a plain average over training batches with the weights fixed ("precise BN", Wu & Johnson 2021).

    CFAE_DATA=../shared/data python benchmarks/bn_recalibration_probe.py RUN --test 2000 --k 1,100

A bound that moves between the two measures the running statistics, not the model.
"""

from __future__ import annotations

import argparse
import copy

import torch

import cfae
from cfae.metrics.likelihood import importance_weighted_bound
from cfae.models.importance import tracked_batch_norms
from cfae.train.run import read_run_config


def recomputed_statistics(model: torch.nn.Module, data, images: int, batch_size: int = 500) -> torch.nn.Module:
    """A copy of model whose batch-norm running statistics are the average over the first `images`
    training images in batches of batch_size (momentum None: a cumulative average), weights untouched."""
    copied = copy.deepcopy(model)
    norms = tracked_batch_norms(copied)
    if not norms:
        raise SystemExit("this model has no batch norm: nothing to recompute")
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    copied.train()
    with torch.no_grad():
        for start in range(0, images, batch_size):
            copied(data.batch(torch.arange(start, min(start + batch_size, images))))
    return copied.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--test", type=int, default=2000, help="first N test images scored")
    parser.add_argument("--train", type=int, default=20000, help="training images averaged over")
    parser.add_argument("--k", default="1,100", help="importance samples of each bound (1: the ELBO)")
    args = parser.parse_args()
    config = read_run_config(args.run)
    model = cfae.load(args.run).eval()
    test = config.load_split("test").head(args.test)
    models = {"running statistics training left": model,
              f"recomputed over {args.train} training images": recomputed_statistics(model, config.load_split("train"), args.train)}
    for k in (int(v) for v in args.k.split(",")):
        for name, m in models.items():
            bound = importance_weighted_bound(m, test, k, seed=0)["log_likelihood_bound"]
            print(f"K = {k:4d}, {name}: {bound:.3f} nats ({args.test} test images)", flush=True)


if __name__ == "__main__":
    main()
