"""cfae.train.allocator: freed tensor memory stays in the process (no page faults on reuse)."""

import os
import subprocess
import sys

import pytest
import torch

FAULTS = """
import resource, torch
from cfae.train.allocator import keep_freed_memory
print(keep_freed_memory())
for _ in range(10):  # the heap settles over the first few rounds (1 to 3 of them fault)
    torch.ones(1 << 24).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.ones(1 << 24).sum()  # 64 MB allocated and freed each time
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(keep: str) -> tuple[str, int]:
    env = {**os.environ, "CFAE_KEEP_FREED_MEMORY": keep, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, timeout=120, env=env, check=True)
    applied, faults = done.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_freed_tensors_are_reused_without_page_faults():
    applied, kept = page_faults("1")
    skipped, default = page_faults("0")
    assert (applied, skipped) == ("True", "False")
    # 10 x 64 MB is 163,840 pages of 4 KiB: the default allocator faults on each of them again
    assert default > 100_000
    assert kept < default / 20


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU has no FTZ/DAZ")
def test_flush_denormals_makes_float32_denormals_zero(monkeypatch):
    from cfae.train.denormals import flush_denormals

    denormal = torch.tensor([1e-39, 1.0])  # below float32's smallest normal, 1.18e-38
    try:
        torch.set_flush_denormal(False)
        monkeypatch.setenv("CFAE_FLUSH_DENORMALS", "0")
        assert flush_denormals() is False and (denormal * 1.0)[0].item() == pytest.approx(1e-39, rel=1e-5)
        monkeypatch.delenv("CFAE_FLUSH_DENORMALS")
        assert flush_denormals() is True
        assert (denormal * 1.0).tolist() == [0.0, 1.0]
        adam_moment = torch.full((4,), 1e-37) * 0.9 ** 40  # Adam's m decaying through the denormal range
        assert adam_moment.abs().max().item() == 0.0
    finally:
        torch.set_flush_denormal(True)  # the state the Trainer leaves
