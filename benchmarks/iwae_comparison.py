"""VAE against IWAE (Burda et al. 2016, Table 1's one-stochastic-layer MNIST rows) and IWAE with the
doubly reparameterised encoder gradient (Tucker et al. 2019), on dynamically binarised MNIST, seeds
sharded over processes (one thread each). Each model is a benchmarks/binarized_mnist_likelihood.py
run (resumable), so the grid resumes and grows: more seeds, or later --stages, continue the same folders.

    python benchmarks/iwae_comparison.py --out runs/iwae --seeds 0,1,2 --stages 10,50 --final-k 500 --jobs 2
    python benchmarks/iwae_comparison.py --out runs/iwae --summary-only     # table.md, summary.json, curves.png

Variants: vae (the ELBO), iwae5 (the 5-sample bound, reparameterised gradient), dreg5 (the same bound,
doubly reparameterised encoder gradient). The table: the test bound with final-k samples, with K = 100
and K = 1 (the ELBO) after the last stage, and the active units, mean +- sd over the seeds that finished.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = {"vae": ["--importance-samples", "1"], "iwae5": ["--importance-samples", "5", "--iw-gradient", "iwae"],
            "dreg5": ["--importance-samples", "5", "--iw-gradient", "dreg"]}
LABELS = {"vae": "VAE (ELBO)", "iwae5": "IWAE, K = 5", "dreg5": "IWAE, K = 5, DReG encoder gradient"}
# Burda et al. (2016), Table 1, MNIST, one stochastic layer, after 3,280 epochs: test NLL with K = 5000, active units
BURDA = {"vae": (86.76, 19), "iwae5": (85.54, 22)}


def train_one(out: Path, variant: str, seed: int, args) -> int:
    command = [sys.executable, "-u", str(HERE / "binarized_mnist_likelihood.py"), "--out", str(out / f"{variant}-s{seed}"),
               "--seed", str(seed), "--stages", args.stages, "--curve-k", "1,100", "--final-k", str(args.final_k),
               *VARIANTS[variant]]
    if args.data_root:
        command += ["--data-root", args.data_root]
    with open(out / f"{variant}-s{seed}.log", "a") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode


def mean_sd(values: list[float], digits: int = 2) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f} (one seed)" if values else "-"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def summarise(out: Path, variants: list[str]) -> dict:
    rows = {variant: [json.loads(p.read_text()) for p in sorted(out.glob(f"{variant}-s*/summary.json"))]
            for variant in variants}
    lines = ["| model | seeds | epochs | log p(x) bound, K = final | K = 100 | K = 1 (ELBO) | K = 100 minus K = 1 | active units / 50 | train s per epoch | Burda et al. (3,280 epochs): -NLL, active units |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for variant, runs in rows.items():
        if not runs:
            continue
        last = [r["curve"][-1] for r in runs]
        epochs = sorted({r["epochs"] for r in runs})
        finals = sorted({r["final"]["importance_samples"] for r in runs})
        per_epoch = [sum(c["train_s"] for c in r["curve"]) / r["epochs"] for r in runs]
        burda = BURDA.get(variant)
        lines.append(" | ".join([
            f"| {LABELS[variant]}", ", ".join(str(r["seed"]) for r in runs), "/".join(map(str, epochs)),
            f"{mean_sd([r['final']['log_likelihood_bound'] for r in runs])} (K = {'/'.join(map(str, finals))})",
            mean_sd([c["log_likelihood_k100"] for c in last]), mean_sd([c["log_likelihood_k1"] for c in last]),
            mean_sd([c["log_likelihood_k100"] - c["log_likelihood_k1"] for c in last]),
            mean_sd([c["active_units"] for c in last], 1), f"{statistics.mean(per_epoch):.1f}",
            f"-{burda[0]:.2f}, {burda[1]}" if burda else "-"]) + " |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    plot(rows, out / "curves.png")
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))
    return rows


def plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for colour, (variant, runs) in zip(("C0", "C1", "C2"), rows.items()):
        for i, run in enumerate(runs):
            epochs = [c["epoch"] for c in run["curve"]]
            axes[0].plot(epochs, [c["log_likelihood_k100"] for c in run["curve"]], "o-", color=colour,
                         label=LABELS[variant] if i == 0 else None, alpha=0.7)
            axes[1].plot(epochs, [c["active_units"] for c in run["curve"]], "o-", color=colour, alpha=0.7)
    axes[0].set_ylabel("test log p(x) bound, K = 100 (nats)")
    axes[1].set_ylabel("active units (Cov_x E_q[z_d] > 0.01), of 50")
    for ax in axes:
        ax.set_xlabel("epochs")
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("784-200-200-50 VAE on dynamically binarised MNIST: ELBO vs IWAE training (one line per seed)")
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/iwae"))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--stages", default="10,50")
    parser.add_argument("--final-k", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; valid choices: {', '.join(VARIANTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        jobs = [(v, int(s)) for s in args.seeds.split(",") for v in variants]
        with ThreadPoolExecutor(args.jobs) as pool:
            codes = list(pool.map(lambda job: train_one(args.out, *job, args), jobs))
        for (variant, seed), code in zip(jobs, codes):
            if code != 0:
                print(f"{variant} seed {seed} failed (exit {code}): see {args.out / f'{variant}-s{seed}.log'}")
    summarise(args.out, variants)


if __name__ == "__main__":
    main()
