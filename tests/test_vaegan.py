import math

import pytest
import torch

import cfae
from cfae.counterfactual.flip import MeanDifference, counterfactual, flip
from cfae.data.base import Batch, ImageDataset
from cfae.models import build_model
from cfae.nn.distributions import Bernoulli
from cfae.train.config import TrainConfig
from cfae.train.optim import build_optimizers
from cfae.train.trainer import Trainer

ATTRS = ("a", "b", "c")


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(n, 1, 28, 28, generator=g), {"attributes": (torch.rand(n, 3, generator=g) > 0.5).float()})


def _model(name="cdvae-gan", **options):
    torch.manual_seed(0)
    return build_model(name, latent_dim=4, hidden=(4, 8), attributes=ATTRS if name != "vae-gan" else (), **options)


def test_flipping_a_bit_changes_only_that_decoder_input():
    model = _model().eval()
    batch = _batch()
    result = flip(model, batch, "b")
    changed = (result.codes_after != result.codes_before).nonzero()[:, 1].unique().tolist()
    assert changed == [model.attribute_index("b")] == [5]
    assert torch.equal(result.codes_after[:, 5], 1 - result.codes_before[:, 5])
    assert set(result.codes_before[:, 4:].unique().tolist()) <= {0.0, 1.0}  # hard bits at counterfactual time
    set_one = flip(model, batch, "a", 1.0)
    assert (set_one.codes_after[:, 4] == 1).all()
    assert torch.equal(set_one.codes_after[:, [0, 1, 2, 3, 5, 6]], set_one.codes_before[:, [0, 1, 2, 3, 5, 6]])
    set_zero = flip(model, batch, "a", 0.0)
    assert torch.equal(set_zero.codes_after[:, 5:], set_zero.codes_before[:, 5:])
    assert torch.allclose(set_one.counterfactuals, model.decode(set_one.codes_after))
    with pytest.raises(KeyError, match="valid choices: a, b, c"):
        flip(model, batch, "d")
    with pytest.raises(ValueError, match="0 or 1"):
        flip(model, batch, "a", 0.5)


def test_relaxed_bernoulli_tends_to_hard_bits_as_temperature_falls():
    logits = torch.randn(2000, 3)
    hard = Bernoulli(logits)
    gaps = []
    for tau in (1.0, 0.1, 0.001):
        torch.manual_seed(1)
        relaxed = Bernoulli(logits, tau).rsample()
        torch.manual_seed(1)
        gaps.append((relaxed - hard.rsample()).abs().mean().item())
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3
    torch.manual_seed(2)
    assert Bernoulli(torch.zeros(20000, 1)).rsample().mean().item() == pytest.approx(0.5, abs=0.02)


def test_divergence_is_the_gaussian_kl_plus_lambda_bernoulli_cross_entropy():
    model = _model(attribute_weight=2.0)
    batch = _batch()
    posterior = model.encode(batch)
    terms = model.divergence_terms(batch, posterior)
    g, pi = posterior.parts["features"], posterior.parts["attributes"].mean
    kl = 0.5 * (g.mean.square() + g.scale.square() - g.scale.square().log() - 1).sum(1)
    y = batch.labels["attributes"]
    bce = -(y * pi.log() + (1 - y) * (1 - pi).log()).sum(1)
    assert torch.allclose(terms["kl"], kl, atol=1e-5)
    assert torch.allclose(terms["attribute_bce"], bce, atol=1e-5)
    torch.manual_seed(4)
    objectives, logged = model.objectives(batch)
    encoder = (logged["recon"] + logged["kl"] + 2.0 * logged["attribute_bce"]) / (28 * 28)  # Algorithm 1, line 11
    assert objectives["encoder"].item() == pytest.approx(encoder.item(), rel=1e-5)
    model.eval()
    out = model.loss_terms(batch, model(batch))
    assert torch.allclose(out["loss"], out["recon"] + out["kl"] + 2.0 * out["attribute_bce"], atol=1e-4)


def _zero_discriminator(model):
    for p in model.discriminator.head[-1].parameters():
        torch.nn.init.zeros_(p)  # logit 0 for every image: D = 1/2


def test_gan_losses_at_an_undecided_discriminator():
    model = _model()
    _zero_discriminator(model)
    objectives, terms = model.objectives(_batch())
    log2 = math.log(2)
    assert terms["d_real"].item() == pytest.approx(log2, abs=1e-6)
    assert terms["d_fake"].item() == pytest.approx(log2, abs=1e-6)  # mean of reconstructed and prior fakes
    assert objectives["discriminator"].item() == pytest.approx(3 * log2, abs=1e-6)  # eqs. 3.8-3.10
    assert terms["g_fool"].item() == pytest.approx(2 * log2, abs=1e-6)
    pixels = 28 * 28
    assert objectives["generator"].item() == pytest.approx(15 * terms["recon"].item() / pixels + 2 * log2, rel=1e-5)
    minimax = _model(generator_loss="minimax")
    _zero_discriminator(minimax)
    assert minimax.objectives(_batch())[1]["g_fool"].item() == pytest.approx(-2 * log2, abs=1e-6)


def test_equilibrium_skips_the_winning_network():
    model = _model(equilibrium=0.35)
    low, mid, high = torch.tensor(0.1), torch.tensor(0.68), torch.tensor(1.5)
    assert [v.item() for v in model._equilibrium(low, mid)] == [0.0, 1.0]  # D too good on real: no D step
    assert [v.item() for v in model._equilibrium(mid, high)] == [1.0, 0.0]  # D losing: G drops its GAN term
    assert [v.item() for v in model._equilibrium(mid, mid)] == [1.0, 1.0]


def test_feature_reconstruction_compares_discriminator_features():
    model = _model("vae-gan")
    assert model.config.reconstruction == "features"
    torch.manual_seed(3)
    _, terms = model.objectives(_batch())
    torch.manual_seed(3)
    posterior = model.encode(_batch())
    x_rec = model.decode(posterior.rsample())
    fakes = torch.cat([x_rec, model.decode(model.prior(6).rsample())])  # batch norm sees all fakes together
    features = model.discriminator(fakes)[1][:6]
    expected = 0.5 * (features - model.discriminator(_batch().x)[1]).square().sum(1).mean()
    assert "recon" not in terms  # the pixel NLL is logged as recon only where it is the term
    assert terms["feature_recon"].item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize("name", ["cdvae-gan", "vae-gan", "cdvae"])
def test_each_optimiser_receives_only_its_own_networks_gradient(name):
    model = _model(name)
    networks = model.networks()
    groups = [set(map(id, n.parameters)) for n in networks.values()]
    assert sum(map(len, groups)) == len(set().union(*groups)) == len(list(model.parameters()))  # disjoint, complete
    assert all(n.optimizer == "rmsprop" for n in networks.values())
    optimizers = build_optimizers(networks, TrainConfig())
    assert {k: o.param_groups[0]["lr"] for k, o in optimizers.items()} == \
        {"encoder": 3e-4, "generator": 3e-4, **({"discriminator": 3e-5} if name != "cdvae" else {})}
    batch = _batch()
    torch.manual_seed(5)
    objectives, _ = model.objectives(batch)
    expected = {k: torch.autograd.grad(objectives[k], networks[k].parameters, retain_graph=True, allow_unused=True)
                for k in objectives}
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(5)
    model.training_step(batch, optimizers)
    for key, grads in expected.items():
        for p, g in zip(networks[key].parameters, grads):
            reference = torch.zeros_like(p) if g is None else g
            assert torch.allclose(p.grad, reference, atol=1e-6, rtol=1e-4), key
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_training_on_attribute_data_saves_and_reloads(tmp_path):
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(64, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    attributes = (torch.rand(64, 3, generator=g) > 0.5).float()
    data = ImageDataset("toy", images, {"attributes": attributes}, attribute_names=list(ATTRS))
    model = _model()
    history = Trainer(model, TrainConfig(epochs=1, batch_size=16, progress=False), data, data, out_dir=tmp_path).fit()
    assert {"train/d_real", "train/attribute_bce", "eval/attribute_accuracy"} <= set(history[0])
    reloaded = cfae.load(tmp_path / "checkpoints" / "epoch-0001")
    assert reloaded.attribute_names == ATTRS
    batch = data.batch(slice(0, 4))
    assert torch.allclose(flip(reloaded, batch, "c").counterfactuals, flip(model.cpu(), batch, "c").counterfactuals, atol=1e-5)


def test_attribute_models_refuse_data_without_attributes():
    with pytest.raises(ValueError, match="attribute dataset"):
        _model().objectives(Batch(torch.rand(2, 1, 28, 28)))
    with pytest.raises(ValueError, match="attribute names"):
        build_model("cdvae-gan")
    with pytest.raises(ValueError, match="adversarial"):
        build_model("cdvae", reconstruction="features", attributes=("a",))


class _LinearCodes(torch.nn.Module):
    """encode(x).mean = the first two pixels; decode(z) = z as a 1 x 1 x 2 'image'."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def encode(self, batch):
        return type("Q", (), {"mean": batch.x.flatten(1)[:, :2]})()

    def decode(self, z):
        return z.view(-1, 1, 1, 2)


def test_mean_difference_moves_by_the_difference_of_class_means():
    x = torch.tensor([[0.0, 0.0], [2.0, 1.0], [4.0, 3.0], [6.0, 2.0]]).view(4, 1, 1, 2)
    y = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
    data = ImageDataset("toy", x, {"attributes": y}, attribute_names=["on"])
    model = _LinearCodes()
    directions = MeanDifference.fit(model, data)
    assert torch.allclose(directions.directions, torch.tensor([[4.0, 2.0]]))  # (5, 2.5) - (1, 0.5)
    result = counterfactual(model, data.batch(slice(None)), "on", directions=directions)
    moved = torch.tensor([[4.0, 2.0], [6.0, 3.0], [0.0, 1.0], [2.0, 0.0]])
    assert torch.allclose(result.counterfactuals.view(4, 2), moved)
    unchanged = directions.flip(model, data.batch(slice(None)), "on", y[:, 0])  # already at the value: no move
    assert torch.allclose(unchanged.counterfactuals.view(4, 2), x.view(4, 2))
    with pytest.raises(ValueError, match="MeanDifference"):
        counterfactual(model, data.batch(slice(None)), "on")


def test_runs_fill_attribute_names_only_for_models_with_attribute_latents():
    from cfae.train.run import RunConfig

    shape, names = (1, 28, 28), ["thick", "wide"]
    small = {"latent_dim": 2, "hidden": (4, 8)}
    assert RunConfig(model="vae-gan", dataset="x", model_options=small).build_model(shape, names).attribute_names == ()
    for name in ("cdvae", "cdvae-gan"):
        model = RunConfig(model=name, dataset="x", model_options=small).build_model(shape, names)
        assert model.attribute_names == ("thick", "wide")


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)])
def test_table1_networks_keep_the_image_size(shape):
    from cfae.nn.conv import stage_sizes

    assert stage_sizes(64, 3, kernel=5) == [64, 32, 16, 8] and stage_sizes(28, 3, kernel=5) == [28, 14, 7, 4]
    assert stage_sizes(28, 3, kernel=4) == [28, 14, 7, 3]
    model = build_model("cdvae-gan", input_shape=shape, network="dcgan", latent_dim=100, attributes=tuple("abc"))
    assert model.encoder.fc[0].out_features == 2048
    x = torch.rand(2, *shape)
    assert model.decode(model.hard_code(model.encode(x))).shape == x.shape
    logit, features = model.discriminator(x)
    assert logit.shape == (2,) and features.shape[1] == 512 * stage_sizes(shape[1], 4, 5)[-1] ** 2
