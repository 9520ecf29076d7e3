"""CausalVAE's Pendulum: 96 x 96 RGB scenes of a pendulum, a light and the shadow it casts.

Geometry from reference section C: pendulum angle theta = i pi / 200 (i in -40..43), light
angle phi = j pi / 200 (j in 60..147, j != 100); shadow position and length follow from
projecting the pivot and the bob tip along the light direction onto the ground y = -0.5.
Any (theta, phi) can be rendered, so the true counterfactual image is always available.

The drawing matches the reference script pixel for pixel (pyplot figure of 1 x 1 inch saved at
96 dpi): the rod and the shadow are two-point polygons with an edge 3 points wide (butt ends,
so a shadow of length L spans L * 3.72 pixels), not Line2D lines (whose projecting caps would add
2 pixels at each end).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from cfae.data.base import TRAIN_TEST, ImageDataset
from cfae.data.idx import DataFileError
from cfae.data.paths import cache_dir
from cfae.registry import check_choices

PIVOT = (10.0, 10.5)
CONCEPTS = ("pendulum_angle", "light_angle", "shadow_length", "shadow_position")
# CausalVAE's (mean, scale) standardisation of the four concept labels.
CONCEPT_STANDARDISATION = {"pendulum_angle": (0.0, 44.0), "light_angle": (100.0, 40.0),
                           "shadow_length": (6.5, 3.5), "shadow_position": (10.0, 5.0)}
I_RANGE = range(-40, 44)
J_RANGE = [j for j in range(60, 148) if j != 100]
CACHE_NAME = "pendulum_v1.npz"


def projection(phi: float, x: float, y: float, base: float = -0.5) -> float:
    """x where the light ray through (x, y) at angle phi meets the line y = base."""
    intercept = y - x * math.tan(phi)
    return (base - intercept) / math.tan(phi)


def shadow(theta: float, phi: float) -> tuple[float, float]:
    """(shadow length, shadow position): length = max(3, |p(pivot) - p(tip)|), position = midpoint."""
    tip = (PIVOT[0] + 9.5 * math.sin(theta), PIVOT[1] - 9.5 * math.cos(theta))
    p_pivot, p_tip = projection(phi, *PIVOT), projection(phi, *tip)
    return max(3.0, abs(p_pivot - p_tip)), (p_pivot + p_tip) / 2


class PendulumRenderer:
    """Draws scenes with one reusable matplotlib figure (1 inch at 96 dpi, default axes box)."""

    def __init__(self):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle, Polygon

        self.figure = Figure(figsize=(1.0, 1.0), dpi=96)
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.figure.add_subplot(111)
        self.rod = Polygon([PIVOT, PIVOT], color="black", linewidth=3)
        self.bob = Circle(PIVOT, 1.5, color="firebrick")
        self.sun = Circle((0, 20.5), 3, color="orange")
        self.shadow = Polygon([(0, -0.5), (0, -0.5)], color="black", linewidth=3)
        for artist in (self.rod, self.bob, self.sun, self.shadow):
            ax.add_artist(artist)
        ax.set_xlim((0, 20))
        ax.set_ylim((-1, 21))
        ax.axis("off")

    def render(self, theta: float, phi: float, cast: tuple[float, float] | None = None) -> np.ndarray:
        """uint8 (96, 96, 3) image of the scene for pendulum angle theta and light angle phi; the
        shadow is the one they cast unless `cast` = (length, position) sets it."""
        bob = (PIVOT[0] + 8 * math.sin(theta), PIVOT[1] - 8 * math.cos(theta))
        self.rod.set_xy([PIVOT, bob])
        self.bob.center = bob
        self.sun.center = (projection(phi, *PIVOT, base=20.5), 20.5)
        length, mid = cast if cast is not None else shadow(theta, phi)
        self.shadow.set_xy([(mid - length / 2, -0.5), (mid + length / 2, -0.5)])
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[:, :, :3].copy()


def angles(i: float, j: float) -> tuple[float, float]:
    """(theta, phi) = (i pi / 200, j pi / 200) of pendulum index i and light index j."""
    return i * math.pi / 200, j * math.pi / 200


def concept_labels(i: float, j: float) -> tuple[float, float, float, float]:
    """The four concept labels of the scene with pendulum index i and light index j."""
    return (i, j, *shadow(*angles(i, j)))


def intervened_labels(labels: np.ndarray, concept: str, value: float) -> tuple[np.ndarray, bool]:
    """The true labels after do(concept = value) on rows of (pendulum index, light index, shadow
    length, shadow position), and whether the simulator can produce them.

    The simulator's graph: pendulum angle, light angle -> shadow length, shadow position. Setting an
    angle keeps the other and recomputes the shadow from the formulas; setting a shadow property
    keeps both angles and the other shadow property, a scene the simulator never renders (its
    shadow always follows from the angles), so the second value is False for those."""
    check_choices("pendulum concept", [concept], CONCEPTS)
    out = np.array(labels, dtype=np.float64, copy=True).reshape(-1, 4)
    k = CONCEPTS.index(concept)
    out[:, k] = value
    if k >= 2:
        return out, False
    for row in out:
        row[2:] = shadow(*angles(row[0], row[1]))
    return out, True


def render_labels(labels: np.ndarray, renderer: PendulumRenderer | None = None) -> torch.Tensor:
    """Float (n, 3, 96, 96) images in [0, 1] of scenes given by concept labels (n, 4); the shadow is
    drawn as the labels say, so intervened shadows render too."""
    renderer = renderer or PendulumRenderer()
    rows = np.asarray(labels, dtype=np.float64).reshape(-1, 4)
    images = [renderer.render(*angles(i, j), cast=(length, mid)) for i, j, length, mid in rows]
    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()).float().div_(255.0)


def grid_indices() -> list[tuple[int, int]]:
    """The 7308 (i, j) pairs in generation order (i outer, j inner)."""
    return [(i, j) for i in I_RANGE for j in J_RANGE]


def is_test(n: int) -> bool:
    """CausalVAE's split: a counter sends image n to test when n > 0 and n % 4 == 0 (1826 of 7308)."""
    return n > 0 and n % 4 == 0


def generate(progress: bool = True) -> dict[str, np.ndarray]:
    """Render the whole grid: images (7308, 96, 96, 3) uint8 plus i, j, shadow length/position."""
    renderer = PendulumRenderer()
    pairs = grid_indices()
    images = np.empty((len(pairs), 96, 96, 3), np.uint8)
    labels = np.empty((len(pairs), 4), np.float64)
    iterator = pairs
    if progress:
        from rich.progress import track

        iterator = track(pairs, description="rendering pendulum")
    for n, (i, j) in enumerate(iterator):
        images[n] = renderer.render(*angles(i, j))
        labels[n] = concept_labels(i, j)
    return {"images": images, "labels": labels, "test": np.array([is_test(n) for n in range(len(pairs))])}


def load_pendulum(split: str = "train", cache: Path | None = None) -> ImageDataset:
    """Pendulum split as (N, 3, 96, 96) uint8 with the four concept labels; generated once, then cached."""
    check_choices("split", [split], TRAIN_TEST)
    path = (cache or cache_dir()) / CACHE_NAME
    if not path.exists():
        arrays = generate()
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels, test = npz["images"], npz["labels"], npz["test"]
    except (OSError, KeyError, ValueError) as err:
        raise DataFileError(f"{path}: corrupt pendulum cache ({err}); delete it to regenerate") from None
    keep = test if split == "test" else ~test
    tensor = torch.from_numpy(np.ascontiguousarray(images[keep].transpose(0, 3, 1, 2)))
    values = torch.from_numpy(labels[keep]).float()
    return ImageDataset("pendulum", tensor, {name: values[:, k] for k, name in enumerate(CONCEPTS)})
