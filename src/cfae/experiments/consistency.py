"""`cfae reproduce consistency`: seed 003's interventional consistency study on MNIST or generated shapes.

Families AE, beta-VAE and SAE, each plain, X (XBlock), XC-I (invariance training) and XC-E
(equivariance training), for each latent size and seed. Per run: the INV / EQV / SCN matrices,
the invariance summary (Figure 5b), self-consistency under posterior, hybrid and uniform draws
(Table 2), XBlock mask sparsity (Table 1), MMD between the codes and their hybridised version
(Figure 8), Leeb's latent response matrix, FID of reconstructions, hybrid samples and traversals
(Figure 5a), and traversal response errors (Figure 2). Every run and score is kept under OUT, so
an interrupted reproduction resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from cfae import jsonio
from cfae.counterfactual.hybrid import SAMPLING_MODES, double_interventions, sample_codes
from cfae.data import get_dataset
from cfae.data.registry import ground_truth_space
from cfae.data.base import ImageDataset
from cfae.experiments.cached import feature_backend, trained_run
from cfae.metrics.consistency import (consistency_matrices, hybrid_mmd, invariance_summary, latent_response_matrix,
                                      mask_sparsity, self_consistency_scales, traversal_response)
from cfae.metrics.encode import encode_dataset
from cfae.metrics.fid import features_of, fid, gaussian_statistics
from cfae.metrics.groundtruth import counterfactual_batch, single_dimension_counterfactuals
from cfae.metrics.pixels import mean_squared_error
from cfae.registry import check_choices
from cfae.rng import seeded
from cfae.train.config import TrainConfig
from cfae.train.provenance import stamped
from cfae.train.run import RunConfig
from cfae.viz import consistency as figures
from cfae.viz.grid import save_image_grid

FAMILIES = {"ae": "AE", "vae": "VAE", "sae": "SAE", "avae": "AVAE"}
ONLY_PLAIN = {"avae"}  # the seed compares AVAE (Cemgil et al. 2020) as it is, without X or XC variants
RESIDUAL = {"xblock": True, "xblock_residual": True}  # Z_i = N_i + f_i(...) (cfae.nn.xblock); not in the seed
VARIANTS = {"plain": {}, "X": {"xblock": True}, "XC-I": {"xblock": True, "consistency": "invariance"},
            "XC-E": {"xblock": True, "consistency": "equivariance"},
            "Xr": RESIDUAL, "XCr-I": {**RESIDUAL, "consistency": "invariance"},
            "XCr-E": {**RESIDUAL, "consistency": "equivariance"}}
SEED_VARIANTS = ("plain", "X", "XC-I", "XC-E")
BETA = 4.0  # the seed's "beta-VAE" gives no beta
# "seed": the Appendix settings (depth 12, 32 filters, 3 poolings; Adam 1e-4 halved every 30 epochs;
# 100k iterations of 128 = 213 epochs of MNIST). "cpu": depth 3, 5,000 images, 6 epochs, lr 1e-3.
# gt_divisor: the ground-truth scores (MIG, DCI) use disentanglement_lib's sample counts (10,000
# train, 5,000 test) divided by it; DCI's gradient boosting on 10,000 codes of 113 factor classes
# takes over 10 minutes on a CPU core, so "cpu" uses 2,000 / 1,000.
PRESETS = {
    "seed": {"hidden": (32,) * 12, "epochs": 213, "limit": None, "lr": 1e-4, "latent_dims": (6, 12, 32), "samples": 200,
             "interventions": 10, "gt_divisor": 1},
    "cpu": {"hidden": (32, 32, 32), "epochs": 6, "limit": 5000, "lr": 1e-3, "latent_dims": (6,), "samples": 200,
            "interventions": 10, "gt_divisor": 5},
    "test": {"hidden": (8, 8, 8), "epochs": 1, "limit": 300, "lr": 1e-3, "latent_dims": (3,), "samples": 40,
             "interventions": 3, "gt_divisor": 50},
}
DATASETS = {"mnist": False, "shapes": True}  # True: a renderable ground truth (disentanglement, true counterfactuals)
SEED_TABLE1 = {6: 41.66, 12: 45.83, 32: 48.44}
SEED_TABLE2 = {"posterior": (0.96, 0.96, 0.95), "hybrid": (0.75, 0.81, 0.88), "uniform": (0.66, 0.68, 0.80)}


def label(family: str, variant: str) -> str:
    """The seed's names: AE, XAE, XCAE-I, XCAE-E (likewise VAE, SAE); residual XBlocks XrAE, XCrAE-I, XCrAE-E."""
    name = FAMILIES[family]
    if variant == "plain":
        return name
    block, _, penalty = variant.partition("-")
    return f"{block}{name}" + (f"-{penalty}" if penalty else "")


def block_variant(variant: str) -> str:
    """The X variant that a consistency-trained variant adds its penalty to: XC-I -> X, XCr-E -> Xr."""
    return variant.partition("-")[0].replace("C", "")


def size_key(latent_dim: int, unit_dim: int = 1) -> str:
    """Results key of one model size: latent-6, or latent-6-unit-4 for XBlock cause units of 4
    dimensions (the seed's S4, Appendix Table 3)."""
    return f"latent-{latent_dim}" + (f"-unit-{unit_dim}" if unit_dim > 1 else "")


def run_config(dataset: str, family: str, variant: str, latent_dim: int, seed: int, preset: dict, data_root,
               progress: bool, unit_dim: int = 1) -> RunConfig:
    options = {"latent_dim": latent_dim, "network": "structural" if family == "sae" else "pooled",
               "hidden": preset["hidden"], **VARIANTS[variant]}
    if unit_dim > 1:
        options["unit_dim"] = unit_dim
    if family == "vae":
        options["beta"] = BETA
    train = TrainConfig(epochs=preset["epochs"], batch_size=128, lr=preset["lr"], lr_schedule="step",
                        lr_step_epochs=30, seed=seed, progress=progress)
    return RunConfig(model=family, dataset=dataset, data_root=data_root, limit=preset["limit"], model_options=options,
                     train=train)


@torch.no_grad()
def training_codes(model, train: ImageDataset, seed: int, size: int = 5000) -> torch.Tensor:
    """One posterior draw per training image (the first `size`): samples of the aggregate posterior Q(N)."""
    with seeded(seed):
        return encode_dataset(model, train.head(size)).sample(torch.Generator().manual_seed(seed))


@torch.no_grad()
def traversal_codes(codes: torch.Tensor, count: int, steps: int = 10, seed: int = 0) -> torch.Tensor:
    """count codes for traversal images: random rows with one random dimension set to one of `steps`
    values spread over its 1-99% quantiles (the images Figure 5a's traversal FID scores)."""
    gen = torch.Generator().manual_seed(seed)
    rows = codes[torch.randint(len(codes), (count,), generator=gen)].clone()
    dims = torch.randint(codes.shape[1], (count,), generator=gen)
    levels = torch.quantile(codes, torch.linspace(0.01, 0.99, steps), dim=0)  # (steps, n)
    rows[torch.arange(count), dims] = levels[torch.randint(steps, (count,), generator=gen), dims]
    return rows


@torch.no_grad()
def decode_all(model, codes: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.decode(part) for part in codes.split(500)])


@torch.no_grad()
def evaluate_run(model, codes: torch.Tensor, test_x: torch.Tensor, backend, real_stats, seed: int, samples: int = 200,
                 interventions: int = 10) -> dict:
    """Every consistency score of one trained model at its training codes (INV / EQV at `samples`
    codes x `interventions` values per dimension) and FIDs against test_x's feature statistics."""
    matrices = consistency_matrices(model, codes, interventions=interventions, samples=samples, seed=seed,
                                    unit_dim=model.config.unit_dim if model.config.xblock else 1)
    scores = {key: value.tolist() for key, value in matrices.items()}
    scores["invariance"] = invariance_summary(matrices["INV"])
    scores["equivariance"] = float(matrices["EQV"].mean())
    by_mode = {mode: self_consistency_scales(model, codes, mode, 5 * samples, seed) for mode in SAMPLING_MODES}
    for name, scale in (("self_consistency", "codes"), ("self_consistency_response_scale", "response")):
        scores[name] = {mode: float(scn[scale].mean()) for mode, scn in by_mode.items()}
    scores["hybrid_mmd"] = hybrid_mmd(codes, seed=seed)
    scores["latent_response"] = latent_response_matrix(model, codes, samples=samples, seed=seed).tolist()
    walk = traversal_response(model, codes, dim=codes.shape[1] - 1, seed=seed)
    scores["traversal"] = {"values": walk["values"].tolist(), "errors": walk["errors"].tolist()}
    if model.config.xblock:
        scores["mask"] = {**mask_sparsity(model.xblock.adjacency()), "gates": model.xblock.gates().tolist()}
    n = len(test_x)
    recon = torch.cat([model.reconstruct(part) for part in test_x.split(500)])
    hybrid = decode_all(model, sample_codes(codes, n, "hybrid", torch.Generator().manual_seed(seed)))
    scores["mse"] = mean_squared_error(recon, test_x)
    scores["fid_reconstruction"] = fid(backend, None, recon, real_stats)
    scores["fid_hybrid"] = fid(backend, None, hybrid, real_stats)
    scores["fid_traversal"] = fid(backend, None, decode_all(model, traversal_codes(codes, n, seed=seed)), real_stats)
    return scores


def ground_truth_scores(model, space, seed: int, divisor: int) -> dict:
    """On a renderable dataset: MIG and DCI disentanglement (sample counts / divisor), and
    single-dimension counterfactuals against the true render (cfae.metrics.groundtruth)."""
    from cfae.metrics.disentanglement import disentanglement_suite
    from cfae.metrics.factor_stats import model_representation

    scores = disentanglement_suite(space, model_representation(model), seed=seed, only=("mig", "dci"),
                                   sample_divisor=divisor)
    return {**scores, "counterfactual": single_dimension_counterfactuals(model, space, 5000 // divisor, seed)}


@torch.no_grad()
def run_figures(model, codes: torch.Tensor, test_x: torch.Tensor, folder: Path, name: str, seed: int,
                space=None) -> None:
    """Image figures of one run: traversals (seed Figures 2 and 6; one row per dimension), inputs /
    reconstructions / hybrid samples (Figure 7), hybridisation (Figure 34) and double interventions on
    N and, with an XBlock, on Z (Figure 35); with a ground-truth space, true counterfactuals (rows:
    scene, true render with one factor changed, the model's single-dimension counterfactual, D(E(true)))."""
    gen = torch.Generator().manual_seed(seed)
    n, steps = codes.shape[1], 10
    base = codes[torch.randint(len(codes), (1,), generator=gen)].repeat(n * steps, 1)
    levels = torch.quantile(codes, torch.linspace(0.01, 0.99, steps), dim=0)
    for dim in range(n):
        base[dim * steps : (dim + 1) * steps, dim] = levels[:, dim]
    save_image_grid(folder / f"traversals_{name}.png", model.decode(base), nrow=steps)
    hybrids = model.decode(sample_codes(codes, 10, "hybrid", gen))
    save_image_grid(folder / f"samples_{name}.png", torch.cat([test_x[:10], model.reconstruct(test_x[:10]), hybrids]), nrow=10)
    picks = codes[torch.randperm(len(codes), generator=gen)[:8]]
    rows = torch.stack([double_interventions(model, picks[k], picks[k + 4], picks[k + 4]).diagonal().movedim(-1, 0)
                        for k in range(4)])
    figures.hybridisation_rows(model.decode(picks[:4]), model.decode(picks[4:]), rows, folder / f"hybridisation_{name}.png")
    references = model.decode(picks[:3])
    for on in ("noise", "causes") if model.config.xblock else ("noise",):
        grid = double_interventions(model, picks[0], picks[1], picks[2], on=on)
        figures.double_intervention_grid(grid, references, folder / f"double_{on}_{name}.png")
    if space is not None:
        batch = counterfactual_batch(model, space, 10, seed)
        save_image_grid(folder / f"true_counterfactuals_{name}.png",
                        torch.cat([batch[k] for k in ("x", "target", "counterfactual", "reencoded")]), nrow=10)


def reproduce(out: str | Path, dataset: str = "mnist", preset_name: str = "cpu", seeds: tuple[int, ...] = (0, 1, 2),
              latent_dims: tuple[int, ...] | None = None, families: tuple[str, ...] = tuple(FAMILIES),
              variants: tuple[str, ...] = SEED_VARIANTS, epochs: int | None = None, limit: int | None = None,
              data_root: str | None = None, eval_size: int = 1000, progress: bool = True, report_only: bool = False,
              rescore: bool = False, unit_dim: int = 1, say: Callable[[str], None] = print) -> Path:
    """Train and score every (latent size, family, variant, seed), seed-major, on mnist or the
    generated shapes (which add the ground-truth scores); write OUT/results.json, the first seed's
    image figures and OUT/report.md. report_only: train nothing, write the report from the scores
    already in results.json (a reproduction cut short reports what finished, with its seed counts).
    unit_dim: dimensions of each XBlock cause unit (4: the seed's S4); X variants only.
    rescore: score every selected run already in results.json again from its checkpoint (after a
    metric changed), train nothing."""
    from cfae.experiments.consistency_report import write_report

    check_choices("family", families, FAMILIES)
    check_choices("dataset", [dataset], DATASETS)
    check_choices("variant", variants, VARIANTS)
    check_choices("preset", [preset_name], PRESETS)
    if unit_dim < 1 or (unit_dim > 1 and "plain" in variants):
        raise ValueError(f"--unit-dim {unit_dim}: cause units exist only in the XBlock and have at least 1 dimension; "
                         "with --unit-dim above 1 use --model-variants X,XC-I,XC-E")
    preset = {**PRESETS[preset_name], **{k: v for k, v in {"epochs": epochs, "limit": limit}.items() if v}}
    latent_dims = latent_dims or preset["latent_dims"]
    out = Path(out)
    train = get_dataset(dataset, "train", data_root, preset["limit"])
    test_data = get_dataset(dataset, "test", data_root, preset["limit"])
    backend, backend_record = feature_backend(out / "predictors" / "features", train, test_data)
    test_x = test_data.batch(slice(0, eval_size)).x
    real_stats = gaussian_statistics(features_of(backend, test_x))
    space = ground_truth_space(dataset) if DATASETS[dataset] else None
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for seed in () if report_only else seeds:
        for latent_dim in latent_dims:
            for family in families:
                for variant in (v for v in variants if family not in ONLY_PLAIN or v == "plain"):
                    key = f"{size_key(latent_dim, unit_dim)}/{family}/{variant}/seed-{seed}"
                    if (key in results) != rescore:  # rescore: only the runs already trained and scored
                        continue
                    folder = out / "runs" / key.replace("/", "-")
                    say(f"{label(family, variant)}, {size_key(latent_dim, unit_dim)}, seed {seed}: " + ("scored again from its checkpoint"
                        if rescore else f"{preset['epochs']} epochs on {len(train)} images"))
                    config = run_config(dataset, family, variant, latent_dim, seed, preset, data_root, progress, unit_dim)
                    model = trained_run(folder, config)
                    codes = training_codes(model, train, seed)
                    scores = evaluate_run(model, codes, test_x, backend, real_stats, seed, preset["samples"],
                                          preset["interventions"])
                    if space is not None:
                        scores["ground_truth"] = ground_truth_scores(model, space, seed, preset["gt_divisor"])
                    results[key] = stamped(scores, model)
                    if seed == seeds[0]:
                        tag = size_key(latent_dim, unit_dim).removeprefix("latent-")
                        run_figures(model, codes, test_x, out / "figures", f"{tag}_{family}_{variant}_seed{seed}", seed,
                                    space)
                    jsonio.write_json(path, results)
    results["setup"] = {"dataset": dataset, "preset": preset_name, **preset, "seeds": list(seeds), "latent_dims": list(latent_dims),
                        "unit_dim": unit_dim, "families": list(families), "variants": list(variants), "beta": BETA, "eval_size": len(test_x),
                        "feature_backend": backend.name, "feature_record": backend_record}
    jsonio.write_json(path, results)
    report = write_report(out, results)
    say(f"report written to {report.resolve()}")
    return report
