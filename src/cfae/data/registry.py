"""The dataset registry: `get_dataset(name, split)` for every dataset cfae knows."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

from cfae.data.attributes import morpho_attributes, morpho_thresholds, shapes_attributes
from cfae.data.base import TRAIN_TEST, DynamicBinarized, ImageDataset, bernoulli_draw
from cfae.data.celeba import load_celeba
from cfae.data.groundtruth import ImageTableSpace, ShapesSpace
from cfae.data.mnist import FASHION, MNIST, load_mnist_like
from cfae.data.morpho import with_morphometry
from cfae.data.morpho_scm import morpho_scm
from cfae.data.paths import data_root
from cfae.data.pendulum import load_pendulum
from cfae.data.shapes import DSPRITES_FILE, load_official_dsprites, shapes_dataset
from cfae.registry import Registry, check_choices

Loader = Callable[[str, Path | None], ImageDataset]
DATASETS: Registry[Loader] = Registry("dataset")
SHAPES_SPLIT_SIZES = {"train": 60000, "test": 10000}
SHAPES_SPLIT_SEEDS = {"train": 0, "test": 1}


@DATASETS.register("mnist", "MNIST digits, 28x28 grey (IDX, npz or PNG folders)")
def _mnist(split: str, root: Path | None) -> ImageDataset:
    return load_mnist_like(MNIST, split, root)


@DATASETS.register("fashion", "Fashion-MNIST, 28x28 grey (IDX, npz or PNG folders)")
def _fashion(split: str, root: Path | None) -> ImageDataset:
    return load_mnist_like(FASHION, split, root)


# Views add labels to another dataset. Their loaders take the limit too, so that only the kept
# examples are measured and a test split's thresholds come from the train split under that limit.
VIEWS: set[str] = set()


def register_view(name: str, help_text: str):
    """Register a loader(split, root, limit) that builds on another dataset."""

    def add(loader):
        VIEWS.add(name)
        return DATASETS.register(name, help_text)(loader)

    return add


@register_view("mnist-morpho", "MNIST with Morpho-MNIST labels: area, length, thickness, slant, width, height")
def _mnist_morpho(split: str, root: Path | None, limit: int | None = None) -> ImageDataset:
    return with_morphometry(get_dataset("mnist", split, root, limit))


@register_view("mnist-attributes", "MNIST with binary attributes thick, slanted, wide (Morpho-MNIST above the train median)")
def _mnist_attributes(split: str, root: Path | None, limit: int | None = None) -> ImageDataset:
    data = get_dataset("mnist-morpho", split, root, limit)
    train = data if split == "train" else get_dataset("mnist-morpho", "train", root, limit)
    return morpho_attributes(data, morpho_thresholds(train))


@register_view("shapes-attributes", "generated shapes with binary attributes is_heart, large, tilted, left")
def _shapes_attributes(split: str, root: Path | None, limit: int | None = None) -> ImageDataset:
    return shapes_attributes(get_dataset("shapes", split, root, limit))


@register_view("morpho-scm", "MNIST digits drawn by a known mechanism thickness -> intensity (DeepSCM); true counterfactuals")
def _morpho_scm(split: str, root: Path | None, limit: int | None = None) -> ImageDataset:
    return morpho_scm(get_dataset("mnist", split, root, limit), split)


# Seed of the one fixed binarisation of a test split (train splits are redrawn every epoch).
BINARY_TEST_SEED = 2016


def binarized(grey: ImageDataset, split: str, seed: int = 0) -> ImageDataset:
    """Train: dynamically binarised (redrawn each epoch, seeded); test: one fixed binarisation."""
    name = f"{grey.name}-binary"
    if split == "test":
        return ImageDataset(name, bernoulli_draw(grey.images, BINARY_TEST_SEED), grey.labels, grey.class_names)
    data = DynamicBinarized(name, grey.images, grey.labels, grey.class_names, probabilities=grey.images, seed=seed)
    data.set_epoch(0)
    return data


@DATASETS.register("mnist-binary", "MNIST binarised: x ~ Bernoulli(grey level), redrawn every epoch; fixed test draw")
def _mnist_binary(split: str, root: Path | None) -> ImageDataset:
    return binarized(load_mnist_like(MNIST, split, root), split)


@DATASETS.register("fashion-binary", "Fashion-MNIST binarised like mnist-binary")
def _fashion_binary(split: str, root: Path | None) -> ImageDataset:
    return binarized(load_mnist_like(FASHION, split, root), split)


@DATASETS.register("shapes", "generated dSprites-like shapes, 64x64 binary, with 5 factors")
def _shapes(split: str, root: Path | None) -> ImageDataset:
    _check_split(split)
    return _rendered_shapes(split)


@lru_cache(maxsize=2)
def _rendered_shapes(split: str) -> ImageDataset:
    """Rendered once per process (about 20 s for the train split on 2 cores)."""
    return shapes_dataset(SHAPES_SPLIT_SIZES[split], SHAPES_SPLIT_SEEDS[split])


@DATASETS.register("dsprites", "official dSprites npz from the data root (random 60k/10k splits)")
def _dsprites(split: str, root: Path | None) -> ImageDataset:
    _check_split(split)
    return load_official_dsprites(_dsprites_file(root), SHAPES_SPLIT_SIZES[split], SHAPES_SPLIT_SEEDS[split])


def _dsprites_file(root: Path | None) -> Path:
    path = data_root(root) / DSPRITES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; use the generated 'shapes' dataset or place {DSPRITES_FILE} there")
    return path


@DATASETS.register("celeba", "CelebA from the data root (img_align_celeba/ + attribute and partition lists), 64x64 RGB, 38 attributes")
def _celeba(split: str, root: Path | None) -> ImageDataset:
    return load_celeba(split, root)


@DATASETS.register("pendulum", "CausalVAE's Pendulum, 96x96 RGB, 4 causal concepts (generated, cached)")
def _pendulum(split: str, root: Path | None) -> ImageDataset:
    return load_pendulum(split)


def _check_split(split: str) -> None:
    check_choices("split", [split], TRAIN_TEST)


def get_dataset(name: str, split: str = "train", root: str | Path | None = None, limit: int | None = None) -> ImageDataset:
    """Load a registered dataset split; `limit` keeps the first N examples."""
    loader = DATASETS.get(name)
    if name in VIEWS:
        return loader(split, Path(root) if root else None, limit)
    return loader(split, Path(root) if root else None).head(limit)


GROUND_TRUTH: dict[str, Callable[[Path | None], object]] = {
    "shapes": lambda root: ShapesSpace(),
    "dsprites": lambda root: ImageTableSpace.from_dsprites(_dsprites_file(root)),
}


def ground_truth_space(name: str, root: str | Path | None = None):
    """The renderable factor space behind a dataset, for the disentanglement metrics."""
    if name not in GROUND_TRUTH:
        raise ValueError(f"dataset {name!r} has no ground-truth factor space; valid choices: {', '.join(sorted(GROUND_TRUTH))}")
    return GROUND_TRUTH[name](Path(root) if root else None)
