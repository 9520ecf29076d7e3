"""CelebA from a user's folder (Liu et al. 2015), as seed 001 uses it.

    ROOT/celeba/ (or ROOT itself) holding
        img_align_celeba/000001.jpg ...     178 x 218 aligned faces
        list_attr_celeba.txt                line 1: image count; line 2: the 40 attribute names;
                                            then "file v_1 ... v_40" with v in {-1, 1}
        list_eval_partition.txt             "file p", p = 0 train, 1 valid, 2 test

Images are centre-cropped to 148 x 148 and resized to 64 x 64 (RGB, uint8), decoded once and cached
under CFAE_CACHE. Attributes: the seed's 38 (all but Wearing_Necktie and Young) as
labels["attributes"] in {0, 1}; COUNTERFACTUAL_ATTRIBUTES are the 7 its Figure 7 and Table 3 flip.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from cfae.data.base import ImageDataset
from cfae.data.download import MissingDataError
from cfae.data.idx import DataFileError
from cfae.data.paths import cache_dir, data_root
from cfae.registry import check_choices

EXCLUDED_ATTRIBUTES = ("Wearing_Necktie", "Young")
COUNTERFACTUAL_ATTRIBUTES = ("Bangs", "Black_Hair", "Blond_Hair", "Male", "Mustache", "Mouth_Slightly_Open", "Smiling")
SPLITS = {"train": 0, "valid": 1, "test": 2}
CROP, SIZE = 148, 64
ATTR_FILE, PARTITION_FILE, IMAGE_DIR = "list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba"


def celeba_folder(root: str | Path | None) -> Path:
    """ROOT/celeba if it holds the attribute file, else ROOT; a clear error when neither does."""
    base = data_root(root)
    for folder in (base / "celeba", base):
        if (folder / ATTR_FILE).is_file():
            return folder
    raise MissingDataError(f"CelebA not found: no {ATTR_FILE} in {base / 'celeba'} or {base}; place img_align_celeba/, "
                           f"{ATTR_FILE} and {PARTITION_FILE} there (CelebA cannot be downloaded automatically)")


def read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(attribute names, file names, values (N, 40) in {0, 1}) from list_attr_celeba.txt."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0][0].isdigit():
        raise DataFileError(f"{path}: expected an image count on line 1 and attribute names on line 2")
    names, rows = lines[1], lines[2:]
    if int(lines[0][0]) != len(rows):
        raise DataFileError(f"{path}: line 1 announces {lines[0][0]} images but {len(rows)} rows follow")
    files, values = [], []
    for number, row in enumerate(rows, 3):
        if len(row) != len(names) + 1 or any(v not in ("-1", "1") for v in row[1:]):
            raise DataFileError(f"{path}: line {number} must be a file name and {len(names)} values of -1 or 1")
        files.append(row[0])
        values.append([v == "1" for v in row[1:]])
    return names, files, np.asarray(values, dtype=np.uint8).reshape(len(files), len(names))


def read_partition(path: Path) -> dict[str, int]:
    """{file name: partition} from list_eval_partition.txt."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataFileError(f"{path}: line {number} must be a file name and a partition 0, 1 or 2")
        out[parts[0]] = int(parts[1])
    return out


def crop_and_resize(path: Path) -> np.ndarray:
    """(3, 64, 64) uint8: the centre 148 x 148 of an aligned face, resized with antialiasing."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            left, top = (w - CROP) // 2, (h - CROP) // 2
            image = image.crop((left, top, left + CROP, top + CROP)).resize((SIZE, SIZE), Image.BILINEAR, reducing_gap=None)
            return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    except (OSError, UnidentifiedImageError) as err:
        raise DataFileError(f"{path}: unreadable image ({err})") from None


def _decode(folder: Path, files: list[str], progress: bool) -> np.ndarray:
    from rich.progress import track

    images = np.empty((len(files), 3, SIZE, SIZE), dtype=np.uint8)
    for i, name in enumerate(track(files, description="decoding CelebA", disable=not progress)):
        path = folder / IMAGE_DIR / name
        if not path.is_file():
            raise MissingDataError(f"{path}: listed in {ATTR_FILE} but missing")
        images[i] = crop_and_resize(path)
    return images


def load_celeba(split: str, root: str | Path | None = None, progress: bool = True) -> ImageDataset:
    """One partition of CelebA at 64 x 64 with the seed's 38 attributes."""
    check_choices("split", [split], SPLITS)
    folder = celeba_folder(root)
    names, files, values = read_attributes(folder / ATTR_FILE)
    partition = read_partition(folder / PARTITION_FILE)
    missing = [f for f in files if f not in partition]
    if missing:
        raise DataFileError(f"{folder / PARTITION_FILE}: no partition for {len(missing)} images, e.g. {missing[0]}")
    keep = [i for i, f in enumerate(files) if partition[f] == SPLITS[split]]
    kept_files = [files[i] for i in keep]
    key = hashlib.sha1(f"{folder.resolve()}|{split}|{len(kept_files)}|{kept_files[:1]}|{kept_files[-1:]}".encode()).hexdigest()[:16]
    cache = cache_dir() / f"celeba-{split}-{SIZE}-{key}.npy"
    if cache.is_file():
        images = np.load(cache, allow_pickle=False)
    else:
        images = _decode(folder, kept_files, progress)
        tmp = cache.with_name(cache.stem + ".partial.npy")
        np.save(tmp, images)
        tmp.replace(cache)
    columns = [names.index(n) for n in names if n not in EXCLUDED_ATTRIBUTES]
    attributes = torch.from_numpy(values[keep][:, columns].astype(np.float32))
    return ImageDataset("celeba", torch.from_numpy(images), {"attributes": attributes},
                        attribute_names=[names[c] for c in columns])
