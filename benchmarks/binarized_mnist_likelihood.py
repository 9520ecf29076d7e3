"""Test log-likelihood of a one-stochastic-layer VAE on dynamically binarised MNIST (Burda et al. 2016's
model size: 784-200-200-50, Bernoulli decoder), with its learning curve. Resumable: each stage
continues the same run folder to more epochs and appends its measurements to curve.jsonl.

    python benchmarks/binarized_mnist_likelihood.py --out runs/binary-vae --stages 1,2,5,10,20,50,100 --final-k 5000
    python benchmarks/binarized_mnist_likelihood.py --out runs/iwae5 --importance-samples 5 --iw-gradient dreg

Per stage: the IW bound with K = 1 and K = 100 on the full fixed-binarised test set (10,000 images)
and the active units (Burda et al.'s Cov_x E_q[z_d | x] > 0.01); after the last stage also K = final-k.
--importance-samples K trains on the K-sample bound (IWAE) instead of the ELBO, with the iwae or
dreg encoder gradient. Writes curve.jsonl, curve.png and summary.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cfae import jsonio
from cfae.train.config import TrainConfig
from cfae.train.run import RunConfig, train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/binary-vae"))
    parser.add_argument("--stages", default="1,2,5,10,20,50,100", help="epoch counts to measure at")
    parser.add_argument("--curve-k", default="1,100")
    parser.add_argument("--final-k", type=int, default=5000)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--importance-samples", type=int, default=1, help="K of the training objective (1: the ELBO)")
    parser.add_argument("--iw-gradient", choices=("iwae", "dreg"), default="iwae")
    args = parser.parse_args()

    from cfae.experiments.report import likelihood_and_save
    from cfae.metrics.encode import encode_dataset
    from cfae.metrics.latent import active_units

    out = args.out
    run_dir, curve_file = out / "run", out / "curve.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    done = {json.loads(line)["epoch"] for line in curve_file.read_text().splitlines()} if curve_file.exists() else set()
    stages = [int(s) for s in args.stages.split(",")]
    for epochs in stages:
        config = RunConfig(model="vae", dataset="mnist-binary", data_root=args.data_root,
                           model_options={"latent_dim": 50, "hidden": [200, 200], "likelihood": "bernoulli",
                                          "importance_samples": args.importance_samples, "iw_gradient": args.iw_gradient},
                           train=TrainConfig(epochs=epochs, batch_size=100, lr=1e-3, seed=args.seed, progress=False))
        start = time.perf_counter()
        model, history = train_run(config, run_dir, resume=(run_dir / "checkpoints").exists())
        train_s = time.perf_counter() - start
        if epochs in done:
            continue
        test = config.load_split("test")
        record = {"epoch": epochs, "train_s": round(train_s, 1),
                  "active_units": active_units(encode_dataset(model.cpu(), test))}
        for k in (int(v) for v in args.curve_k.split(",")):
            result = likelihood_and_save(model.cpu(), test, k, out / f"iw{k}-e{epochs}.json", show=False)
            record[f"log_likelihood_k{k}"] = result["log_likelihood_bound"]
        with open(curve_file, "a") as f:
            f.write(jsonio.dumps(record) + "\n")
        print(jsonio.dumps(record), flush=True)
    final = out / f"iw{args.final_k}-e{stages[-1]}.json"
    if not final.exists():
        start = time.perf_counter()
        likelihood_and_save(model.cpu(), config.load_split("test"), args.final_k, final, show=False)
        print(f"K = {args.final_k}: {time.perf_counter() - start:.0f} s", flush=True)
    curve = [json.loads(line) for line in curve_file.read_text().splitlines()]
    summary = {"epochs": stages[-1], "seed": args.seed, "importance_samples": args.importance_samples,
               "iw_gradient": args.iw_gradient, "final": json.loads(final.read_text()), "curve": curve}
    jsonio.write_json(out / "summary.json", summary)
    plot(curve, out / "curve.png", (stages[-1], summary["final"]))


def plot(curve: list[dict], path: Path, final: tuple[int, dict] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [r["epoch"] for r in curve]
    for key in sorted(k for k in curve[0] if k.startswith("log_likelihood_k")):
        ax.plot(epochs, [r[key] for r in curve], "o-", label=f"IW bound, K = {key.split('_k')[1]}")
    if final is not None:
        epoch, result = final
        ax.plot([epoch], [result["log_likelihood_bound"]], "k*", ms=10,
                label=f"IW bound, K = {result['importance_samples']}")
    ax.axhline(-86.76, color="grey", ls="--", label="Burda et al. 2016, VAE 1 layer, K = 5000")
    ax.set_xscale("log")
    ax.set_xlabel("epochs")
    ax.set_ylabel("test log p(x) bound (nats)")
    ax.set_title("VAE 784-200-200-50, dynamically binarised MNIST")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
