"""A run: dataset + model + training settings in one JSON-serialisable record, trained into a folder.

    RUN/run.json        the RunConfig that ran (what `cfae evaluate/plot/sample` read back), with
                        every change accepted on resume listed under `changes`
    RUN/log.jsonl       one record per epoch
    RUN/provenance.jsonl  one record per training session (the first and each resume that trains): the epoch it
                        started from, the code, libraries and machine (provenance.py)
    RUN/checkpoints/    safetensors checkpoints (see checkpoint.py)
    RUN/.lock           held by the training in progress
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cfae import jsonio
from cfae.data import ImageDataset, get_dataset
from cfae.data.worlds import WORLDS
from cfae.models import MODELS, BaseModel as Autoencoder
from cfae.settings import validation_problems
from cfae.train.checkpoint import CheckpointError, complete_checkpoints, read_config
from cfae.train.distributed import is_main_process
from cfae.train.config import TrainConfig
from cfae.train.lock import RunFolderError, lock_holder, run_lock, writable_folder
from cfae.train.provenance import code_label, provenance, scorer_labels, stamps_in_file, utc_now
from cfae.train.trainer import Trainer, read_log

RUN_FILE, PROVENANCE_FILE = "run.json", "provenance.jsonl"
SESSION_KEYS = ("from_epoch", "started", "torch", "processor", "gpu", "device", "threads")  # shown by `cfae info`
# Settings a resumed run may change without --allow-changes: they do not change what is learnt.
FREE_ON_RESUME = {"train.epochs", "train.progress", "train.device", "train.sync_every", "train.eval_batch_size",
                  "train.eval_every",
                  "data_root", "changes"}


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    dataset: str
    data_root: str | None = None
    limit: int | None = Field(None, ge=1, description="train and evaluate on the first N examples")
    classes: list[int] | None = Field(None, description="train and evaluate on the examples of these classes only")
    model_options: dict[str, Any] = Field(default_factory=dict)
    train: TrainConfig = Field(default_factory=TrainConfig)
    changes: list[dict[str, Any]] = Field(default_factory=list, description="settings changed on resume")

    def load_split(self, split: str) -> ImageDataset:
        # Without a class filter the limit goes to the loader, so labelled views measure only what is kept.
        early = self.limit if self.classes is None else None
        return get_dataset(self.dataset, split, self.data_root, early).with_classes(self.classes).head(self.limit)

    def model_settings(self, attribute_names: list[str] | tuple[str, ...] | None = None,
                       train_size: int | None = None) -> dict[str, Any]:
        """model_options with what the dataset supplies where they are silent: a model with attribute
        latents takes the dataset's attribute names; a model with causal concepts takes the concepts
        of a dataset with a known mechanism, and their standardisation unless given; a model whose
        loss estimates the aggregate posterior takes the training set's size."""
        cls = MODELS.get(self.model)
        options = dict(self.model_options)
        if getattr(cls, "takes_dataset_size", False) and train_size is not None:
            options.setdefault("dataset_size", train_size)
        if getattr(cls, "needs_attributes", False) and "attributes" not in options and attribute_names:
            options["attributes"] = tuple(attribute_names)
        if getattr(cls, "takes_concepts", False) and "concepts" not in options and self.dataset in WORLDS:
            world = WORLDS[self.dataset]
            options["concepts"] = world.concepts
            options.setdefault("concept_loc", tuple(world.standardisation[c][0] for c in world.concepts))
            options.setdefault("concept_scale", tuple(world.standardisation[c][1] for c in world.concepts))
        return options

    def build_model(self, image_shape: tuple[int, int, int], attribute_names: list[str] | None = None,
                    train_size: int | None = None) -> Autoencoder:
        """The model, sized for the images, with model_settings(attribute_names, train_size)."""
        cls = MODELS.get(self.model)
        return cls(cls.Config(name=self.model, input_shape=image_shape, **self.model_settings(attribute_names, train_size)))


def read_run_config(run_dir: str | Path) -> RunConfig:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; is {run_dir} a folder written by `cfae train`?")
    try:
        return RunConfig.model_validate_json(path.read_text())
    except ValidationError as err:
        raise CheckpointError(f"{path}: invalid run config ({validation_problems(err)})") from None


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "optimizers":
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def setting_changes(old: RunConfig, new: RunConfig) -> dict[str, list]:
    """{setting: [old, new]} for every setting that differs, those free on resume excluded."""
    a, b = _flatten(old.model_dump(mode="json")), _flatten(new.model_dump(mode="json"))
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k not in FREE_ON_RESUME}


def train_run(config: RunConfig, out_dir: str | Path, resume: bool = False,
              allow_changes: bool = False) -> tuple[Autoencoder, list[dict]]:
    """Train (or, with resume, continue) a run into out_dir; returns the model and its history.

    The folder is checked writable and locked before data is loaded; a resume whose settings
    differ from run.json is refused unless allow_changes, and then the changes are recorded."""
    out = Path(out_dir)
    cls = MODELS.get(config.model)  # fail on an unknown name or bad options before touching the folder
    cls.Config(name=config.model, **config.model_settings(("attribute",)))  # attribute names: the dataset's, loaded below
    main = is_main_process()
    with run_lock(out) if main else contextlib.nullcontext():
        if main:
            writable_folder(out / "checkpoints")
        checkpoints = complete_checkpoints(out / "checkpoints")
        started = bool(checkpoints)
        if started and not resume:
            raise RunFolderError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        if resume and started and (out / RUN_FILE).is_file():
            config = _accept_changes(read_run_config(out), config, allow_changes, out, checkpoints[0])
        train_data = config.load_split("train")
        test_data = config.load_split("test")
        torch.manual_seed(config.train.seed)  # weights initialise from the run's seed too
        model = config.build_model(train_data.image_shape, train_data.attribute_names, len(train_data))
        trainer = Trainer(model, config.train, train_data, test_data, out_dir=out)
        if resume and started:
            trainer.resume()
        if trainer.writes:
            jsonio.write_json(out / RUN_FILE, config.model_dump(mode="json"))
            if trainer.epoch < config.train.epochs:  # a finished run opened again trains nothing
                record_session(out, trainer)
        history = trainer.fit()
    return trainer.model, history


def record_session(out: Path, trainer: Trainer) -> None:
    """Append this training session's provenance to RUN/provenance.jsonl."""
    record = {"from_epoch": trainer.epoch, "started": utc_now(),
              "world_size": trainer.ranks.world_size, **provenance(trainer.device)}
    with open(out / PROVENANCE_FILE, "a") as file:
        file.write(jsonio.dumps(record) + "\n")


def read_sessions(run_dir: str | Path) -> list[dict]:
    """The provenance records of a run's training sessions, oldest first ([] for a run trained before
    they were recorded); a bad line is an error naming the file."""
    return read_log(Path(run_dir) / PROVENANCE_FILE)


def scored_by(path: Path) -> str:
    """Which code computed the score records of a JSON file: their code labels, else why it is not known."""
    stamps = stamps_in_file(path)
    return "not valid JSON" if stamps is None else "; ".join(sorted(scorer_labels(stamps)))


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """What a run folder holds, for `cfae info`: its settings, how far it trained, its last epoch's
    record, its checkpoints, the score files beside them with the code that computed each, and each
    training session's code and machine."""
    run = Path(run_dir)
    config = read_run_config(run)
    records = read_log(run / "log.jsonl")
    sessions = [{"code": code_label(record)} | {k: record[k] for k in SESSION_KEYS if record.get(k) is not None}
                for record in read_sessions(run)]
    return {"run": str(run), "model": config.model, "dataset": config.dataset, "limit": config.limit,
            "model_options": config.model_options, "seed": config.train.seed,
            "epochs": {"trained": records[-1]["epoch"] if records else 0, "of": config.train.epochs},
            "in_training_by_pid": lock_holder(run), "last_epoch": records[-1] if records else None,
            "checkpoints": [p.name for p in reversed(complete_checkpoints(run / "checkpoints"))],
            "scores": {p.name: scored_by(p) for p in sorted(run.glob("*.json")) if p.name != RUN_FILE},
            "changes": config.changes, "sessions": sessions}


def _accept_changes(old: RunConfig, new: RunConfig, allow: bool, out: Path, newest: Path) -> RunConfig:
    changed = setting_changes(old, new)
    if not changed:
        return new.model_copy(update={"changes": old.changes})
    listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
    if not allow:
        raise ValueError(f"{out / RUN_FILE}: --resume with changed settings ({listed}); pass --allow-changes "
                         "to continue with them (they are recorded in run.json), or leave them as they were")
    epoch = read_config(newest)["trainer"]["epoch"]
    return new.model_copy(update={"changes": [*old.changes, {"from_epoch": epoch, "changed": changed}]})
