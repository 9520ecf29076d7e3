"""Pictures of counterfactual streams: a PNG strip and an animated GIF per stream, and the seed 002
figures (example streams, distance histograms, per-dimension R^2, frame changes, Siamese panel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from cfae.viz.figures import _save, plt
from cfae.viz.grid import image_grid, save_image_grid


def evenly_spaced(length: int, count: int) -> Tensor:
    """At most `count` frame indices from 0 to length - 1, first and last included."""
    return torch.linspace(0, length - 1, min(count, length)).round().long().unique()


def stream_strip(frames: Tensor, path: str | Path, count: int = 10, scale: int = 3) -> Path:
    """One row of `count` evenly spaced frames (first and last included) as a PNG."""
    picked = frames[evenly_spaced(len(frames), count)]
    return save_image_grid(path, picked, nrow=len(picked), scale=scale)


def stream_gif(frames: Tensor, path: str | Path, scale: int = 4, frame_ms: int = 60, hold_ms: int = 800) -> Path:
    """Every frame of a stream as an animated GIF (the last frame held)."""
    pictures = []
    for frame in frames:
        img = Image.fromarray(image_grid(frame[None], nrow=1, pad=0))
        pictures.append(img.resize((img.width * scale, img.height * scale), Image.NEAREST))
    durations = [frame_ms] * (len(pictures) - 1) + [hold_ms]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=durations, loop=0)
    return path


def example_streams(result, path: str | Path, rows: int = 8, count: int = 10, titles: list[str] | None = None) -> Path:
    """Seed Fig. 3: several streams, one per row, `count` evenly spaced frames each."""
    rows = min(rows, len(result))
    fig, axes = plt.subplots(rows, 1, figsize=(count * 0.9, rows * 1.05), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        frames = result.stream(i)[0]
        picked = frames[evenly_spaced(len(frames), count)]
        ax.imshow(image_grid(picked, nrow=count, pad=1), cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(titles[i] if titles else f"{int(result.lengths[i]) - 1} steps", rotation=0, ha="right",
                      va="center", fontsize=8)
    return _save(fig, path)


def straight_vs_stream(pairs: list[tuple[Tensor, Tensor, Tensor, Tensor]], path: str | Path) -> Path:
    """Seed Fig. 9: per stream, the straight line from its first code to its last decoded (top) above
    the stream's own frames (bottom), at the same frame positions, each frame titled with the target's
    probability. pairs: (straight frames, stream frames, straight probabilities, stream probabilities)."""
    count = len(pairs[0][0])
    fig, axes = plt.subplots(2 * len(pairs), count, figsize=(count * 0.85, len(pairs) * 2.1), squeeze=False)
    for k, pair in enumerate(pairs):
        for row, (frames, probabilities, label) in enumerate(zip(pair[:2], pair[2:], ("straight", "stream"))):
            for j, ax in enumerate(axes[2 * k + row]):
                ax.imshow(image_grid(frames[j][None], nrow=1, pad=0), cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"{float(probabilities[j]):.2f}", fontsize=6, pad=2)
                ax.set_xticks([])
                ax.set_yticks([])
            axes[2 * k + row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("p(target) above each frame", fontsize=8)
    return _save(fig, path)


def distance_histograms(cohorts: dict[str, tuple[Tensor, Tensor]], path: str | Path) -> Path:
    """Seed Figs. 4-7: per cohort, pairwise latent distances among start points and among end points."""
    fig, axes = plt.subplots(len(cohorts), 2, figsize=(9, 2.4 * len(cohorts)), squeeze=False)
    for (name, (start, end)), row in zip(cohorts.items(), axes):
        for ax, values, label in zip(row, (start, end), ("initial", "final")):
            ax.hist(values.numpy(), bins=60, color="tab:blue" if label == "initial" else "tab:orange")
            ax.set_title(f"{name}: {label} (mean {values.mean():.2f})", fontsize=9)
            ax.set_xlabel("latent distance")
    fig.tight_layout()
    return _save(fig, path)


def histogram(values: Tensor, path: str | Path, xlabel: str, title: str, bins: int = 50) -> Path:
    """One histogram (seed Fig. 10: mean per-dimension path R^2)."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    v = values[~torch.isnan(values)].numpy()
    ax.hist(v, bins=bins)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def frame_change_distributions(before: Tensor, after: Tensor, p: float, path: str | Path) -> Path:
    """Seed Fig. 11: consecutive-frame differences before and after the target probability passes p."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    top = float(torch.cat([before, after]).quantile(0.995)) if len(before) + len(after) else 1.0
    bins = np.linspace(0, max(top, 1e-6), 60)
    for values, label in ((before, f"p < {p}"), (after, f"p >= {p}")):  # an empty side keeps its legend entry
        ax.hist(values.numpy(), bins=bins, alpha=0.6, density=len(values) > 0, label=f"{label} ({len(values)})")
    ax.set_xlabel("mean |frame difference|")
    ax.legend()
    return _save(fig, path)


def candidate_panel(candidates: Tensor, optimised: Tensor, distances: Tensor, true_index: int, path: str | Path) -> Path:
    """Seed Fig. 8: an optimised image beside candidate originals, each with its Siamese distance and
    softmax(-distance) probability; the true original in green, distractors in red."""
    probs = torch.softmax(-distances, 0)
    fig, axes = plt.subplots(1, len(candidates) + 1, figsize=(2.1 * (len(candidates) + 1), 2.4))
    axes[0].imshow(optimised[0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("optimised", fontsize=9)
    for k, ax in enumerate(axes[1:]):
        ax.imshow(candidates[k, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        colour = "green" if k == true_index else "red"
        ax.set_title(f"Dist {distances[k]:.2f}\nProb {probs[k]:.2f}", fontsize=9, color=colour)
        for side in ax.spines.values():
            side.set_color(colour)
            side.set_linewidth(3)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def seed_dots(panels: dict[str, tuple[dict[str, list[float]], tuple[float, float] | None]], path: str | Path) -> Path:
    """One panel per score: each variant's per-seed values as dots, and the seed paper's mean (line)
    +- sd (band) where it reports one."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False)
    for ax, (title, (by_variant, paper)) in zip(axes[0], panels.items()):
        names = [name for name, values in by_variant.items() if values]
        for i, name in enumerate(names):
            values = by_variant[name]
            ax.plot(np.full(len(values), i) + np.linspace(-0.08, 0.08, len(values)), values, "o", color="tab:blue")
        if paper is not None:
            mean, sd = paper
            ax.axhline(mean, color="tab:red", lw=1, label="seed paper")
            ax.axhspan(mean - sd, mean + sd, color="tab:red", alpha=0.12)
            ax.legend(fontsize=7, loc="best")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
        ax.set_xlim(-0.5, max(len(names), 1) - 0.5)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
