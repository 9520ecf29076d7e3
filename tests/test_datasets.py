import math

import numpy as np
import pytest
import torch
from PIL import Image

from cfae.data import MissingDataError, get_dataset, write_idx
from cfae.data.pendulum import PendulumRenderer, grid_indices, is_test, projection, shadow
from cfae.data.shapes import FACTOR_SIZES, all_factors, render_shapes, sample_factors, shapes_dataset, sprite_bank
from cfae.registry import UnknownNameError


def test_mnist_from_npz_when_idx_is_incomplete(shared_data):
    # shared/data/mnist-idx lacks the train images, so the npz must be used for train
    train = get_dataset("mnist", "train", shared_data, limit=100)
    assert train.images.shape == (100, 1, 28, 28) and train.images.dtype == torch.uint8
    x = train.pixels(slice(0, 10))
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert train.labels["label"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]


def test_fashion_from_npz(shared_data):
    test = get_dataset("fashion", "test", shared_data)
    assert len(test) == 10000 and test.class_names[9] == "Ankle boot"


def test_idx_folder_is_preferred(tmp_path):
    folder = tmp_path / "mnist-idx"
    folder.mkdir()
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(7, dtype=np.uint8))
    data = get_dataset("mnist", "test", tmp_path)
    assert torch.equal(data.images[:, 0], torch.from_numpy(images))
    assert data.labels["label"].tolist() == list(range(7))


def test_png_class_folders(tmp_path):
    for label in range(3):
        folder = tmp_path / "fashion" / "train" / f"class{label}"
        folder.mkdir(parents=True)
        Image.fromarray(np.full((28, 28), 40 * label, np.uint8)).save(folder / "a.png")
    data = get_dataset("fashion", "train", tmp_path)
    assert data.labels["label"].tolist() == [0, 1, 2]
    assert data.images[2].float().mean().item() == pytest.approx(80)


def test_missing_files_error_names_files_and_places(tmp_path):
    with pytest.raises(MissingDataError) as info:
        get_dataset("mnist", "train", tmp_path)
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and str(tmp_path / "mnist-idx") in message
    assert "mnist.npz" in message


def test_unknown_dataset_lists_choices():
    with pytest.raises(UnknownNameError, match="valid choices: celeba, dsprites, fashion, fashion-binary, mnist, mnist-attributes, mnist-binary, mnist-morpho, morpho-scm, pendulum, shapes, shapes-attributes"):
        get_dataset("cifar")


def test_shapes_factor_counts_and_determinism():
    assert FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert len(all_factors()) == 737280
    a = shapes_dataset(50, seed=3)
    b = shapes_dataset(50, seed=3)
    c = shapes_dataset(50, seed=4)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    assert a.images.shape == (50, 1, 64, 64)
    assert set(a.images.unique().tolist()) <= {0, 255}


def test_shapes_render_on_demand_matches_factors():
    factors = torch.tensor([[0, 5, 0, 0, 16], [0, 5, 0, 31, 16], [0, 0, 0, 16, 16], [0, 5, 0, 16, 16]])
    img = render_shapes(factors)[:, 0].float()
    cols = torch.arange(64).float()
    centre_x = [(im.sum(0) * cols).sum() / im.sum() for im in img]
    assert centre_x[0] < 25 < 40 < centre_x[1]  # pos_x moves the shape right
    assert img[2].sum() < img[3].sum()  # scale grows the area
    assert torch.equal(render_shapes(factors), render_shapes(factors))
    with pytest.raises(ValueError, match="out of range"):
        render_shapes(torch.tensor([[3, 0, 0, 0, 0]]))


def test_shapes_render_is_the_bank_sprite_rolled_by_its_position():
    """image = sprite rolled by (pos_y - 16, pos_x - 16), checked with torch.roll on random factors
    and on the corners of the position grid (where the shift wraps)."""
    corners = torch.tensor([[s, 5, 39, x, y] for s in range(3) for x in (0, 31) for y in (0, 31)])
    factors = torch.cat([sample_factors(300, torch.Generator().manual_seed(1)), corners])
    images = render_shapes(factors)
    bank = sprite_bank().to(torch.uint8) * 255
    for f, image in zip(factors.tolist(), images):
        sprite = (f[0] * FACTOR_SIZES[1] + f[1]) * FACTOR_SIZES[2] + f[2]
        assert torch.equal(image[0], torch.roll(bank[sprite], (f[4] - 16, f[3] - 16), (0, 1)))
    assert render_shapes(factors[:0]).shape == (0, 1, 64, 64)


def test_sample_factors_uniform_ranges():
    f = sample_factors(5000, torch.Generator().manual_seed(0))
    assert (f.max(0).values == torch.tensor(FACTOR_SIZES) - 1).all() and (f.min(0).values == 0).all()


def test_pendulum_shadow_formulas_by_hand():
    # theta = 0, phi = pi/4 (tan = 1): pivot (10, 10.5) projects to -1, tip (10, 1) to 8.5
    assert projection(math.pi / 4, 10.0, 10.5) == pytest.approx(-1.0)
    assert projection(math.pi / 4, 10.0, 1.0) == pytest.approx(8.5)
    length, mid = shadow(0.0, math.pi / 4)
    assert length == pytest.approx(9.5) and mid == pytest.approx(3.75)
    # a short shadow is clipped to length 3
    assert shadow(0.0, math.pi / 2 - 1e-9)[0] == pytest.approx(3.0)


def test_pendulum_grid_and_split_sizes():
    pairs = grid_indices()
    assert len(pairs) == 84 * 87 == 7308
    assert all(j != 100 for _, j in pairs)
    assert sum(is_test(n) for n in range(len(pairs))) == 1826


def test_pendulum_renders_scene_that_moves_with_the_angle():
    renderer = PendulumRenderer()
    left = renderer.render(-40 * math.pi / 200, 90 * math.pi / 200)
    right = renderer.render(40 * math.pi / 200, 90 * math.pi / 200)
    assert left.shape == (96, 96, 3) and left.dtype == np.uint8
    red = lambda im: (im[..., 0] > 150) & (im[..., 1] < 60)  # the firebrick bob
    cols = np.arange(96)
    assert (red(left).sum(0) * cols).sum() / red(left).sum() < (red(right).sum(0) * cols).sum() / red(right).sum()
    assert np.array_equal(renderer.render(0.1, 1.0), PendulumRenderer().render(0.1, 1.0))


def test_pendulum_dataset_generation_split_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CFAE_CACHE", str(tmp_path))
    train, test = get_dataset("pendulum", "train"), get_dataset("pendulum", "test")
    assert train.images.shape == (5482, 3, 96, 96) and test.images.shape == (1826, 3, 96, 96)
    assert set(train.labels) == {"pendulum_angle", "light_angle", "shadow_length", "shadow_position"}
    assert train.labels["pendulum_angle"].min() == -40 and train.labels["light_angle"].max() == 147
    theta, phi = float(test.labels["pendulum_angle"][5]) * math.pi / 200, float(test.labels["light_angle"][5]) * math.pi / 200
    assert test.labels["shadow_length"][5].item() == pytest.approx(shadow(theta, phi)[0], rel=1e-5)
    assert np.array_equal(test.images[5].permute(1, 2, 0).numpy(), PendulumRenderer().render(theta, phi))
    (tmp_path / "pendulum_v1.npz").write_bytes(b"broken")
    with pytest.raises(Exception, match="pendulum_v1.npz: corrupt pendulum cache"):
        get_dataset("pendulum", "train")


def test_official_dsprites_npz_is_read(tmp_path):
    from cfae.data.shapes import DSPRITES_FILE

    classes = np.zeros((6, 6), np.int64)
    classes[:, 1] = [0, 1, 2, 0, 1, 2]
    imgs = np.zeros((6, 64, 64), np.uint8)
    imgs[:, 10, 10] = 1
    np.savez(tmp_path / DSPRITES_FILE, imgs=imgs, latents_classes=classes)
    from cfae.data.shapes import load_official_dsprites

    data = load_official_dsprites(tmp_path / DSPRITES_FILE, None, 0)
    assert data.labels["shape"].tolist() == [0, 1, 2, 0, 1, 2] and data.images[0, 0, 10, 10] == 255
