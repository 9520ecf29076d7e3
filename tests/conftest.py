import os
from pathlib import Path

import pytest
import torch

from cfae.data import ImageDataset

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA_ROOT = Path(os.environ.get("CFAE_DATA", SHARED_DATA))


@pytest.fixture
def shared_data() -> Path:
    """The real MNIST/Fashion-MNIST files; tests needing them skip cleanly when absent."""
    if not (DATA_ROOT / "mnist.npz").is_file():
        pytest.skip(f"real data not found in {DATA_ROOT}")
    return DATA_ROOT


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CFAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CFAE_OFFLINE", "1")
    torch.set_num_threads(2)


def tiny_dataset(n: int = 64, shape=(1, 28, 28), seed: int = 0) -> ImageDataset:
    """Four fixed binary templates (one per label) with 5% of pixels flipped at random."""
    templates = torch.rand(4, *shape, generator=torch.Generator().manual_seed(123)) > 0.6
    labels = torch.arange(n) % 4
    flips = torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) < 0.05
    images = (templates[labels] ^ flips).to(torch.uint8) * 255
    return ImageDataset("tiny", images, {"label": labels})


def eval_term_under_seeds(model, term: str, seeds=(0, 1)) -> list[float]:
    """An eval-mode loss term of one random batch, once under each seed: a term scored at the posterior
    mean gives the same value every time, one scored at a draw z ~ q(z|x) does not."""
    from cfae.data.base import Batch

    batch = Batch(torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(7)))
    values = []
    for seed in seeds:
        torch.manual_seed(seed)
        with torch.no_grad():
            values.append(model.eval()(batch).terms[term].item())
    return values


def scored_here(record: dict) -> bool:
    """Whether a record of scores is stamped with the code, torch and processor running the tests."""
    from cfae.train.provenance import SCORED_BY, code_label, processor, provenance

    stamp = record.get(SCORED_BY)
    return (isinstance(stamp, dict) and code_label(stamp) == code_label(provenance())
            and stamp["torch"] == torch.__version__ and stamp["processor"] == processor())
