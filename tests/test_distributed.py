"""Training on 2 CPU processes (gloo) gives the weights of 1 process with the same global batch."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from cfae.train import TrainConfig, Trainer
from cfae.train.distributed import Ranks, join_process_group, leave_process_group
from conftest import tiny_dataset
from toy_models import AdversarialAE, build


def write_small_mnist(root):
    rng = np.random.default_rng(0)
    templates = rng.random((4, 28, 28)) > 0.6
    labels = np.arange(200) % 4
    x = (templates[labels] ^ (rng.random((200, 28, 28)) < 0.05)).astype(np.uint8) * 255
    np.savez(root / "mnist.npz", x_train=x[:150], y_train=labels[:150], x_test=x[150:], y_test=labels[150:])


def cli_train(out, data_root, *extra, epochs=2):
    command = [sys.executable, "-m", "cfae.cli", "train", "ae", "--dataset", "mnist", "--data-root", str(data_root),
               "--epochs", str(epochs), "--batch-size", "32", "--out", str(out), "--quiet", "-o", "hidden=[32,16]", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return load_file(out / "checkpoints" / f"epoch-{epochs:04d}" / "model.safetensors")


def test_cli_two_processes_match_one_process(tmp_path):
    # 150 examples, global batch 32: the last global batch (22 rows) splits unevenly 11 / 11, and
    # gradients are weighted by each rank's share
    write_small_mnist(tmp_path)
    one = cli_train(tmp_path / "one", tmp_path)
    two = cli_train(tmp_path / "two", tmp_path, "--nproc", "2")
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-5
    logs = [(tmp_path / name / "log.jsonl").read_text().splitlines() for name in ("one", "two")]
    assert len(logs[0]) == len(logs[1]) == 2
    assert not any((tmp_path / "two").glob("checkpoints/.*"))  # only rank 0 wrote, and cleanly
    # resume on 2 processes continues exactly as an uninterrupted 1-process run
    straight = cli_train(tmp_path / "straight", tmp_path, epochs=3)
    resumed = cli_train(tmp_path / "two", tmp_path, "--nproc", "2", "--resume", epochs=3)
    assert max((straight[k] - resumed[k]).abs().max().item() for k in straight) < 1e-5


AT_EXIT = """
import atexit
import torch.distributed as dist
atexit.register(lambda: print("group alive at exit:", dist.is_initialized()))  # runs after handlers registered later
from cfae.train.distributed import init_ranks
print("joined:", init_ranks("cpu").group)
"""


def test_a_process_group_joined_by_init_ranks_is_destroyed_before_interpreter_exit():
    # a gloo group left to interpreter shutdown can abort the process (SIGABRT) at random
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "0"}
    done = subprocess.run([sys.executable, "-c", AT_EXIT], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["joined: True", "group alive at exit: False"]


THREADS_AFTER_LEAVING = """
import os, time
from cfae.train.distributed import init_ranks, leave_process_group
def threads():
    return sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
init_ranks("cpu")
deadline = time.monotonic() + 30  # each worker names itself once it runs: on a loaded machine, later
while "pt_gloo_runloop" not in threads() and time.monotonic() < deadline:
    time.sleep(0.05)
print(threads())
import torch._dynamo  # as building an optimiser does, after the group exists
leave_process_group()
print(threads())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names from /proc")
def test_leaving_the_group_joins_gloos_threads_even_when_torch_dynamo_is_imported_after_joining():
    # a group kept alive past destroy_process_group keeps gloo's workers, and a worker that drops a
    # finished collective during interpreter shutdown aborts the process (SIGABRT)
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "0"}
    done = subprocess.run([sys.executable, "-c", THREADS_AFTER_LEAVING], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    joined, left = done.stdout.splitlines()
    assert "pt_gloo_runloop" in joined
    assert "gloo" not in left, left


def _adversarial_worker(rank, world, rendezvous, out):
    """world 1: a plain single-process run, the baseline; world > 1: a gloo process group that meets
    through a file (no TCP port to race other processes for)."""
    torch.set_num_threads(1)
    if world > 1:
        join_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = build(AdversarialAE, latent_dim=2, hidden=(16,))
        config = TrainConfig(epochs=2, batch_size=20, progress=False, seed=1, sync_every=2)
        ranks = Ranks(rank, world, group=world > 1)
        trainer = Trainer(model, config, tiny_dataset(50), tiny_dataset(10, seed=1), ranks=ranks)
        history = trainer.fit()
        if rank == 0:
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
            with open(str(out) + ".txt", "w") as f:
                f.write(repr(history[-1]["eval/recon"]))
    finally:
        leave_process_group()  # a no-op for world 1, which has no group


def test_three_network_model_with_several_backward_passes_matches_across_process_counts(tmp_path):
    results = []
    for world in (1, 2):
        out = tmp_path / f"w{world}.safetensors"
        mp.spawn(_adversarial_worker, args=(world, tmp_path / f"rendezvous-{world}", out), nprocs=world, join=True)
        results.append((load_file(out), float((tmp_path / f"w{world}.safetensors.txt").read_text())))
    (a, eval_a), (b, eval_b) = results
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    assert eval_a == pytest.approx(eval_b, rel=1e-5)  # evaluation reduced across ranks


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_nccl_one_process_matches_no_process_group(tmp_path):
    write_small_mnist(tmp_path)
    plain = cli_train(tmp_path / "plain", tmp_path, "--device", "cuda")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1", "-m", "cfae.cli",
               "train", "ae", "--dataset", "mnist", "--data-root", str(tmp_path), "--epochs", "2", "--batch-size", "32",
               "--out", str(tmp_path / "nccl"), "--quiet", "-o", "hidden=[32,16]", "--device", "cuda"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    nccl = load_file(tmp_path / "nccl" / "checkpoints" / "epoch-0002" / "model.safetensors")
    assert max((plain[k] - nccl[k]).abs().max().item() for k in plain) < 1e-5
