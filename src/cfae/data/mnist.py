"""MNIST and Fashion-MNIST from IDX files (.gz or raw), Keras-style .npz, or PNG class folders."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cfae.data.base import TRAIN_TEST, ImageDataset, image_tensor
from cfae.data.download import MissingDataError, download
from cfae.data.idx import DataFileError, read_idx
from cfae.data.paths import data_root
from cfae.registry import check_choices

IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class MnistLikeSpec:
    name: str
    folders: tuple[str, ...]  # sub-folders of the data root that may hold the IDX files
    npz: tuple[str, ...]  # Keras-style npz file names
    mirrors: tuple[str, ...]
    checksums: dict[str, str]  # IDX stem -> checksum spec (see download.checksum_ok)
    class_names: tuple[str, ...]


MNIST = MnistLikeSpec(
    name="mnist",
    folders=("mnist-idx", "mnist", "MNIST/raw", "."),
    npz=("mnist.npz",),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    # SHA-256 of the decompressed IDX payloads (identical whatever the gzip level).
    checksums={
        "train-images-idx3-ubyte": "sha256-raw:ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "sha256-raw:65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "sha256-raw:0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "sha256-raw:ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    class_names=tuple(str(d) for d in range(10)),
)

FASHION = MnistLikeSpec(
    name="fashion",
    folders=("fashion-mnist-idx", "fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
    npz=("fashion_mnist.npz", "fashion-mnist.npz"),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    # The authors publish MD5s of the gzipped archives only.
    checksums={
        "train-images-idx3-ubyte": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    },
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem, folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    return None


def _from_idx(spec: MnistLikeSpec, root: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    for sub in spec.folders:
        folder = (root / sub).resolve()
        found = [_find_idx(folder, stem) for stem in IDX_NAMES[split]]
        if all(found):
            return read_idx(found[0]), read_idx(found[1]), str(found[0])
    return None


def _from_npz(spec: MnistLikeSpec, root: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    for name in spec.npz:
        path = root / name
        if path.is_file():
            if not zipfile.is_zipfile(path):  # else numpy reads it as a pickle and says so
                raise DataFileError(f"{path}: not an npz (an npz is a zip archive; this file is not one, or is cut short)")
            try:
                with np.load(path, allow_pickle=False) as npz:
                    return npz[f"x_{split}"], npz[f"y_{split}"], str(path)
            except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
                raise DataFileError(f"{path}: not a Keras-style npz with x_{split}/y_{split} ({err})") from None
    return None


def _from_png_folders(spec: MnistLikeSpec, root: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    from PIL import Image

    folder = root / spec.name / split
    if not folder.is_dir():
        return None
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    images, labels = [], []
    for label, class_dir in enumerate(classes):
        for png in sorted(class_dir.glob("*.png")):
            try:
                images.append(np.asarray(Image.open(png).convert("L")))
            except (OSError, ValueError) as err:
                raise DataFileError(f"{png}: not a readable PNG image ({err})") from None
            labels.append(label)
    if not images:
        return None
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataFileError(f"{folder}: PNG images of different sizes {sorted(shapes)}")
    return np.stack(images), np.asarray(labels), str(folder)


def _download(spec: MnistLikeSpec, root: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    folder = root / spec.folders[0]
    try:
        for stem in IDX_NAMES[split]:
            if _find_idx(folder, stem) is None:
                urls = [m + stem + ".gz" for m in spec.mirrors]
                download(urls, folder / f"{stem}.gz", spec.checksums[stem])
    except OSError:
        return None
    return _from_idx(spec, root, split)


def load_mnist_like(spec: MnistLikeSpec, split: str = "train", root: str | Path | None = None) -> ImageDataset:
    """Images (N, 1, 28, 28) uint8 and labels {'label'}; sources tried: IDX, npz, PNG folders, download."""
    check_choices("split", [split], TRAIN_TEST)
    base = data_root(root)
    for source in (_from_idx, _from_npz, _from_png_folders, _download):
        found = source(spec, base, split)
        if found is not None:
            images, labels, origin = found
            if images.ndim != 3 or len(images) != len(labels):
                raise DataFileError(f"{spec.name} {split}: images {images.shape} do not match labels {labels.shape}")
            tensor = image_tensor(images, f"{spec.name} {split} images ({origin})").unsqueeze(1)
            return ImageDataset(spec.name, tensor, {"label": torch.from_numpy(labels.astype(np.int64))}, list(spec.class_names))
    stems = ", ".join(f"{s}[.gz]" for s in IDX_NAMES[split])
    places = "; ".join(str(base / sub) for sub in spec.folders)
    raise MissingDataError(
        f"{spec.name} {split} split not found. Missing IDX files {stems} in: {places}; "
        f"no npz ({', '.join(str(base / n) for n in spec.npz)}); no PNG folders in {base / spec.name / split}; "
        f"and download failed or is disabled. Set --data-root or CFAE_DATA to a folder holding them."
    )
