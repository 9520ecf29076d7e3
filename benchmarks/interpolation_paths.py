"""Linear against spherical latent interpolation on trained VAEs, scored by a classifier, one seed a
pair of folders; prints a markdown table of mean +- sd over seeds and writes every record to --out.

    python benchmarks/interpolation_paths.py --out runs/interp \\
        --seed-run reports/losocs/runs/vae:reports/losocs/predictors/classifier \\
        --seed-run reports/losocs/seed-1/runs/vae:reports/losocs/seed-1/predictors/classifier

Cohorts: 4 -> 7 pairs and random -> random pairs of test images (n each); every seed's VAE sees the
same pairs. Each cell: a seed's mean over its paths, then mean +- sd over seeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cfae.experiments.cdvae_gan_report import markdown_table, seed_cell
from cfae.experiments.interpolate_job import write_interpolations

COHORTS = {"4 -> 7": (4, 7), "random -> random": (None, None)}
PATHS = ("linear", "slerp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed-run", action="append", required=True, help="RUN:CLASSIFIER folders of one seed (repeat)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs and JSON records (must not exist)")
    parser.add_argument("-n", type=int, default=500, help="pairs per cohort")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out} already exists; choose another --out")
    records: dict[tuple[str, str], list[dict]] = {}
    for k, pair in enumerate(args.seed_run):
        run, _, classifier = pair.partition(":")
        for cohort, (start, end) in COHORTS.items():
            for path in PATHS:
                image = args.out / f"seed{k}-{cohort.replace(' -> ', '-to-')}-{path}.png"
                write_interpolations(Path(run), args.n, args.steps, path, start, end, Path(classifier), image)
                records.setdefault((cohort, path), []).append(json.loads(image.with_suffix(".json").read_text()))
    rows = []
    for (cohort, path), found in records.items():
        scores = [r["classifier"] for r in found]
        rows.append([cohort, path, str(len(found)), seed_cell([r["norm_dip"]["mean"] for r in found]),
                     seed_cell([r["smoothness_cv"]["mean"] for r in found]),
                     seed_cell([s["neither_share"]["mean"] for s in scores]),
                     seed_cell([s["switch_point"]["mean"] for s in scores])])
    print(markdown_table(["cohort", "path", "seeds", "norm dip", "smoothness CV", "frames in neither class",
                          "switch point t"], rows))


if __name__ == "__main__":
    main()
