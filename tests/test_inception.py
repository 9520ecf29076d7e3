import pytest
import torch
from safetensors.torch import save_file

from cfae.data import DataFileError
from cfae.metrics.inception import InceptionFeatures

# torchvision's inception_v3 has 27,161,264 parameters: minus fc (2048 x 1000 + 1000) and AuxLogits
# (98,304 + 256 + 2,457,600 + 1,536 + 769,000) leaves the feature network's 21,785,568.
FEATURE_PARAMETERS = 27_161_264 - 2_049_000 - 3_326_696


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return InceptionFeatures()


def test_the_architecture_has_inception_v3s_parameter_count_and_2048_features(network):
    assert sum(p.numel() for p in network.parameters()) == FEATURE_PARAMETERS
    assert network(torch.rand(1, 1, 28, 28)).shape == (1, 2048)


def test_weights_round_trip_through_safetensors(network, tmp_path):
    state = {k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file({**state, "fc.weight": torch.zeros(1008, 2048)}, tmp_path / "inception.safetensors")  # fc is ignored
    loaded = InceptionFeatures.from_file(tmp_path / "inception.safetensors")
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(loaded(x), network(x), atol=1e-5)
    del state["Mixed_7c.branch_pool.bn.running_var"]
    save_file(state, tmp_path / "partial.safetensors")
    with pytest.raises(DataFileError, match="partial.safetensors: 1 Inception tensors missing, e.g. Mixed_7c.branch_pool"):
        InceptionFeatures.from_file(tmp_path / "partial.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(DataFileError, match="bad.safetensors"):
        InceptionFeatures.from_file(tmp_path / "bad.safetensors")
