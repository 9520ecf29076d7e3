"""Latent interpolation (cfae.counterfactual.interpolate), its path scores and `cfae counterfactual interpolate`."""

import json
import math

import pytest
import torch

from cfae.counterfactual.interpolate import interpolate, linear_path, slerp_path
from cfae.metrics.interpolation import neither_share, norm_dip, switch_point
from conftest import scored_here, tiny_dataset
from test_cli import invoke, trained_run  # noqa: F401  (the fixture is shared)
from test_stream_cli import classifier_dir  # noqa: F401


def test_linear_path_runs_from_the_first_code_to_the_second():
    a, b = torch.tensor([[0.0, 2.0]]), torch.tensor([[4.0, -2.0]])
    path = linear_path(a, b, torch.tensor([0.0, 0.25, 1.0]))
    assert path.shape == (1, 3, 2) and path[0].tolist() == [[0.0, 2.0], [1.0, 1.0], [4.0, -2.0]]


def test_slerp_keeps_the_norm_on_a_great_circle_and_falls_back_to_the_line():
    a, b = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 0.0]]), torch.tensor([[0.0, 1.0], [6.0, 0.0], [2.0, 2.0]])
    t = torch.linspace(0, 1, 5)
    path = slerp_path(a, b, t)
    assert torch.allclose(path[0, 2], torch.tensor([1.0, 1.0]) / math.sqrt(2))  # orthogonal unit codes: the arc's middle
    assert torch.allclose(path[0].norm(dim=1), torch.ones(5))
    assert torch.allclose(path[0, 1], torch.tensor([math.cos(math.pi / 8), math.sin(math.pi / 8)]))  # a quarter of the angle
    assert torch.allclose(path[:, 0], a) and torch.allclose(path[:, -1], b)
    assert torch.allclose(path[1:], linear_path(a[1:], b[1:], t))  # parallel codes, and a zero code: the line


def test_norm_dip_is_one_over_root_two_at_the_linear_midpoint_of_orthogonal_codes():
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    t = torch.linspace(0, 1, 3)
    assert norm_dip(linear_path(a, b, t)).item() == pytest.approx(1 / math.sqrt(2))
    assert norm_dip(slerp_path(a, b, t)).item() == pytest.approx(1.0)
    assert norm_dip(torch.tensor([[[1.0, 0.0], [0.5, 0.0], [3.0, 0.0]]])).item() == pytest.approx(0.5)  # shorter end 1
    assert norm_dip(torch.tensor([[[4.0, 0.0], [0.0, 3.0], [0.0, 2.0]]])).item() == pytest.approx(1.0)


def test_neither_share_and_switch_point_by_hand():
    labels = torch.tensor([[4, 4, 9, 7, 7], [1, 2, 3, 1, 1]])
    assert neither_share(labels, torch.tensor([4, 1]), torch.tensor([7, 1])).tolist() == pytest.approx([0.2, 0.4])
    t = torch.linspace(0, 1, 5)
    p_start = torch.tensor([[0.9, 0.6, 0.3, 0.1, 0.0], [0.9, 0.9, 0.9, 0.9, 0.9]])
    p_end = torch.tensor([[0.1, 0.3, 0.3, 0.8, 1.0], [0.1, 0.1, 0.1, 0.1, 0.1]])
    points = switch_point(p_start, p_end, t)
    assert points[0].item() == 0.75 and math.isnan(points[1].item())  # a tie is no switch; the second never switches


def test_interpolate_decodes_each_input_s_code_at_the_ends_and_names_bad_settings():
    from cfae.models.registry import build_model

    model = build_model("vae", latent_dim=3, hidden=(16,)).eval()
    data = tiny_dataset(6)
    start, end = data.batch(torch.arange(3)), data.batch(torch.arange(3, 6))
    result = interpolate(model, start, end, steps=4, path="slerp")
    assert result.counterfactuals.shape == (3, 4, 1, 28, 28) and result.codes_after.shape == (3, 4, 3)
    assert torch.allclose(result.counterfactuals[:, 0], model.reconstruct(start), atol=1e-6)
    assert torch.allclose(result.counterfactuals[:, -1], model.reconstruct(end), atol=1e-6)
    assert result.settings["path"] == "slerp" and result.settings["t"] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    with pytest.raises(ValueError, match="unknown interpolation path 'bezier'; valid choices: linear, slerp"):
        interpolate(model, start, end, path="bezier")
    with pytest.raises(ValueError, match="steps must be at least 2"):
        interpolate(model, start, end, steps=1)
    with pytest.raises(ValueError, match="3 start inputs but 2 end inputs"):
        interpolate(model, start, data.batch(torch.arange(2)))


def test_cli_interpolate_writes_the_grid_and_scores_the_paths(tmp_path, trained_run, classifier_dir):  # noqa: F811
    out = tmp_path / "interp.png"
    result = invoke("counterfactual", "interpolate", trained_run, "-n", 3, "--steps", 5, "--from-class", 4, "--to-class", 7,
                    "--classifier", classifier_dir, "--out", out)
    assert result.exit_code == 0, result.output
    assert "3 linear interpolations of 5 steps written to" in result.output and "frames in neither end's class" in result.output
    from PIL import Image

    assert Image.open(out).size[0] > 6 * 28  # 7 columns: start, 5 frames, end
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["layout"].startswith("3 rows (one a pair) x 7 columns") and len(record["start_indices"]) == 3
    assert scored_here(record) and 0 < record["norm_dip"]["mean"] <= 1
    scores = record["classifier"]
    assert 0 <= scores["neither_share"]["mean"] <= 1 and len(scores["mean_p_end_class"]) == 5
    assert invoke("counterfactual", "interpolate", trained_run, "--out", out).exit_code == 1  # never overwritten
    for args, message in ((["--path", "bezier"], "valid choices: linear, slerp"),
                          (["--from-class", 42], "--from-class 42: no test image of that class"),
                          (["--classifier", trained_run], "predictor")):
        bad = invoke("counterfactual", "interpolate", trained_run, "--out", tmp_path / "x.png", *args)
        assert bad.exit_code == 1 and message in bad.output, bad.output


def test_interpolate_names_a_dataset_without_class_labels(tmp_path, trained_run, monkeypatch):  # noqa: F811
    from cfae.data.base import ImageDataset
    from cfae.experiments import interpolate_job

    unlabelled = ImageDataset("unlabelled", tiny_dataset(8).images, {})

    class Config:
        def load_split(self, split):
            return unlabelled

    monkeypatch.setattr(interpolate_job, "read_run_config", lambda run: Config())
    with pytest.raises(ValueError, match="--to-class 3: unlabelled has no class labels; leave it out to pair any images"):
        interpolate_job.write_interpolations(trained_run, 2, 3, "linear", None, 3, None, tmp_path / "i.png")
    interpolate_job.write_interpolations(trained_run, 2, 3, "linear", None, None, None, tmp_path / "i.png", say=lambda _: None)
    assert json.loads((tmp_path / "i.json").read_text())["layout"].startswith("2 rows")
