"""How much an XBlock shrinks the codes it passes on: sd(Z_i) / sd(N_i) per unit.

At initialisation (standard normal noise, evaluation gates, `--blocks` freshly built 6-unit blocks):
the seed's form Z_i = f_i(.) with torch's default init and with Glorot's, and the residual form
Z_i = N_i + f_i(.). For trained runs given as arguments: the median gain at the run's own codes of
`--images` MNIST test images, and the mean sd of those codes. Prints one JSON line per case.

    python benchmarks/xblock_gain.py [RUN ...]
    python benchmarks/xblock_gain.py reports/consistency/mnist/runs/latent-32-ae-X-seed-0
"""

from __future__ import annotations

import argparse
import json

import torch

import cfae
from cfae.data import get_dataset
from cfae.nn.pooled import glorot_
from cfae.nn.xblock import XBlock


@torch.no_grad()
def gains(block: XBlock, noise: torch.Tensor) -> torch.Tensor:
    causes = block.eval()(noise).view(len(noise), block.units, block.unit_dim)[:, :, 0]
    return causes.std(0) / noise.std(0).clamp_min(1e-12)


def at_initialisation(blocks: int) -> None:
    noise = torch.randn(4000, 6, generator=torch.Generator().manual_seed(1))
    for name, residual, glorot in (("seed form, torch init", False, False), ("seed form, Glorot init", False, True),
                                   ("residual form, torch init", True, False)):
        found = []
        for seed in range(blocks):
            torch.manual_seed(seed)
            block = XBlock(6, residual=residual)
            found.append(gains(glorot_(block) if glorot else block, noise))
        every = torch.cat(found)
        q10, q50, q90 = every.quantile(torch.tensor([0.1, 0.5, 0.9])).tolist()
        print(json.dumps({"case": f"initialisation, {name}", "blocks": blocks, "median_gain": q50, "q10": q10, "q90": q90}))


@torch.no_grad()
def trained(run: str, images: int, data_root: str | None) -> None:
    model = cfae.load(run).eval()
    x = get_dataset("mnist", "test", data_root).batch(slice(0, images)).x
    codes = model.encode(x).mean
    row = {"case": run, "code_sd": float(codes.std(0).mean())}
    if getattr(model, "xblock", None) is not None:
        row["median_gain"] = float(gains(model.xblock, codes).median())
    print(json.dumps(row))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="*")
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    at_initialisation(args.blocks)
    for run in args.runs:
        trained(run, args.images, args.data_root)


if __name__ == "__main__":
    main()
