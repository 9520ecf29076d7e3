"""Training throughput: pythae's TrainingPipeline, a bare loop and cfae's Trainer on the same networks, same run.

Networks: pythae's MNIST benchmark nets (Encoder_Conv_VAE_MNIST, Decoder_Conv_AE_MNIST; 17.2 M
parameters), latent 16, Adam 1e-3, MSE + KL (cfae: Gaussian likelihood with std 1/sqrt(2), so
-log p(x|z) = sum of squared errors + const). Data: N random 1x28x28 images (throughput does not
depend on pixel values), as in ../shared/reference/anchor_gpu.py. Three sides per batch size:
- pythae's pipeline (its trainer and DataLoader), images/s over all epochs;
- the tight loop: the same nets, data resident on the device, no trainer (the physical reference),
  images/s over the epochs after the first;
- cfae's Trainer in each --modes entry COMPILE:PRECISION (train.compile, bf16), images/s overall
  and after the first epoch (compilation happens in the first), with the ratios to both.
With nvidia-smi on the PATH, each side also reports the GPU's mean utilisation while it ran.
Prints one JSON line per figure.

    python benchmarks/gpu_throughput.py                       # on the GPU machine
    python benchmarks/gpu_throughput.py --device cpu --n 2048 --epochs 2 --batches 512 --modes off:fp32   # smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

import torch
from torch import nn

from cfae.data import ImageDataset
from cfae.models import build_model
from cfae.train import TrainConfig, Trainer


def emit(**fields):
    print(json.dumps(fields), flush=True)


class PythaeEncoder(nn.Module):
    """pythae encoder -> concatenated (mean, log-variance), the layout cfae's encoders produce."""

    def __init__(self, encoder):
        super().__init__()
        self.inner = encoder

    def forward(self, x):
        out = self.inner(x)
        return torch.cat([out.embedding, out.log_covariance], 1)


class PythaeDecoder(nn.Module):
    """pythae decoder (sigmoid output) -> logits, since cfae applies the sigmoid itself."""

    def __init__(self, decoder):
        super().__init__()
        self.inner = decoder

    def forward(self, z):
        return torch.logit(self.inner(z).reconstruction, eps=1e-6)


def pythae_nets(latent_dim: int):
    from pythae.models import VAEConfig
    from pythae.models.nn.benchmarks.mnist import Decoder_Conv_AE_MNIST, Encoder_Conv_VAE_MNIST

    mc = VAEConfig(input_dim=(1, 28, 28), latent_dim=latent_dim)
    return mc, Encoder_Conv_VAE_MNIST(mc), Decoder_Conv_AE_MNIST(mc)


def run_pythae(x: torch.Tensor, batch: int, epochs: int) -> float:
    from pythae.models import VAE
    from pythae.pipelines.training import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    mc, enc, dec = pythae_nets(16)
    model = VAE(model_config=mc, encoder=enc, decoder=dec)
    tc = BaseTrainerConfig(output_dir=tempfile.mkdtemp(), learning_rate=1e-3, per_device_train_batch_size=batch,
                           per_device_eval_batch_size=batch, num_epochs=epochs, steps_saving=None, steps_predict=None)
    start = time.perf_counter()
    TrainingPipeline(training_config=tc, model=model)(train_data=x.numpy(), eval_data=None)
    return len(x) * epochs / (time.perf_counter() - start)


@contextmanager
def gpu_utilisation(record: dict):
    """Sample nvidia-smi's utilisation.gpu every 100 ms while the block runs; record["gpu_util_pct"] = the mean."""
    if shutil.which("nvidia-smi") is None:
        yield
        return
    sampler = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "100"],
                               stdout=subprocess.PIPE, text=True)
    try:
        yield
    finally:
        sampler.terminate()
        samples = [float(v) for v in sampler.communicate()[0].split() if v.replace(".", "", 1).isdigit()]
        record["gpu_util_pct"] = round(sum(samples) / len(samples), 1) if samples else None


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_tight_loop(x: torch.Tensor, batch: int, epochs: int, device: str) -> float:
    """The same nets and loss trained by a bare loop over device-resident data (no trainer, no
    logging, no checks): images/s over the epochs after the first."""
    _, enc, dec = pythae_nets(16)
    enc, dec, data = enc.to(device), dec.to(device), x.to(device)
    optimizer = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    for epoch in range(epochs):
        if epoch == 1:
            synchronise(device)
            start = time.perf_counter()
        order = torch.randperm(len(data), device=device)
        for i in range(0, len(data), batch):
            xb = data[order[i : i + batch]]
            out = enc(xb)
            mean, log_var = out.embedding, out.log_covariance
            z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
            squared = (dec(z).reconstruction - xb).square().flatten(1).sum(1)
            kl = -0.5 * (1 + log_var - mean.square() - log_var.exp()).sum(1)
            optimizer.zero_grad(set_to_none=True)
            (squared + kl).mean().backward()
            optimizer.step()
    synchronise(device)
    return len(data) * (epochs - 1) / (time.perf_counter() - start)


def run_cfae(x: torch.Tensor, batch: int, epochs: int, device: str, bf16: bool, compile_mode: str) -> tuple[float, float]:
    """(images/s over all epochs including the first, images/s over epochs after the first)."""
    _, enc, dec = pythae_nets(16)
    model = build_model("vae", latent_dim=16, likelihood="gaussian", gaussian_std=1 / math.sqrt(2))
    model.encoder, model.decoder = PythaeEncoder(enc), PythaeDecoder(dec)
    config = TrainConfig(epochs=epochs, batch_size=batch, device=device, bf16=bf16, compile=compile_mode,
                         progress=False, sync_every=100)
    trainer = Trainer(model, config, ImageDataset("random", x), None)
    synchronise(device)
    start = time.perf_counter()
    history = trainer.fit()
    total = time.perf_counter() - start
    later = sum(r["time_s"] for r in history[1:])
    steady = len(x) * (epochs - 1) / later if epochs > 1 else float("nan")
    return len(x) * epochs / total, steady


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=3, help="at least 2: the first is left out of the steady figures")
    parser.add_argument("--batches", default="100,512")
    parser.add_argument("--modes", default="off:fp32,reduce-overhead:fp32,off:bf16",
                        help="cfae runs, COMPILE:PRECISION each (compile: off, default, reduce-overhead, max-autotune)")
    parser.add_argument("--skip-pythae", action="store_true")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2")
    modes = [tuple(m.split(":")) for m in args.modes.split(",") if m]
    bad = [m for m in modes if len(m) != 2 or m[1] not in ("fp32", "bf16")]
    if bad:
        parser.error(f"--modes: {bad} are not COMPILE:PRECISION with PRECISION fp32 or bf16")
    torch.manual_seed(0)
    x = torch.rand(args.n, 1, 28, 28)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    emit(device=name, torch=torch.__version__, n=args.n, epochs=args.epochs)
    for batch in (int(b) for b in args.batches.split(",")):
        base = None
        if not args.skip_pythae:
            record = {"what": "pythae_pipeline", "batch": batch}
            with gpu_utilisation(record):
                base = run_pythae(x, batch, args.epochs)
            emit(**record, img_per_s=round(base))
        record = {"what": "tight_loop", "batch": batch, "precision": "fp32"}
        with gpu_utilisation(record):
            tight = run_tight_loop(x, batch, args.epochs, args.device)
        emit(**record, img_per_s_after_first_epoch=round(tight), ratio_vs_pythae=round(tight / base, 2) if base else None)
        for compile_mode, precision in modes:
            record = {"what": "cfae_trainer", "batch": batch, "compile": compile_mode, "precision": precision}
            with gpu_utilisation(record):
                overall, steady = run_cfae(x, batch, args.epochs, args.device, precision == "bf16", compile_mode)
            emit(**record, img_per_s=round(overall), img_per_s_after_first_epoch=round(steady),
                 ratio_vs_pythae=round(overall / base, 2) if base else None,
                 ratio_after_first_epoch_vs_pythae=round(steady / base, 2) if base else None,
                 ratio_after_first_epoch_vs_tight_loop=round(steady / tight, 3))


if __name__ == "__main__":
    main()
