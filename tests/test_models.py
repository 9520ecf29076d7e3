import pytest
import torch

from cfae.counterfactual.interpolate import interpolate
from cfae.data.base import Batch
from cfae.models import MODELS, build_model
from cfae.registry import UnknownNameError


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("network", ["mlp", "conv"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 64, 64), (3, 96, 96)])
def test_forward_shapes_and_finite_loss(name, network, shape):
    torch.manual_seed(0)
    fields = MODELS.get(name).Config.model_fields
    bits = {"attributes": ("a", "b")} if "attributes" in fields else {}
    sized = {"dataset_size": 100} if "dataset_size" in fields else {}  # beta-TCVAE's N
    if "layer_sizes" in fields:  # hierarchical VAEs: their own MLPs, latent 3 as two layers
        if network != "mlp":
            pytest.skip("hierarchical VAEs are MLPs only")
        model = build_model(name, input_shape=shape, layer_sizes=(2, 1), layer_hidden=(16, 8))
    elif "concepts" in fields:  # CausalVAE: latent 3 as three one-dimensional concepts
        model = build_model(name, input_shape=shape, network=network, hidden=(16, 8) if network == "mlp" else (4, 8),
                            concepts=("a", "b", "c"), concept_dim=1, concept_loc=(0.0,) * 3, concept_scale=(1.0,) * 3)
    else:
        model = build_model(name, input_shape=shape, latent_dim=3, network=network,
                            hidden=(16, 8) if network == "mlp" else (4, 8), **bits, **sized)
    x = torch.rand(4, *shape)
    labels = {"attributes": torch.tensor([[0.0, 1], [1, 0], [1, 1], [0, 0]]), **{c: torch.randn(4) for c in "abc"}}
    out = model(Batch(x, labels))
    assert out.logits.shape == x.shape
    assert out.z.shape == (4, 3 + len(bits.get("attributes", ())))
    assert model.decode(out.z).shape == x.shape
    assert 0 <= model.decode(out.z).min() and model.decode(out.z).max() <= 1
    assert set(out.terms) >= {"loss", "recon"}
    assert all(torch.isfinite(v) and v.ndim == 0 for v in out.terms.values())
    out.loss.backward()
    assert model.sample(5).shape == (5, *shape)
    halves = [Batch(x[rows], {k: v[rows] for k, v in labels.items()}) for rows in (slice(0, 2), slice(2, 4))]
    assert interpolate(model, *halves, steps=3, path="slerp").counterfactuals.shape == (2, 3, *shape)


def test_beta_scales_only_the_kl_term():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28)
    vae = build_model("vae", latent_dim=4).eval()
    beta = build_model("vae", latent_dim=4, beta=4.0).eval()
    beta.load_state_dict(vae.state_dict())
    a, b = vae(x).terms, beta(x).terms
    assert torch.allclose(b["loss"], a["recon"] + 4 * a["kl"])
    assert torch.allclose(a["loss"], a["recon"] + a["kl"])


def test_capacity_annealing_targets_a_rising_capacity():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28)
    model = build_model("vae", latent_dim=4, capacity_max=25.0, capacity_steps=100, capacity_gamma=10.0).eval()
    terms_start = model(x).terms
    model.set_schedule(step=50)
    terms_mid = model(x).terms
    assert torch.allclose(terms_start["loss"], terms_start["recon"] + 10 * (terms_start["kl"] - 0).abs())
    assert torch.allclose(terms_mid["loss"], terms_mid["recon"] + 10 * (terms_mid["kl"] - 12.5).abs())


def test_ae_is_deterministic_and_has_no_kl():
    model = build_model("ae", latent_dim=2).train()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model(x).z, model(x).z)
    assert "kl" not in model(x).terms and model.encode(x).scale is None


def test_mmd_vae_term_and_kernel_option():
    torch.manual_seed(0)
    out = build_model("mmd-vae", latent_dim=2, kernel="imq", mmd_weight=7.0)(torch.rand(16, 1, 28, 28))
    assert out.terms["mmd"] >= -1e-6
    assert torch.allclose(out.terms["loss"], out.terms["recon"] + 7.0 * out.terms["mmd"])  # -log p(x|z) + lambda MMD
    assert out.posterior.scale is None  # deterministic encoder by default, as in InfoVAE's code
    stochastic = build_model("mmd-vae", latent_dim=2, stochastic_encoder=True)
    assert stochastic.encode(torch.rand(3, 1, 28, 28)).scale.shape == (3, 2)
    with pytest.raises(ValueError, match="gaussian, imq"):
        build_model("mmd-vae", kernel="laplace")


def test_unknown_names_list_choices():
    with pytest.raises(UnknownNameError, match="valid choices: ae, avae, beta-tcvae, causalvae, cdvae, cdvae-gan, counterfactual-ae, factor-vae, hvae, lvae, mmd-vae, sae, vae, vae-gan"):
        build_model("gan")
    with pytest.raises(ValueError, match="conv, dcgan, mlp, pooled, structural"):
        build_model("vae", network="resnet")
    with pytest.raises(ValueError, match="bernoulli, gaussian"):
        build_model("vae", likelihood="poisson")
    with pytest.raises(ValueError, match="beta"):
        build_model("vae", beta=-1)
