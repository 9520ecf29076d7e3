import math

import numpy as np
import pytest
import torch
from PIL import Image

from cfae.data import DataFileError, MissingDataError, get_dataset
from cfae.data.attributes import morpho_attributes, morpho_thresholds, shapes_attributes, shapes_true_flips
from cfae.data.base import ImageDataset
from cfae.data.celeba import COUNTERFACTUAL_ATTRIBUTES, load_celeba
from cfae.data.shapes import render_shapes

CELEBA_NAMES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
                "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
                "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
                "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
                "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def _write_celeba(root, n=5, values=None):
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    g = np.random.default_rng(0)
    values = values if values is not None else g.choice([-1, 1], size=(n, 40))
    lines = [str(n), " ".join(CELEBA_NAMES) + " "]
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        pixels = np.zeros((218, 178, 3), np.uint8)
        pixels[35:183, 15:163] = 40 * (i + 1)  # the centre 148 x 148 crop is one flat colour
        Image.fromarray(pixels).save(folder / "img_align_celeba" / name, quality=95)
        lines.append(name + "".join(f" {v:2d}" for v in values[i]))
    (folder / "list_attr_celeba.txt").write_bytes("\r\n".join(lines).encode() + b"\r\n")
    partition = [f"{i + 1:06d}.jpg {0 if i < n - 2 else 2}" for i in range(n)]
    (folder / "list_eval_partition.txt").write_bytes("\r\n".join(partition).encode() + b"\r\n")
    return folder, values


def test_celeba_parser_reads_crlf_files_and_keeps_the_seeds_38_attributes(tmp_path):
    _, values = _write_celeba(tmp_path)
    train, test = load_celeba("train", tmp_path, progress=False), load_celeba("test", tmp_path, progress=False)
    assert len(train) == 3 and len(test) == 2
    assert train.images.shape == (3, 3, 64, 64) and train.images.dtype == torch.uint8
    assert len(train.attribute_names) == 38 and "Young" not in train.attribute_names
    assert "Wearing_Necktie" not in train.attribute_names and set(COUNTERFACTUAL_ATTRIBUTES) <= set(train.attribute_names)
    male = train.attribute_names.index("Male")
    assert train.labels["attributes"][:, male].tolist() == [float(v == 1) for v in values[:3, CELEBA_NAMES.index("Male")]]
    assert abs(int(test.images[1].float().mean()) - 200) <= 2  # image 5's crop colour survived crop and resize
    cached = load_celeba("train", tmp_path, progress=False)  # second load from the cache
    assert torch.equal(cached.images, train.images)


def test_celeba_errors_name_the_file(tmp_path):
    with pytest.raises(MissingDataError, match="list_attr_celeba.txt"):
        load_celeba("train", tmp_path)
    folder, _ = _write_celeba(tmp_path)
    text = (folder / "list_attr_celeba.txt").read_text().replace(" -1", "  0", 1)
    (folder / "list_attr_celeba.txt").write_text(text)
    with pytest.raises(DataFileError, match="list_attr_celeba.txt: line 3"):
        load_celeba("train", tmp_path)
    with pytest.raises(ValueError, match="valid choices: train, valid, test"):
        load_celeba("dev", tmp_path)


def test_celeba_names_a_missing_image(tmp_path):
    folder, _ = _write_celeba(tmp_path)
    (folder / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(MissingDataError, match="000002.jpg"):
        load_celeba("train", tmp_path, progress=False)


def test_shapes_attributes_follow_the_factors():
    factors = torch.tensor([[2, 5, 0, 3, 10], [0, 0, 5, 20, 10], [1, 2, 10, 15, 0]])  # shape scale orientation x y
    names = ("shape", "scale", "orientation", "pos_x", "pos_y")
    data = shapes_attributes(ImageDataset("s", render_shapes(factors), {k: factors[:, i] for i, k in enumerate(names)}))
    assert data.attribute_names == ["is_heart", "large", "tilted", "left"]
    # orientation 5 of 40 is 46 degrees (tilted), 10 is 92 degrees (upright), 0 upright
    assert data.labels["attributes"].tolist() == [[1, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert math.degrees(2 * math.pi * 5 / 39) == pytest.approx(46.15, abs=0.01)


def test_shapes_true_flips_change_only_the_attribute_s_factor_and_flip_it():
    factors = torch.tensor([[2, 5, 0, 3, 10], [0, 0, 5, 20, 10]])  # a large upright heart on the left; a small tilted square
    candidates, owner = shapes_true_flips(factors, "is_heart")
    assert candidates.tolist() == [[0, 5, 0, 3, 10], [1, 5, 0, 3, 10], [2, 0, 5, 20, 10]] and owner.tolist() == [0, 0, 1]
    candidates, owner = shapes_true_flips(factors, "large")
    assert candidates[:, 1].tolist() == [0, 1, 2, 3, 4, 5] and owner.tolist() == [0, 0, 0, 1, 1, 1]
    candidates, owner = shapes_true_flips(factors, "left")
    assert (candidates[owner == 0, 3] >= 16).all() and (candidates[owner == 1, 3] < 16).all() and len(owner) == 32
    candidates, owner = shapes_true_flips(factors, "tilted")
    upright_to_tilted, tilted_to_upright = candidates[owner == 0, 2].tolist(), candidates[owner == 1, 2].tolist()
    assert 5 in upright_to_tilted and 0 not in upright_to_tilted and 10 not in upright_to_tilted
    assert 0 in tilted_to_upright and 10 in tilted_to_upright and 5 not in tilted_to_upright
    assert len(upright_to_tilted) + len(tilted_to_upright) == 40  # the two rows split the 40 orientations
    changed = (candidates != factors[owner]).sum(1)
    assert (changed == 1).all()
    with pytest.raises(ValueError, match="unknown shapes attribute 'round'; valid choices: is_heart, large"):
        shapes_true_flips(factors, "round")


def test_morpho_attributes_threshold_at_the_training_median():
    labels = {"thickness": torch.tensor([1.0, 2.0, 3.0, 4.0]), "slant": torch.tensor([-0.2, 0.0, 0.1, 0.3]),
              "width": torch.tensor([5.0, 9.0, 7.0, 8.0])}
    train = ImageDataset("m", torch.zeros(4, 1, 2, 2), labels)
    thresholds = morpho_thresholds(train)
    assert thresholds == {"thick": 2.0, "slanted": 0.0, "wide": 7.0}  # torch's median: the lower middle value
    out = morpho_attributes(train, thresholds)
    assert out.attribute_names == ["thick", "slanted", "wide"]
    assert out.labels["attributes"].tolist() == [[0, 0, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]]


def test_mnist_attributes_use_the_train_thresholds_for_the_test_split(shared_data):
    train = get_dataset("mnist-attributes", "train", shared_data, limit=300)
    test = get_dataset("mnist-attributes", "test", shared_data, limit=300)
    t = morpho_thresholds(train)
    assert torch.equal(test.labels["attributes"][:, 0], (test.labels["thickness"] > t["thick"]).float())
    assert 0.4 < train.labels["attributes"].mean().item() < 0.6
