"""Morpho-MNIST with a known causal mechanism, thickness -> intensity (DeepSCM; reference section 2).

For each MNIST digit (its base image), with exogenous noise drawn once per example:
    t = 0.5 + Gamma(shape 10, rate 5)                       stroke thickness, in pixels
    i = 64 + 191 sigmoid(2 (t - 2.5) + 0.5 eps),  eps ~ N(0, 1)   foreground intensity, 0..255
    image = SetThickness(base, t), rescaled so that its median foreground intensity is i
where the foreground is the pixels at or above half the image's maximum. Because the mechanism and
each example's noise (base digit, eps) are kept, the true counterfactual image of any intervention
can be drawn (abduction, action, prediction):
    do(t = v): t = v and i = 64 + 191 sigmoid(2 (v - 2.5) + 0.5 eps), the same eps
    do(i = v): t unchanged, i = v
The labels hold t and i as the mechanism set them (SetThickness reaches t within about 0.2 px on
re-measurement), the digit class, eps and the base digit itself.
"""

from __future__ import annotations

import numpy as np
import torch
from rich.progress import track
from torch import Tensor

from cfae.data.base import TRAIN_TEST, ImageDataset
from cfae.data.idx import DataFileError
from cfae.data.morpho import pixel_digest, set_thickness
from cfae.data.paths import cache_dir
from cfae.registry import check_choices

CONCEPTS = ("thickness", "intensity")
# (mean, scale) of each concept, to standardise labels: t has mean 2.5 and sd 0.63; i spans 64..255.
STANDARDISATION = {"thickness": (2.5, 0.63), "intensity": (160.0, 60.0)}
SPLIT_SEEDS = {"train": 0, "test": 1}
CACHE_VERSION = "morpho_scm_v1"
CHUNK = 500


def sample_thickness(n: int, seed: int) -> np.ndarray:
    """t = 0.5 + Gamma(shape 10, rate 5); the first n draws do not depend on how many follow."""
    return 0.5 + np.random.default_rng([seed, 0]).gamma(10.0, 1 / 5.0, size=n)


def sample_noise(n: int, seed: int) -> np.ndarray:
    """eps ~ N(0, 1) of the intensity mechanism, a stream of its own."""
    return np.random.default_rng([seed, 1]).standard_normal(n)


def intensity_of(thickness, noise):
    """i = 64 + 191 sigmoid(2 (t - 2.5) + 0.5 eps)."""
    return 64.0 + 191.0 / (1.0 + np.exp(-(2.0 * (np.asarray(thickness) - 2.5) + 0.5 * np.asarray(noise))))


def with_intensity(images: Tensor, intensity) -> Tensor:
    """Grey images (N, 1, H, W) in [0, 1] scaled so that the median of each one's foreground (pixels at
    or above half its maximum) equals its intensity (0..255); uint8, clipped at 255. Clipping only
    touches pixels above the median, so the median stays."""
    flat = images.reshape(len(images), -1).float()
    foreground = flat >= flat.amax(1, keepdim=True) / 2
    medians = flat.masked_fill(~foreground, float("nan")).nanmedian(1).values  # lower median, as Tensor.median
    gain = torch.as_tensor(np.asarray(intensity), dtype=torch.float32) / medians.clamp_min(1e-6)
    return (flat * gain[:, None]).clamp(0, 255).round().to(torch.uint8).reshape(images.shape)


def draw(base: Tensor, thickness, intensity) -> Tensor:
    """The mechanism's image of base digits (uint8 or float in [0, 1]) at thickness t and intensity i."""
    grey = base.float().div(255.0) if base.dtype == torch.uint8 else base.float()
    return with_intensity(set_thickness(grey, torch.as_tensor(np.asarray(thickness), dtype=torch.float32)), intensity)


def intervened_labels(labels: np.ndarray, noise: np.ndarray, concept: str, value: float) -> tuple[np.ndarray, bool]:
    """Rows of (t, i) after do(concept = value), each example's eps kept; the mechanism draws both
    (the second value, True, says the scene is one the data could hold)."""
    check_choices("morpho-scm concept", [concept], CONCEPTS)
    out = np.array(labels, dtype=np.float64, copy=True).reshape(-1, 2)
    if concept == "thickness":
        out[:, 0] = value
        out[:, 1] = intensity_of(value, noise)
    else:
        out[:, 1] = value
    return out, True


def render(data: ImageDataset, rows, labels: np.ndarray) -> Tensor:
    """Float (n, 1, 28, 28) images in [0, 1]: the given rows' base digits drawn at labels (n, 2) = (t, i)."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1, 2)
    return draw(data.labels["base_digit"][rows], labels[:, 0], labels[:, 1]).float().div_(255.0)


def generate(base: ImageDataset, seed: int, progress: bool = True) -> dict[str, np.ndarray]:
    """Draw every base digit through the mechanism, CHUNK digits at a time."""
    n = len(base)  # labels in float32 as stored, so that redrawing a row from its labels gives its image exactly
    thickness, noise = sample_thickness(n, seed).astype(np.float32), sample_noise(n, seed).astype(np.float32)
    intensity = intensity_of(thickness, noise).astype(np.float32)
    starts = range(0, n, CHUNK)
    if progress:
        starts = track(starts, description="drawing morpho-scm digits")
    images = [draw(base.images[s : s + CHUNK], thickness[s : s + CHUNK], intensity[s : s + CHUNK]) for s in starts]
    return {"images": torch.cat(images).numpy(), "thickness": thickness, "intensity": intensity, "noise": noise}


def morpho_scm(base: ImageDataset, split: str, progress: bool = True) -> ImageDataset:
    """The mechanism's dataset over these MNIST digits, cached by split, size and base pixels."""
    check_choices("split", [split], TRAIN_TEST)
    path = cache_dir() / f"{CACHE_VERSION}-{split}-{len(base)}-{pixel_digest(base.images)}.npz"
    if not path.exists():
        arrays = generate(base, SPLIT_SEEDS[split], progress)
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in ("images", "thickness", "intensity", "noise")}
    except (OSError, KeyError, ValueError) as err:
        raise DataFileError(f"{path}: corrupt morpho-scm cache ({err}); delete it to regenerate") from None
    labels = {"label": base.labels["label"], "thickness": torch.from_numpy(arrays["thickness"]).float(),
              "intensity": torch.from_numpy(arrays["intensity"]).float(),
              "intensity_noise": torch.from_numpy(arrays["noise"]).float(), "base_digit": base.images}
    return ImageDataset("morpho-scm", torch.from_numpy(arrays["images"]), labels, base.class_names)
