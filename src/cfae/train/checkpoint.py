"""Checkpoints: a folder of safetensors tensors plus JSON, written atomically, never pickled.

    RUN/checkpoints/epoch-0003/{config.json, model.safetensors, optimizers.safetensors, rng.safetensors}
    RUN/checkpoints/LATEST      (text: the name of the newest complete checkpoint folder)

A checkpoint folder is written under a temporary name and renamed into place; LATEST is replaced
with os.replace, so a crash at any moment leaves the previous checkpoint readable.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import cfae
from cfae.models import MODELS, BaseModel

LATEST = "LATEST"


class CheckpointError(ValueError):
    """A checkpoint is missing or corrupt; the message names the file and the problem."""


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _optimizer_tensors(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], dict]:
    """Split optimiser state into tensors (for safetensors) and plain values (for JSON)."""
    tensors, meta = {}, {}
    for name, opt in optimizers.items():
        state = opt.state_dict()
        scalars = {}
        for pid, pstate in state["state"].items():
            for key, value in pstate.items():
                if torch.is_tensor(value):
                    tensors[f"{name}/{pid}/{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars[f"{pid}/{key}"] = value
        meta[name] = {"param_groups": state["param_groups"], "scalars": scalars}
    return tensors, meta


def _restore_optimizers(optimizers: dict[str, torch.optim.Optimizer], tensors: dict, meta: dict) -> None:
    for name, opt in optimizers.items():
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            opt_name, pid, field = key.split("/", 2)
            if opt_name == name:
                state.setdefault(int(pid), {})[field] = value
        for key, value in meta[name]["scalars"].items():
            pid, field = key.split("/", 1)
            state.setdefault(int(pid), {})[field] = value
        opt.load_state_dict({"state": state, "param_groups": meta[name]["param_groups"]})


def save_checkpoint(folder: Path, name: str, model: BaseModel, optimizers: dict, trainer_state: dict, keep: int = 2) -> Path:
    """Write checkpoint `name` under `folder` atomically and point LATEST at it."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, tmp / "model.safetensors")
    opt_tensors, opt_meta = _optimizer_tensors(optimizers)
    save_file(opt_tensors, tmp / "optimizers.safetensors")
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    save_file(rng, tmp / "rng.safetensors")
    config = {
        "cfae_version": cfae.__version__,
        "model": model.config.model_dump(mode="json"),
        "optimizers": opt_meta,
        "trainer": trainer_state,
    }
    _write_json(tmp / "config.json", config)
    final = folder / name
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    (folder / f"{LATEST}.tmp").write_text(name)
    os.replace(folder / f"{LATEST}.tmp", folder / LATEST)
    old = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale)
    return final


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from itself, a checkpoints/ folder, or a run folder."""
    path = Path(path)
    for candidate in (path, path / "checkpoints"):
        if (candidate / "model.safetensors").is_file():
            return candidate
        latest = candidate / LATEST
        if latest.is_file():
            target = candidate / latest.read_text().strip()
            if not (target / "model.safetensors").is_file():
                raise CheckpointError(f"{latest}: points at {target}, which holds no model.safetensors")
            return target
    raise CheckpointError(f"{path}: no checkpoint found (looked for model.safetensors and checkpoints/{LATEST})")


def read_config(checkpoint: Path) -> dict:
    path = checkpoint / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupt JSON ({err})") from None


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: corrupt safetensors file ({err})") from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> BaseModel:
    """Rebuild the model from config.json and load its weights; runs no pickled code."""
    ckpt = resolve_checkpoint(path)
    config = read_config(ckpt)["model"]
    cls = MODELS.get(config["name"])
    model = cls(cls.Config(**config))
    state = read_tensors(ckpt / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{ckpt / 'model.safetensors'}: weights do not fit the config (missing {missing}, unexpected {unexpected})")
    return model.to(device).eval()


def restore_training(ckpt: Path, model: BaseModel, optimizers: dict) -> dict:
    """Load weights, optimiser state and RNG state into live objects; returns the trainer state."""
    config = read_config(ckpt)
    model.load_state_dict(read_tensors(ckpt / "model.safetensors"))
    _restore_optimizers(optimizers, read_tensors(ckpt / "optimizers.safetensors"), config["optimizers"])
    rng = read_tensors(ckpt / "rng.safetensors")
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    return config["trainer"]
