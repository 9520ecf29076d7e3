"""Checkpoints: a folder of safetensors tensors plus JSON, written atomically, never pickled.

    RUN/checkpoints/epoch-0003/{config.json, model.safetensors, optimizers.safetensors}
    RUN/checkpoints/LATEST      (text: the name of the newest complete checkpoint folder)

A checkpoint folder is written under a temporary name (.epoch-0003-XXXX) and renamed into place;
LATEST is replaced with os.replace, so a crash at any moment leaves the previous checkpoint
readable. Temporary folders left by a crash are removed by the next save (the writer holds the
run's lock). Resuming falls back to the older kept checkpoint when the newest is corrupt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import cfae
from cfae.jsonio import write_json
from cfae.models import MODELS, BaseModel
from cfae.settings import validation_problems

LATEST = "LATEST"
FORMAT = 2  # config.json layout version; format 1 (no "format" key) has the same fields minus this one


class CheckpointError(ValueError):
    """A checkpoint is missing or corrupt; the message names the file and the problem."""


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
    """Per-parameter state (moments, steps) from the checkpoint; the hyperparameters (lr, base_lr,
    betas...) stay those of the live optimisers, built from the run's current settings."""
    for name, opt in optimizers.items():
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            opt_name, pid, field = key.split("/", 2)
            if opt_name == name:
                state.setdefault(int(pid), {})[field] = value
        for key, value in meta[name]["scalars"].items():
            pid, field = key.split("/", 1)
            state.setdefault(int(pid), {})[field] = value
        live = opt.state_dict()["param_groups"]
        groups = [{**now, "params": saved["params"]} for now, saved in zip(live, meta[name]["param_groups"], strict=True)]
        opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(folder: Path, name: str, model: BaseModel, optimizers: dict, trainer_state: dict, keep: int = 2) -> Path:
    """Write checkpoint `name` under `folder` atomically and point LATEST at it."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_partial_checkpoints(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, tmp / "model.safetensors")
    opt_tensors, opt_meta = _optimizer_tensors(optimizers)
    save_file(opt_tensors, tmp / "optimizers.safetensors")
    config = {
        "format": FORMAT,
        "cfae_version": cfae.__version__,
        "model": model.config.model_dump(mode="json"),
        "optimizers": opt_meta,
        "trainer": trainer_state,
    }
    write_json(tmp / "config.json", config)
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


def remove_partial_checkpoints(folder: Path) -> None:
    """Delete temporary checkpoint folders a crash left behind (call only while holding the run lock)."""
    if folder.is_dir():
        for partial in folder.iterdir():
            if partial.is_dir() and partial.name.startswith("."):
                shutil.rmtree(partial, ignore_errors=True)


def complete_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders holding model weights and a config, newest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
             and (p / "model.safetensors").is_file() and (p / "config.json").is_file()]
    return sorted(found, reverse=True)


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
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path}: corrupt JSON ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    if config.get("format", 1) > FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {config['format']} is newer than this cfae reads "
                              f"({FORMAT}); upgrade cfae")
    missing = [key for key in ("model", "optimizers", "trainer") if key not in config]
    if missing:
        raise CheckpointError(f"{path}: missing keys {missing}")
    return config


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
    cls = MODELS.get(config.get("name", ""))
    try:
        model = cls(cls.Config(**config))
    except ValidationError as err:
        raise CheckpointError(f"{ckpt / 'config.json'}: invalid model config ({validation_problems(err)})") from None
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{ckpt / 'config.json'}: invalid model config ({err})") from None
    load_weights(model, ckpt)
    return model.to(device).eval()


def load_weights(model: BaseModel, ckpt: Path) -> None:
    """Weights into a live model; names and shapes must match exactly."""
    path = ckpt / "model.safetensors"
    state = read_tensors(path)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state
             and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: weights do not fit the config (missing {missing}, unexpected {unexpected}, "
                              f"shapes in file vs model {wrong})")
    model.load_state_dict(state)


def restore_training(ckpt: Path, model: BaseModel, optimizers: dict) -> dict:
    """Load weights and optimiser state into live objects; returns the trainer state."""
    config = read_config(ckpt)
    load_weights(model, ckpt)
    if set(config["optimizers"]) != set(optimizers):
        raise CheckpointError(f"{ckpt / 'config.json'}: optimisers {sorted(config['optimizers'])} do not match "
                              f"this model's networks {sorted(optimizers)}")
    try:
        _restore_optimizers(optimizers, read_tensors(ckpt / "optimizers.safetensors"), config["optimizers"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{ckpt / 'optimizers.safetensors'}: does not fit this model ({err})") from None
    return config["trainer"]


def restore_newest(folder: Path, model: BaseModel, optimizers: dict) -> tuple[dict, Path] | None:
    """Restore the newest readable checkpoint under folder, falling back to older kept ones with a
    warning; None when the folder holds no complete checkpoint."""
    candidates = complete_checkpoints(folder)
    errors = []
    for ckpt in candidates:
        try:
            state = restore_training(ckpt, model, optimizers)
        except CheckpointError as err:
            errors.append(str(err))
            continue
        if errors:
            warnings.warn(f"newest checkpoint unreadable ({'; '.join(errors)}); resumed from {ckpt}", stacklevel=2)
        return state, ckpt
    if errors:
        raise CheckpointError("no readable checkpoint: " + "; ".join(errors))
    return None
