"""The scores of cfae's own judges (classifier accuracy, attribute accuracy, regressor MAE) and the
binarised MNIST they and the likelihoods are measured on."""

import pytest
import torch
from torch import nn

from cfae.data.base import ImageDataset, bernoulli_draw
from cfae.data.registry import BINARY_TEST_SEED, binarized
from cfae.train.classifier import attribute_accuracy, classifier_accuracy, regressor_mae


class FixedOutputs(nn.Module):
    """Returns the row of `outputs` for each image, found by the image's first pixel (its row number)."""

    def __init__(self, outputs: torch.Tensor):
        super().__init__()
        self.outputs = outputs

    def logits(self, x):
        return self.outputs[x.flatten(1)[:, 0].round().long()]

    predict = logits


def numbered_images(n: int, labels: dict) -> ImageDataset:
    return ImageDataset("numbered", torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1), labels)


def test_classifier_accuracy_is_the_share_of_argmax_hits():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 1.0]])
    data = numbered_images(4, {"label": torch.tensor([0, 1, 1, 2])})  # hits: rows 0 and 1
    assert classifier_accuracy(FixedOutputs(logits), data, batch_size=3) == 0.5


def test_attribute_accuracy_reads_a_positive_logit_as_a_one():
    logits = torch.tensor([[1.0, -1.0], [-2.0, -0.5], [3.0, 0.5]])
    attributes = torch.tensor([[1, 0], [1, 0], [1, 1]])
    assert attribute_accuracy(FixedOutputs(logits), numbered_images(3, {"attributes": attributes})) == \
        pytest.approx([2 / 3, 1.0])


def test_regressor_mae_is_the_mean_absolute_error_per_target():
    predicted = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    data = numbered_images(2, {"thickness": torch.tensor([2.0, 2.0]), "slant": torch.tensor([1.0, 1.0])})
    assert regressor_mae(FixedOutputs(predicted[:, 0]), data, "thickness") == pytest.approx(1.0)  # -1 and +1
    assert regressor_mae(FixedOutputs(predicted), data, "thickness,slant") == pytest.approx([1.0, 1.0])


def test_bernoulli_draw_turns_each_pixel_on_with_its_grey_level():
    grey = torch.tensor([0, 64, 128, 255], dtype=torch.uint8).repeat(20000, 1)
    draw = bernoulli_draw(grey, seed=3)
    assert set(draw.unique().tolist()) <= {0, 255}
    share_on = draw.float().div(255).mean(0)
    assert share_on[0] == 0.0 and share_on[3] == 1.0
    assert torch.allclose(share_on[1:3], torch.tensor([64 / 255, 128 / 255]), atol=0.015)
    assert torch.equal(draw, bernoulli_draw(grey, seed=3))


def test_binarised_train_split_is_redrawn_each_epoch_and_the_test_split_is_fixed():
    grey = ImageDataset("grey", torch.full((50, 1, 4, 4), 128, dtype=torch.uint8), {"label": torch.zeros(50)})
    train = binarized(grey, "train", seed=1)
    first = train.images.clone()
    train.set_epoch(1)
    second = train.images.clone()
    train.set_epoch(0)
    assert not torch.equal(first, second) and torch.equal(first, train.images)  # epoch e always draws the same
    test = binarized(grey, "test")
    assert torch.equal(test.images, bernoulli_draw(grey.images, BINARY_TEST_SEED))
