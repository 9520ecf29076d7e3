"""Training throughput: pythae's TrainingPipeline vs cfae's Trainer on the same networks, same run.

Networks: pythae's MNIST benchmark nets (Encoder_Conv_VAE_MNIST, Decoder_Conv_AE_MNIST; 17.2 M
parameters), latent 16, Adam 1e-3, MSE + KL (cfae: Gaussian likelihood with std 1/sqrt(2), so
-log p(x|z) = sum of squared errors + const). Data: N random 1x28x28 images (throughput does not
depend on pixel values), as in ../shared/reference/anchor_gpu.py. Prints one JSON line per figure.

    python benchmarks/gpu_throughput.py                       # on the GPU machine
    python benchmarks/gpu_throughput.py --device cpu --n 2048 --epochs 1 --batches 512   # smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time

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


def run_cfae(x: torch.Tensor, batch: int, epochs: int, device: str, bf16: bool) -> tuple[float, float]:
    """(images/s over all epochs including the first, images/s over epochs after the first)."""
    _, enc, dec = pythae_nets(16)
    model = build_model("vae", latent_dim=16, likelihood="gaussian", gaussian_std=1 / math.sqrt(2))
    model.encoder, model.decoder = PythaeEncoder(enc), PythaeDecoder(dec)
    config = TrainConfig(epochs=epochs, batch_size=batch, device=device, bf16=bf16, progress=False, sync_every=100)
    trainer = Trainer(model, config, ImageDataset("random", x), None)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    history = trainer.fit()
    total = time.perf_counter() - start
    later = sum(r["time_s"] for r in history[1:])
    steady = len(x) * (epochs - 1) / later if epochs > 1 else float("nan")
    return len(x) * epochs / total, steady


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", default="100,512")
    parser.add_argument("--skip-pythae", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.rand(args.n, 1, 28, 28)
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    emit(device=name, torch=torch.__version__, n=args.n, epochs=args.epochs)
    for batch in (int(b) for b in args.batches.split(",")):
        base = None if args.skip_pythae else run_pythae(x, batch, args.epochs)
        if base is not None:
            emit(what="pythae_pipeline", batch=batch, img_per_s=round(base))
        for bf16 in (False, True) if args.device.startswith("cuda") else (False,):
            overall, steady = run_cfae(x, batch, args.epochs, args.device, bf16)
            ratio = round(overall / base, 2) if base else None
            emit(what="cfae_trainer", batch=batch, bf16=bf16, img_per_s=round(overall),
                 img_per_s_after_first_epoch=round(steady) if steady == steady else None, ratio_vs_pythae=ratio)


if __name__ == "__main__":
    main()
