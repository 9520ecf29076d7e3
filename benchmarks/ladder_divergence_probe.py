"""Why the plain 5-layer VAE of the Ladder VAE table blows up, step by step (docs/results.md).

Trains the `VAE` column of `cfae reproduce ladder-vae --preset cpu` (5 layers, no batch norm, no
warm-up) for one seed up to the epoch before the blow-up (resumable, in OUT/base), then runs the
next epoch from a copy of that checkpoint, recording for every step: the L2 norm of the gradient
before any clipping, the one-sample KL, and the smallest variance that each Gaussian head gave
(priors p(z_i | z_i+1): down_heads.i; posteriors q: up_heads.i). The same epoch runs once more for
each --grad-clip-norm value. Prints where the KL first jumps and the epoch's losses per setting,
and draws the traces (OUT/steps.png).

    python benchmarks/ladder_divergence_probe.py --out reports/vae5-probe --epoch 12 --clips 100
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from cfae import jsonio
from cfae.experiments.ladder_vae import PRESETS, run_config
from cfae.nn.ladder import GaussianHead
from cfae.train.run import train_run
from cfae.train.trainer import Trainer
from cfae.viz.ladder import step_traces


def probe_epoch(folder: Path, config, clip: float | None) -> tuple[list[dict], dict]:
    """Run config.train.epochs' last epoch from folder's checkpoint with hooks; (per-step rows, epoch record)."""
    config.train.grad_clip_norm = clip
    jsonio.write_json(folder / "run.json", config.model_dump(mode="json"))  # the folder records what ran
    train, test = config.load_split("train"), config.load_split("test")
    trainer = Trainer(config.build_model(train.image_shape), config.train, train, test, out_dir=folder)
    trainer.resume()
    model, rows, current = trainer.model, [], {}
    for name, module in model.named_modules():
        if isinstance(module, GaussianHead):
            module.register_forward_hook(lambda m, args, out, name=name: current.__setitem__(name, out[1].min().item())
                                         if m.training else None)
    sync = model.before_step

    def before_step(optimizer):
        grads = [p.grad.norm() for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        current["grad_norm"] = torch.linalg.vector_norm(torch.stack(grads)).item()
        sync(optimizer)

    step = model.training_step

    def training_step(batch, optimizers):
        terms = step(batch, optimizers)
        rows.append({"step": len(rows), "kl": terms["kl"].item(), "loss": terms["loss"].item(), **current})
        current.clear()
        return terms

    model.before_step, model.training_step = before_step, training_step
    return rows, trainer.fit()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--epoch", type=int, default=12, help="the epoch to record (1-based)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", default="100", help="comma-separated gradient-norm bounds to try on the same epoch")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    out = Path(args.out)
    base = out / "base"
    train_run(run_config("VAE", 5, args.seed, PRESETS["cpu"], args.data_root, False, args.epoch - 1), base,
              resume=(base / "checkpoints").exists())
    traces = {}
    for clip in [None, *(float(c) for c in args.clips.split(",") if c)]:
        tag = "no-clip" if clip is None else f"clip-{clip:g}"
        folder = out / f"epoch-{args.epoch}-{tag}"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(base, folder)
        config = run_config("VAE", 5, args.seed, PRESETS["cpu"], args.data_root, False, args.epoch)
        rows, record = probe_epoch(folder, config, clip)
        (out / f"steps-{tag}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        traces["no clipping" if clip is None else f"gradient norm clipped at {clip:g}"] = rows
        kl = np.array([r["kl"] for r in rows])
        jumps = np.flatnonzero(kl > 10 * np.median(kl))
        norms = np.array([r["grad_norm"] for r in rows])
        print(f"{tag}: epoch {args.epoch} train loss {record['train/loss']:.6g}, test -ELBO {record['eval/neg_elbo']:.6g}, "
              f"steps clipped {record.get('train/grad_clipped', 0):.4f}; gradient norm median {np.median(norms):.3g}, "
              f"max {norms.max():.3g}")
        if len(jumps):
            row = rows[jumps[0]]
            heads = ", ".join(f"{k} {v:.2e}" for k, v in sorted(row.items()) if k.endswith(tuple("0123456789")))
            print(f"  first KL jump at step {row['step']}: KL {row['kl']:.4g} (median {np.median(kl):.3g}), "
                  f"gradient norm {row['grad_norm']:.3g}; smallest variances: {heads}")
        else:
            print(f"  no KL jump (largest KL {kl.max():.4g}, median {np.median(kl):.3g})")
    figure = step_traces(traces, {"kl": "KL (nats, batch mean)", "grad_norm": "gradient norm, unclipped",
                                  "down_heads.0": "smallest var of p(z1 | z2)"}, out / "steps.png")
    print(f"figure: {figure}")


if __name__ == "__main__":
    main()
