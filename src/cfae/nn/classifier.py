"""A small CNN image classifier, used as the independent judge of decoded images."""

from __future__ import annotations

from torch import Tensor, nn

from cfae.nn.conv import stage_sizes


class ConvClassifier(nn.Module):
    """Two conv + max-pool stages, dropout, one hidden linear layer; returns class logits."""

    def __init__(self, input_shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10, width: int = 32):
        super().__init__()
        c, h, w = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        size = stage_sizes(h, 2)[-1] * stage_sizes(w, 2)[-1]
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * width * size, 128), nn.ReLU(),
                                  nn.Linear(128, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
