"""Fundamental similarity by a Siamese network (seed 002 section 2.2, "local evaluation").

Pairs: (original_i, its optimised image) labelled 1 and (original_i, an image optimised from a
different original) labelled 0, balanced. A LeNet feature extractor f is shared by both sides and
trained with the contrastive loss on d = ||f(a) - f(b)||_2 (Hadsell et al. 2006):
    L = y d^2 + (1 - y) max(0, m - d)^2                       (margin m = 1)
A pair is called similar when d < m / 2. Test accuracy, precision, recall and F1 on held-out pairs,
and 5-fold cross-validation over the training streams (folds split by original, never by pair).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LeNetFeatures(nn.Module):
    """LeNet-5 features: conv 6@5x5, pool, conv 16@5x5, pool, 120, 84 (28 x 28 inputs padded to 32)."""

    def __init__(self, channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.LazyLinear(120), nn.ReLU(), nn.Linear(120, 84),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def contrastive_loss(d: Tensor, y: Tensor, margin: float = 1.0) -> Tensor:
    """Mean of y d^2 + (1 - y) max(0, margin - d)^2."""
    y = y.float()
    return (y * d.square() + (1 - y) * F.relu(margin - d).square()).mean()


def build_pairs(origin: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """For streams with origin ids origin (N,) (stream i started from original origin[i]), return
    (left, right, label): one positive (i, i) and one negative (i, j) per stream, where stream j
    started from a different original than stream i. left indexes originals by stream, right the
    optimised images."""
    n = len(origin)
    if len(origin.unique()) < 2:
        raise ValueError("negative pairs need streams from at least two different originals")
    right = torch.randint(0, n, (n,), generator=generator)
    while (clash := origin[right] == origin).any():
        right[clash] = torch.randint(0, n, (int(clash.sum()),), generator=generator)
    index = torch.arange(n)
    left = torch.cat([index, index])
    return left, torch.cat([index, right]), torch.cat([torch.ones(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)])


def _distances(net: nn.Module, a: Tensor, b: Tensor) -> Tensor:
    return (net(a) - net(b)).square().sum(1).clamp_min(1e-12).sqrt()


def train_siamese(originals: Tensor, optimised: Tensor, origin: Tensor, epochs: int = 20, seed: int = 0,
                  batch_size: int = 128, lr: float = 1e-3, margin: float = 1.0) -> nn.Module:
    """Fit LeNet features on the pairs of these streams (originals[i] -> optimised[i])."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    left, right, label = build_pairs(origin, g)
    net = LeNetFeatures(originals.shape[1])
    net(originals[:1])  # materialise the lazy layer before building the optimiser
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        net.train()
        for chunk in torch.randperm(len(label), generator=g).split(batch_size):
            d = _distances(net, originals[left[chunk]], optimised[right[chunk]])
            loss = contrastive_loss(d, label[chunk], margin)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def pair_scores(net: nn.Module, originals: Tensor, optimised: Tensor, origin: Tensor, seed: int = 1,
                margin: float = 1.0) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of `d < margin / 2` on the balanced pairs of these streams."""
    left, right, label = build_pairs(origin, torch.Generator().manual_seed(seed))
    predicted = (_distances(net, originals[left], optimised[right]) < margin / 2).long()
    tp = int(((predicted == 1) & (label == 1)).sum())
    fp = int(((predicted == 1) & (label == 0)).sum())
    fn = int(((predicted == 0) & (label == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"accuracy": float((predicted == label).float().mean()), "precision": precision, "recall": recall,
            "f1": f1, "pairs": int(len(label))}


def siamese_evaluation(originals: Tensor, optimised: Tensor, origin: Tensor, test_share: float = 0.2,
                       folds: int = 5, epochs: int = 20, seed: int = 0) -> tuple[dict, nn.Module]:
    """Seed Table 3: train on (1 - test_share) of the originals' streams (e.g. 4000 -> 8000 pairs), test
    on the rest (1000 -> 2000 pairs); k-fold CV within the training streams. Returns the scores and
    the network trained on all training streams."""
    ids = origin.unique()
    ids = ids[torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed))]
    n_test = int(round(test_share * len(ids)))
    test_ids, train_ids = ids[:n_test], ids[n_test:]
    part = lambda chosen: torch.isin(origin, chosen)  # noqa: E731

    def fit_and_score(train_mask: Tensor, test_mask: Tensor) -> tuple[dict[str, float], nn.Module]:
        net = train_siamese(originals[train_mask], optimised[train_mask], origin[train_mask], epochs, seed)
        return pair_scores(net, originals[test_mask], optimised[test_mask], origin[test_mask]), net

    test, net = fit_and_score(part(train_ids), part(test_ids))
    fold_scores = []
    for fold_ids in train_ids.chunk(folds):
        held = part(fold_ids)
        fold_scores.append(fit_and_score(part(train_ids) & ~held, held)[0])
    cv = {k: sum(s[k] for s in fold_scores) / folds for k in ("accuracy", "precision", "recall", "f1")}
    scores = {"test": test, "cross_validation": cv, "epochs": epochs,
              "train_streams": int(part(train_ids).sum()), "test_streams": int(part(test_ids).sum())}
    return scores, net
