import json
import numpy as np
import pytest
import torch

from cfae.data.groundtruth import ShapesSpace, all_combinations, flat_index
from cfae.metrics.disentanglement import beta_vae_score, factor_vae_score, irs, mig, modularity_explicitness
from cfae.metrics.predictive import dci, dci_from_importance, sap


class FactorSpace:
    """A ground-truth space whose 'observation' is the factor vector itself."""

    factor_names = ("a", "b", "c", "d")
    factor_sizes = (3, 6, 10, 8)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], 1)

    def render(self, factors):
        return torch.from_numpy(np.asarray(factors, dtype=np.float32))


SIZES = np.array(FactorSpace.factor_sizes) - 1.0


def identity(x):
    return x.numpy() / SIZES


def noise(x):
    return np.random.default_rng(int(x.sum()) % 1000).normal(size=x.shape)


def mixed(x):
    codes = identity(x)
    a, b = codes[:, 2].copy(), codes[:, 3].copy()
    codes[:, 2], codes[:, 3] = a + b, a - b
    return codes


def permuted(x):
    return identity(x)[:, [3, 0, 2, 1]]


SPACE = FactorSpace()
RUNS = {
    "beta_vae_eval": lambda rep, seed, space=SPACE: beta_vae_score(space, rep, np.random.default_rng(seed), num_train=600, num_eval=300),
    "factor_vae_eval": lambda rep, seed, space=SPACE: factor_vae_score(space, rep, np.random.default_rng(seed), num_train=400,
                                                          num_eval=200, num_variance_estimate=2000),
    "mig": lambda rep, seed, space=SPACE: mig(space, rep, np.random.default_rng(seed), num_train=3000),
    "dci_disentanglement": lambda rep, seed, space=SPACE: dci(space, rep, np.random.default_rng(seed), num_train=1000, num_test=500),
    "modularity": lambda rep, seed, space=SPACE: modularity_explicitness(space, rep, np.random.default_rng(seed), num_train=2000, num_test=1000),
    "sap": lambda rep, seed, space=SPACE: sap(space, rep, np.random.default_rng(seed), num_train=2000, num_test=1000),
    "irs": lambda rep, seed, space=SPACE: irs(space, rep, np.random.default_rng(seed), num_train=3000),
}


def score(name, rep, seed=0):
    return RUNS[name](rep, seed)[name]


@pytest.mark.parametrize("name", ["beta_vae_eval", "factor_vae_eval", "mig", "dci_disentanglement", "modularity"])
def test_identity_representation_scores_near_one(name):
    assert score(name, identity) > 0.85


def test_random_representation_scores_near_chance():
    assert score("beta_vae_eval", noise) < 0.45  # chance is 1/4
    assert score("mig", noise) < 0.05
    assert score("sap", noise) < 0.05


@pytest.mark.parametrize("name, margin", [("mig", 0.1), ("dci_disentanglement", 0.1), ("modularity", 0.05),
                                          ("beta_vae_eval", 0.05), ("sap", 0.03)])
def test_mixing_two_factors_scores_lower(name, margin):
    # SAP is small even for the identity here: one linear SVM on one code separates few of 10 classes
    assert score(name, mixed) < score(name, identity) - margin


@pytest.mark.parametrize("name", list(RUNS))
def test_permuting_codes_changes_no_score(name):
    assert score(name, permuted, seed=3) == pytest.approx(score(name, identity, seed=3), abs=0.02)


def test_dci_from_importance_closed_forms():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    d, c = dci_from_importance(np.ones((3, 3)))
    assert d == pytest.approx(0.0, abs=1e-9) and c == pytest.approx(0.0, abs=1e-9)
    # 4 codes x 2 factors. Disentanglement (entropy base 2 per code): codes 0, 1 score 1, code 2
    # (split evenly) 0, code 3 carries no weight -> 0.25 + 0.25 = 0.5. Completeness (entropy base
    # 4 = number of codes per factor): each factor split over two codes, H = log 2 / log 4 = 1/2 -> 0.5.
    importance = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert dci_from_importance(importance) == pytest.approx((0.5, 0.5))
    assert dci_from_importance(np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 1.0]])) == pytest.approx((1.0, 1 - 0.5 * np.log(2) / np.log(3)))


def test_explicitness_and_irs_ranges():
    result = modularity_explicitness(SPACE, identity, np.random.default_rng(0), num_train=2000, num_test=1000)
    assert result["explicitness_test"] > 0.9
    assert irs(SPACE, identity, np.random.default_rng(0), num_train=3000)["irs"] > irs(SPACE, noise, np.random.default_rng(0), num_train=3000)["irs"]


def test_shapes_space_renders_sampled_factors():
    space = ShapesSpace()
    factors = space.sample_factors(7, np.random.default_rng(0))
    images = space.render(factors)
    assert images.shape == (7, 1, 64, 64) and images.dtype == torch.float32 and images.max() == 1.0


def test_flat_index_follows_the_dsprites_bases():
    sizes = ShapesSpace.factor_sizes
    factors = np.array([[2, 5, 39, 31, 31], [1, 0, 3, 0, 7]])
    assert flat_index(factors, sizes).tolist() == (factors @ np.array([245760, 40960, 1024, 32, 1])).tolist()
    combos = all_combinations((2, 3, 4))
    assert len(combos) == 24 and (flat_index(combos, (2, 3, 4)) == np.arange(24)).all()


@pytest.mark.parametrize("name", ["beta_vae_eval", "factor_vae_eval", "mig", "irs"])
def test_tabulated_codes_give_the_same_scores(name):
    from cfae.metrics.code_table import tabulate

    calls = []
    space, lookup = tabulate(SPACE, mixed, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (1440, 1440)
    assert RUNS[name](lookup, 3, space)[name] == pytest.approx(RUNS[name](mixed, 3)[name], abs=1e-6)


def test_beta_vae_recall_shows_which_fixed_factors_are_confused():
    def blind_to_c_and_d(x):
        return identity(x)[:, :2]

    recall = beta_vae_score(SPACE, blind_to_c_and_d, np.random.default_rng(0), num_train=600, num_eval=300)["beta_vae_eval_recall"]
    assert min(recall[:2]) > 0.95
    assert min(recall[2:]) < 0.5 and sum(recall[2:]) == pytest.approx(1.0, abs=0.25)  # c and d share one guess


def _image_table(sizes=(2, 3, 4)):
    classes = all_combinations(sizes)[::-1].copy()  # stored in another order than flat_index
    images = np.zeros((len(classes), 1, 8), dtype=np.uint8)
    images[np.arange(len(classes)), 0, classes[:, 1] + classes[:, 2]] = 1
    return images, classes


def test_image_table_space_renders_each_combination_by_lookup():
    from cfae.data.groundtruth import ImageTableSpace

    images, classes = _image_table()
    space = ImageTableSpace(images, classes, ("a", "b", "c"), (2, 3, 4))
    rendered = space.render(np.array([[1, 2, 3], [0, 0, 0]]))
    assert rendered.shape == (2, 1, 1, 8)
    assert rendered[0, 0, 0].argmax() == 5 and rendered[1, 0, 0].argmax() == 0 and rendered.sum() == 2


def test_image_table_space_names_missing_combinations():
    from cfae.data.groundtruth import ImageTableSpace
    from cfae.data.idx import DataFileError

    images, classes = _image_table()
    with pytest.raises(DataFileError, match="dsprites.npz: 1 of 24 factor combinations have no image"):
        ImageTableSpace(images[1:], classes[1:], ("a", "b", "c"), (2, 3, 4), source="dsprites.npz")


def test_only_spaces_smaller_than_a_suite_are_tabulated():
    from cfae.metrics.code_table import worth_tabulating

    assert worth_tabulating(ShapesSpace()) and worth_tabulating(SPACE)
    big = FactorSpace()
    big.factor_sizes = (100, 100, 100, 100)
    assert not worth_tabulating(big)


def test_a_selected_metric_scores_as_in_the_full_suite():
    from cfae.metrics.disentanglement import disentanglement_suite

    full = disentanglement_suite(SPACE, mixed, seed=2, fast=True)
    alone = disentanglement_suite(SPACE, mixed, seed=2, fast=True, only=("beta_vae", "mig"))
    assert set(alone) == {"beta_vae_train", "beta_vae_eval", "beta_vae_eval_recall", "mig"}
    assert alone["beta_vae_eval"] == full["beta_vae_eval"] and alone["mig"] == full["mig"]
    with pytest.raises(ValueError, match="unknown metric 'higgins'; valid choices: beta_vae, factor_vae"):
        disentanglement_suite(SPACE, mixed, only=("higgins",))
    assert disentanglement_suite(SPACE, mixed, seed=2, sample_divisor=50, only=("mig",))["mig"] == full["mig"]
    with pytest.raises(ValueError, match="sample_divisor must be >= 1, got 0"):
        disentanglement_suite(SPACE, mixed, only=("mig",), sample_divisor=0)


def test_sign_test_closed_forms():
    from cfae.experiments.betavae_report import sign_test_p

    assert sign_test_p(5, 0) == pytest.approx(2 / 32)
    assert sign_test_p(0, 5) == pytest.approx(2 / 32)
    assert sign_test_p(9, 1) == pytest.approx(2 * 11 / 1024)
    assert sign_test_p(2, 1) == 1.0 and sign_test_p(3, 3) == 1.0 and sign_test_p(0, 0) == 1.0


def test_paired_table_subtracts_the_vae_of_the_same_seed():
    from cfae.experiments.betavae_report import paired_table

    # listed in other orders, and seed 2 has no VAE run: pairs go by "seed", not by position
    scores = {"VAE": [{"seed": 1, "beta_vae_eval": 0.70, "mig": 0.10}, {"seed": 0, "beta_vae_eval": 0.80, "mig": 0.05}],
              "beta-VAE (beta 4)": [{"seed": 0, "beta_vae_eval": 0.90, "mig": 0.04},
                                    {"seed": 2, "beta_vae_eval": 0.10, "mig": 0.90},
                                    {"seed": 1, "beta_vae_eval": 0.74, "mig": 0.10}],
              "beta-TCVAE (beta 6)": [{"seed": 0, "beta_vae_eval": 0.85, "mig": 0.15}],
              "FactorVAE (gamma 35)": [{"seed": 1, "beta_vae_eval": 0.60, "mig": 0.30}],
              "PCA": [{"seed": 0, "beta_vae_eval": 0.84, "mig": 0.07}]}
    table = paired_table(scores, keys=("beta_vae_eval", "mig"))
    assert "| beta-TCVAE (beta 6) | +5 +- 0 (1 of 1 higher, sign test p 1) | +0.1 +- 0 (1 of 1 higher" in table
    assert "| FactorVAE (gamma 35) | -10 +- 0 (0 of 1 higher, sign test p 1) | +0.2 +- 0 (1 of 1 higher" in table
    assert "PCA" not in table  # a baseline is not a model trained beside the VAE
    # Higgins: +10 and +4 points -> mean +7, sd 4.2; MIG: -0.01 and 0 -> mean -0.005, neither higher
    assert ("| beta-VAE (beta 4) | +7 +- 4.2 (2 of 2 higher, sign test p 0.5) "
            "| -0.005 +- 0.0071 (0 of 2 higher, sign test p 1) |") in table  # one tie, left out
    assert paired_table({"beta-VAE (beta 4)": scores["beta-VAE (beta 4)"]}) == ""


def test_scores_over_training_reads_every_epoch_count_of_each_run(tmp_path):
    from cfae.experiments.betavae_dsprites import run_folder, scores_over_training
    from cfae.experiments.betavae_report import training_table

    written = {("vae", 1.0, 0, 20): 0.78, ("vae", 1.0, 1, 20): 0.80, ("vae", 1.0, 0, 40): 0.82,
               ("vae", 4.0, 0, 40): 0.90, ("beta-tcvae", 4.0, 1, 20): 0.85, ("factor-vae", 4.0, 0, 20): 0.70}
    for (name, beta, seed, epochs), higgins in written.items():
        folder = run_folder(tmp_path, beta, 10, seed, name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"disentanglement-e{epochs}.json").write_text(json.dumps({"beta_vae_eval": higgins, "mig": 0.1}))
    (run_folder(tmp_path, 1.0, 10, 0) / "higgins-e40.json").write_text("{}")  # the sweep's file is not a suite score
    learned = (("vae", 1.0), ("vae", 4.0), ("beta-tcvae", 4.0), ("factor-vae", 4.0))
    history = scores_over_training(tmp_path, learned, 10, (0, 1))
    assert {name: sorted(h) for name, h in history.items()} == {"VAE": [20, 40], "beta-VAE (beta 4)": [40],
                                                                 "beta-TCVAE (beta 4)": [20],
                                                                 "FactorVAE (gamma 4)": [20]}  # their own folders
    assert history["FactorVAE (gamma 4)"][20][0]["beta_vae_eval"] == 0.70
    assert history["beta-TCVAE (beta 4)"][20][0]["beta_vae_eval"] == 0.85
    assert [r["beta_vae_eval"] for r in history["VAE"][20]] == [0.78, 0.80]  # seed order
    table = training_table(history, keys=("beta_vae_eval", "mig"))
    lines = table.splitlines()
    assert lines[2] == "| VAE | 20 | 2 | 79.00 +- 1.41 | 0.100 +- 0.000 |"  # 20 sorts before 40
    assert lines[3] == "| VAE | 40 | 1 | 82.00 +- 0.00 | 0.100 +- 0.000 |"


def test_each_learned_row_sets_its_own_weight_option():
    from cfae.experiments.betavae_dsprites import _model
    from cfae.models import build_model

    model = build_model("factor-vae", input_shape=(1, 64, 64), **_model(10, "mlp", 35.0, "factor-vae"))
    assert model.config.gamma == 35.0 and model.config.hidden == (1200, 1200)
    assert _model(10, "mlp", 6.0, "beta-tcvae")["beta"] == 6.0 and _model(10, "mlp", 4.0)["beta"] == 4.0


def twin_first_code(x):
    """The identity with factor a's code twice: splits on the twins tie, so random_state decides them."""
    codes = identity(x)
    return np.concatenate([codes[:, :1], codes], axis=1)


def test_dci_is_reproducible_and_does_not_depend_on_its_threads():
    run = lambda workers: dci(SPACE, twin_first_code, np.random.default_rng(5), num_train=600, num_test=300, workers=workers)
    serial = run(1)
    assert run(1) == serial
    assert run(3) == serial


def test_dci_rejects_zero_workers_before_sampling():
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        dci(SPACE, identity, np.random.default_rng(0), num_train=10, num_test=10, workers=0)


def test_discretize_numbers_equal_width_bins_from_one_to_bins_per_row():
    from cfae.metrics.factor_stats import discretize

    values = np.stack([np.arange(20.0), np.arange(20.0)[::-1] * 3 - 5])  # each row spans 20 equal bins
    expected = np.arange(1, 21)
    assert np.array_equal(discretize(values, bins=20), np.stack([expected, expected[::-1]]))  # the maximum in bin 20
    assert np.array_equal(discretize(np.array([[0.0, 0.4, 0.6, 1.0]]), bins=2), [[1, 1, 2, 2]])


def test_each_row_s_traversals_get_a_file_of_their_own():
    from cfae.experiments.betavae_report import row_name, traversal_file

    rows = [row_name(1, "vae"), row_name(4, "vae"), row_name(16, "vae"), row_name(10, "factor-vae"),
            row_name(100, "factor-vae"), row_name(6, "beta-tcvae"), row_name(0.5, "beta-tcvae")]
    files = [traversal_file(row) for row in rows]
    assert len(set(files)) == len(rows) and files[0] == "traversals_vae.png"
    assert files[3] == "traversals_factorvae-gamma-10.png" and files[6] == "traversals_beta-tcvae-beta-0-5.png"
