"""morpho-scm: Morpho-MNIST drawn by the mechanism thickness -> intensity, and its true counterfactuals."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cfae.cli import app
from cfae.data import get_dataset
from cfae.data.morpho import measure
from cfae.data.morpho_scm import intensity_of, intervened_labels, sample_noise, sample_thickness, with_intensity
from cfae.data.worlds import MORPHO_SCM, PENDULUM, causal_world
from cfae.train.run import RunConfig


def test_thickness_is_half_plus_a_gamma_of_shape_10_and_rate_5():
    t = sample_thickness(200_000, seed=3)
    assert t.mean() == pytest.approx(0.5 + 10 / 5, abs=0.01)  # Gamma(10, rate 5): mean 2, variance 10 / 25
    assert t.std() == pytest.approx(np.sqrt(10) / 5, abs=0.005)
    assert t.min() > 0.5
    assert np.array_equal(sample_thickness(50, seed=3), t[:50])  # a limit keeps the same first draws
    assert np.array_equal(sample_noise(50, seed=3), sample_noise(500, seed=3)[:50])


def test_intensity_mechanism_closed_form():
    assert intensity_of(2.5, 0.0) == pytest.approx(64 + 191 / 2)
    assert intensity_of(3.0, -2.0) == pytest.approx(64 + 191 / 2)  # 2 (3 - 2.5) + 0.5 (-2) = 0
    assert intensity_of(2.5, 2.0) == pytest.approx(64 + 191 / (1 + np.exp(-1.0)))
    assert intensity_of(50.0, 0.0) == pytest.approx(255.0) and intensity_of(-50.0, 0.0) == pytest.approx(64.0)


def test_intensity_sets_the_median_of_the_foreground():
    image = torch.zeros(2, 1, 2, 4)
    image[0, 0, 0] = torch.tensor([1.0, 0.8, 0.6, 0.2])  # foreground (>= 0.5): 1.0, 0.8, 0.6 -> median 0.8
    image[1, 0, 1] = torch.tensor([1.0, 1.0, 0.5, 0.1])  # foreground: 1.0, 1.0, 0.5 -> median 1.0
    out = with_intensity(image, [100.0, 200.0]).float()
    assert out[0, 0, 0].tolist() == [125.0, 100.0, 75.0, 25.0]  # every pixel times 100 / 0.8
    assert out[1, 0, 1].tolist() == [200.0, 200.0, 100.0, 20.0]
    assert out[0, 0, 1].sum() == 0 and out[1, 0, 0].sum() == 0  # the background stays black
    clipped = with_intensity(image[:1], [240.0]).float()[0, 0, 0]  # 1.0 -> 300, clipped; the median stays 240
    assert clipped.tolist() == [255.0, 240.0, 180.0, 60.0]


def test_interventions_keep_each_examples_noise():
    labels, noise = np.array([[2.0, 150.0], [3.0, 220.0]]), np.array([0.4, -1.0])
    thick, simulable = intervened_labels(labels, noise, "thickness", 3.5)
    assert simulable and thick[:, 0].tolist() == [3.5, 3.5]
    assert thick[:, 1] == pytest.approx(intensity_of(3.5, noise))  # the child follows, with the same eps
    bright, _ = intervened_labels(labels, noise, "intensity", 90.0)
    assert bright[:, 0].tolist() == [2.0, 3.0] and bright[:, 1].tolist() == [90.0, 90.0]  # the parent stays
    with pytest.raises(ValueError, match="valid choices: thickness, intensity"):
        intervened_labels(labels, noise, "slant", 1.0)


def test_worlds_graphs_and_names():
    assert MORPHO_SCM.graph().tolist() == [[0, 1], [0, 0]]
    assert PENDULUM.graph().tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    with pytest.raises(ValueError, match="valid choices: morpho-scm, pendulum"):
        causal_world("mnist")


def test_the_data_is_its_own_null_counterfactual_and_thickness_moves_the_digit(shared_data):
    data = get_dataset("morpho-scm", "test", shared_data, limit=40)
    assert data.images.dtype == torch.uint8 and data.image_shape == (1, 28, 28)
    assert torch.equal(data.labels["label"], get_dataset("mnist", "test", shared_data, limit=40).labels["label"])
    rows = torch.arange(40)
    labels = MORPHO_SCM.labels_of(data, rows)
    assert labels[:, 1] == pytest.approx(intensity_of(labels[:, 0], data.labels["intensity_noise"].numpy()), rel=1e-5)
    # abduction, action and prediction with each example's own thickness give back its labels and its image
    for row in range(3):
        same, _ = MORPHO_SCM.intervene(data, [row], labels[row], "thickness", labels[row, 0])
        assert same[0] == pytest.approx(labels[row], rel=1e-5)
    assert torch.equal(MORPHO_SCM.draw(data, rows, labels), data.pixels(rows))
    thin, _ = MORPHO_SCM.intervene(data, rows, labels, "thickness", 1.5)
    thick, _ = MORPHO_SCM.intervene(data, rows, labels, "thickness", 4.0)
    measured = [measure(MORPHO_SCM.draw(data, rows, x))["thickness"].mean().item() for x in (thin, thick)]
    assert measured[0] + 1.5 < measured[1]  # re-measured, the set thickness shows
    assert (thick[:, 1] > thin[:, 1]).all()  # and the intensity follows its parent


def test_causalvae_takes_the_worlds_concepts_and_intervene_scores_against_the_truth(shared_data, tmp_path):
    runner, run = CliRunner(), tmp_path / "cvae"
    result = runner.invoke(app, ["train", "causalvae", "-d", "morpho-scm", "--data-root", str(shared_data), "--limit", "300",
                                 "--epochs", "1", "--batch-size", "100", "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    config = json.loads((run / "checkpoints" / "epoch-0001" / "config.json").read_text())["model"]
    assert config["concepts"] == ["thickness", "intensity"] and config["concept_loc"] == [2.5, 160.0]
    assert config["concept_scale"] == [0.63, 60.0]
    rescaled = RunConfig(model="causalvae", dataset="morpho-scm", model_options={"concept_scale": (0.63, 30.0)})
    model = rescaled.build_model((1, 28, 28))  # a standardisation given is kept; the rest comes from the dataset
    assert model.config.concept_scale == (0.63, 30.0) and model.config.concept_loc == (2.5, 160.0)
    scaled = runner.invoke(app, ["train", "causalvae", "-d", "morpho-scm", "--data-root", str(shared_data), "--limit", "100",
                                 "--epochs", "1", "--out", str(tmp_path / "scaled"), "--quiet", "-o", "concept_scale=[0.63,30]"])
    assert scaled.exit_code == 0, scaled.output  # the options are checked with the dataset's concepts filled in
    result = runner.invoke(app, ["counterfactual", "intervene", str(run), "--concept", "intensity", "--value", "200", "-n", "4"])
    assert result.exit_code == 0, result.output
    record = json.loads((run / "intervene-intensity=200" / "intervention.json").read_text())
    assert record["simulable"] and record["pixel_mse"] > 0 and set(record["handles"]) == {"thickness", "intensity"}
    bad = runner.invoke(app, ["counterfactual", "intervene", str(run), "--concept", "slant", "--value", "1",
                              "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "valid choices: thickness, intensity" in bad.output


def test_intervene_names_the_datasets_with_a_mechanism(shared_data, tmp_path):
    runner, run = CliRunner(), tmp_path / "vae"
    result = runner.invoke(app, ["train", "vae", "-d", "mnist", "--data-root", str(shared_data), "--limit", "100",
                                 "--epochs", "1", "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["counterfactual", "intervene", str(run)])
    assert bad.exit_code == 1 and "trained on 'mnist'" in bad.output and "valid choices: morpho-scm, pendulum" in bad.output
