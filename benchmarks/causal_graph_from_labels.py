"""How much of the Pendulum graph CausalVAE's label term can learn, without images.

Trains only the parts of a CausalVAE that l_u and the acyclicity penalty touch (the edge weights A
and the label MLPs g_u) on the standardised concept labels of the Pendulum training split, with
the reproduction's optimiser (Adam, lr 1e-3, batch 64), and prints the learned A, its edges
(|A| > the reproduction's threshold) and the SHD to the true graph at the given step counts.
514 steps are the `cpu` preset's 6 epochs, 8,600 the `paper` preset's 100.

    python benchmarks/causal_graph_from_labels.py [--steps 514,8600] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json

import torch

from cfae.data import get_dataset
from cfae.data.base import Batch
from cfae.experiments.causalvae import learned_graph
from cfae.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="514,8600", help="comma-separated step counts to report at")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    checkpoints = sorted(int(s) for s in args.steps.split(","))
    train = get_dataset("pendulum", "train", args.data_root)
    for seed in (int(s) for s in args.seeds.split(",")):
        torch.manual_seed(seed)
        model = build_model("causalvae", input_shape=(3, 8, 8), network="mlp", hidden=(8,))
        u = model.standardised_labels(Batch(torch.empty(len(train), 0), train.labels))  # (N, 4), as the loss sees them
        optimiser = torch.optim.Adam([model.edge_weights, *model.label_mask.parameters()], lr=1e-3)
        generator = torch.Generator().manual_seed(seed)
        for step in range(1, checkpoints[-1] + 1):
            rows = torch.randint(len(u), (64,), generator=generator)
            loss = model.label_loss(u[rows]) + model.acyclicity_penalty()[1]
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if step in checkpoints:
                graph = learned_graph(model)
                print(json.dumps({"seed": seed, "steps": step, "label_loss": round(loss.item(), 4), "shd": graph["shd"],
                                  "edges": graph["edges"],
                                  "weights": [[round(w, 2) for w in row] for row in graph["weights"]]}))


if __name__ == "__main__":
    main()
