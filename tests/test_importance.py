"""The importance-weighted objective (IWAE) and its two encoder gradients (iwae, dreg), checked on a
linear-Gaussian model whose likelihood and exact posterior are known in closed form:
p(z) = N(0, 1), p(x | z) = N(w z + b, s^2 I); q*(z | x) = N(v w.(x - b) / s^2, v), v = 1 / (1 + |w|^2 / s^2);
log p(x) = log N(x; b, w w^T + s^2 I)."""

import math

import pytest
import torch
from torch import nn

from cfae.data.base import Batch
from cfae.models import build_model
from cfae.models.importance import held_fixed_log_probs, importance_weighted_terms, log_mean_exp, log_weights
from cfae.models.vae import VAE, VAEConfig
from cfae.rng import seeded
from conftest import tiny_dataset

W, B, S = torch.tensor([0.02, -0.01]), torch.tensor([0.5, 0.4]), 0.01
POSTERIOR_VAR = 1 / (1 + W.square().sum().item() / S**2)


class LinearMeanDecoder(nn.Module):
    """Decoder logits whose sigmoid is w z + b exactly (the Gaussian likelihood reads sigmoid(logits))."""

    def __init__(self):
        super().__init__()
        self.w, self.b = nn.Parameter(W.clone()), nn.Parameter(B.clone())

    def forward(self, z):
        return torch.logit(z * self.w + self.b).view(-1, 1, 1, 2)


def linear_gaussian(exact: bool, **options) -> VAE:
    """The model above; its encoder is the exact posterior or that posterior's mean shifted and scale widened."""
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        gain = POSTERIOR_VAR * W / S**2
        encoder[1].weight.copy_(torch.stack([gain, torch.zeros(2)]))
        shift, widen = (0.0, 0.0) if exact else (0.7, math.log(3.0))
        encoder[1].bias.copy_(torch.tensor([-(gain * B).sum().item() + shift, math.log(POSTERIOR_VAR) + widen]))
    config = VAEConfig(name="vae", input_shape=(1, 1, 2), latent_dim=1, likelihood="gaussian", gaussian_std=S, **options)
    return VAE(config, encoder, LinearMeanDecoder()).train()


def data(n: int = 1, seed: int = 0) -> Batch:
    """Draws of x from the model (one row repeated n times when n > 1 is asked of one x)."""
    g = torch.Generator().manual_seed(seed)
    x = B + W * torch.randn(1, generator=g) + S * torch.randn(2, generator=g)
    return Batch(x.view(1, 1, 1, 2).repeat(n, 1, 1, 1))


def true_log_likelihood(x: torch.Tensor) -> float:
    cov = torch.outer(W, W).double() + S**2 * torch.eye(2, dtype=torch.float64)
    return torch.distributions.MultivariateNormal(B.double(), cov).log_prob(x.flatten().double()).item()


def encoder_gradient(model: VAE, batch: Batch) -> torch.Tensor:
    model.zero_grad()
    model(batch).loss.backward()
    return torch.cat([p.grad.flatten() for p in model.encoder.parameters()])


def test_log_mean_exp_is_stable_and_exact():
    values = torch.tensor([[-1000.0, -1000.0 + math.log(3.0)]], dtype=torch.float64)
    assert log_mean_exp(values, 1).item() == pytest.approx(-1000.0 + math.log(2.0), abs=1e-9)


def test_weights_at_the_exact_posterior_are_the_likelihood_itself():
    """log p(x, z) - log q*(z | x) = log p(x) for every z: each weight, and so L_K for every K, is log p(x)."""
    model, batch = linear_gaussian(exact=True), data(200)
    truth = true_log_likelihood(batch.x[0])
    assert log_weights(model, batch).detach().double().numpy() == pytest.approx(truth, abs=2e-3)
    posterior = model.encode(batch)
    terms = importance_weighted_terms(model, batch, posterior, model.prior_of(batch), k=7)
    assert -terms["neg_iw_bound"].item() == pytest.approx(truth, abs=2e-3)


def test_the_bound_rises_with_k_towards_the_true_likelihood():
    model, batch = linear_gaussian(exact=False), data(4000)
    truth, posterior = true_log_likelihood(batch.x[0]), model.encode(batch)
    with seeded(0, "cpu"):
        bounds = [-importance_weighted_terms(model, batch, posterior, model.prior_of(batch), k)["neg_iw_bound"].item()
                  for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2] < truth
    assert truth - bounds[2] < 0.3 * (truth - bounds[0])


def seeded_terms(model, batch: Batch, seed: int, k: int = 1, beta: float = 1.0) -> dict:
    """importance_weighted_terms with its draws taken under a fixed seed."""
    posterior = model.encode(batch)
    with seeded(seed, "cpu"):
        return importance_weighted_terms(model, batch, posterior, model.prior_of(batch), k, beta)


def seeded_elbo(model, batch: Batch, seed: int) -> torch.Tensor:
    with seeded(seed, "cpu"):
        return log_weights(model, batch).mean()


def test_one_draw_is_the_one_sample_elbo_of_log_weights():
    model, batch = linear_gaussian(exact=False), data(50)
    terms, elbo = seeded_terms(model, batch, 3), seeded_elbo(model, batch, 3)
    assert terms["loss"].item() == pytest.approx(-elbo.item(), rel=1e-6)
    assert terms["neg_iw_bound"].item() == pytest.approx(-elbo.item(), rel=1e-6)


def test_tempered_weights_scale_the_log_ratio_by_beta():
    model, batch = linear_gaussian(exact=False), data(3)
    full, half = seeded_terms(model, batch, 1), seeded_terms(model, batch, 1, beta=0.5)
    # k = 1: loss = recon - beta (log p(z) - log q(z|x)), so the two losses differ by half the ratio
    log_ratio = full["recon"] - full["loss"]
    assert (half["loss"] - half["recon"]).item() == pytest.approx(-0.5 * log_ratio.item(), rel=1e-5)
    assert half["neg_iw_bound"].item() == pytest.approx(full["neg_iw_bound"].item(), rel=1e-6)


def test_dreg_encoder_gradient_is_zero_at_the_exact_posterior_and_iwae_is_not():
    """At q = p(z|x), d log w / dz = 0: dreg's (and sticking-the-landing's) encoder gradient vanishes
    for every draw; iwae keeps the score term -d log q / d phi, zero only in expectation."""
    batch = data(64)
    for k in (1, 5):
        torch.manual_seed(0)
        dreg = encoder_gradient(linear_gaussian(True, importance_samples=k, iw_gradient="dreg"), batch)
        torch.manual_seed(0)
        iwae = encoder_gradient(linear_gaussian(True, importance_samples=max(k, 2)), batch)
        assert dreg.abs().max().item() < 1e-3 * iwae.abs().max().item()
        assert iwae.abs().max().item() > 1e-2


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_dreg_and_iwae_estimate_the_same_encoder_gradient_with_less_noise(beta):
    """Both are unbiased for d L_K / d phi (tempered by beta): their means over many draws agree within
    their standard errors, and dreg's spread is the smaller at K = 16."""
    batch, k = data(4000), 16
    estimates = {}
    for name in ("iwae", "dreg"):
        torch.manual_seed(1)
        model = linear_gaussian(False, importance_samples=k, iw_gradient=name, beta=beta)
        estimates[name] = torch.stack([encoder_gradient(model, batch) for _ in range(20)]).double()
    mean = {name: g.mean(0) for name, g in estimates.items()}
    error = {name: g.std(0) / math.sqrt(len(g)) for name, g in estimates.items()}
    gap = (mean["iwae"] - mean["dreg"]).abs()
    assert (gap < 4 * (error["iwae"].square() + error["dreg"].square()).sqrt()).all(), (mean, error)
    assert (error["dreg"] < error["iwae"]).all()
    assert mean["iwae"].abs().max() > 4 * error["iwae"].max()  # the gradient is not zero: the check has power


def test_decoder_gradient_is_the_same_under_both_estimators():
    batch = data(32)
    grads = {}
    for name in ("iwae", "dreg"):
        torch.manual_seed(2)
        model = linear_gaussian(False, importance_samples=4, iw_gradient=name)
        model.zero_grad()
        model(batch).loss.backward()
        grads[name] = torch.cat([p.grad for p in model.decoder.parameters()])
    assert torch.allclose(grads["iwae"], grads["dreg"], rtol=1e-4, atol=1e-6)


def test_dreg_loss_value_is_the_bound_not_its_surrogate():
    batch = data(32)
    values = {}
    for name in ("iwae", "dreg"):
        torch.manual_seed(4)
        out = linear_gaussian(False, importance_samples=4, iw_gradient=name)(batch)
        values[name] = (out.loss.item(), out.terms["neg_iw_bound"].item())
    assert values["iwae"][0] == pytest.approx(values["dreg"][0], rel=1e-6)
    assert values["dreg"][0] == pytest.approx(values["dreg"][1], rel=1e-6)
    with torch.no_grad():  # evaluation: no gradient, no surrogate, the bound itself
        out = linear_gaussian(False, importance_samples=4, iw_gradient="dreg").eval()(batch)
    assert out.loss.item() == pytest.approx(out.terms["neg_iw_bound"].item(), rel=1e-6)


def test_a_hierarchy_trains_on_the_bound_and_its_one_draw_is_the_elbo_of_log_weights():
    model = build_model("lvae", layer_sizes=(6, 2), layer_hidden=(32, 8), importance_samples=3).eval()
    batch = tiny_dataset(40).batch(slice(None))
    one, elbo = seeded_terms(model, batch, 5), seeded_elbo(model, batch, 5)
    assert one["neg_iw_bound"].item() == pytest.approx(-elbo.item(), rel=1e-5)
    terms = model.train()(batch).terms
    assert terms["loss"].item() == pytest.approx(terms["neg_iw_bound"].item(), rel=1e-6)  # warm-up weight 1
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_the_models_temper_the_log_ratio_by_their_kl_weight():
    """K = 1 under dreg: loss - recon = -beta r and neg_iw_bound - recon = -r, r = log p(z) - log q(z|x) at the
    draw; beta is the VAE's beta times the warm-up weight. A hierarchy at warm-up weight 0 trains on log p(x|z) alone."""
    batch = data(16)
    model = linear_gaussian(False, iw_gradient="dreg", beta=0.5)
    model.set_schedule(0, kl_weight=0.6)
    terms = model(batch).terms
    assert (terms["loss"] - terms["recon"]).item() == pytest.approx(0.3 * (terms["neg_iw_bound"] - terms["recon"]).item(),
                                                                    rel=1e-4)
    lvae = build_model("lvae", layer_sizes=(6, 2), layer_hidden=(32, 8), importance_samples=3).train()
    images = tiny_dataset(40).batch(slice(None))
    lvae.set_schedule(0, kl_weight=0.0)
    with seeded(6, "cpu"):
        cold = lvae(images).terms
    assert cold["loss"].item() < cold["recon"].item()  # -log mean_k p(x|z_k) <= mean_k -log p(x|z_k)
    assert abs(cold["loss"].item() - cold["neg_iw_bound"].item()) > 0.1  # the bound keeps the KL the loss dropped


def test_settings_that_do_not_go_together_are_refused():
    with pytest.raises(ValueError, match="capacity_max anneals the ELBO"):
        build_model("vae", capacity_max=25.0, importance_samples=5)
    for gradient in ("dreg", "dreg-unshared"):
        with pytest.raises(ValueError, match=f"iw_gradient {gradient} needs batch_norm false: batch statistics on the"):
            build_model("lvae", iw_gradient=gradient, batch_norm=True)
    with pytest.raises(ValueError, match="importance_samples"):
        build_model("vae", importance_samples=0)
    assert not build_model("vae").config.importance_weighted
    assert build_model("vae", iw_gradient="dreg").config.importance_weighted  # K = 1 dreg: sticking the landing


def tiny_ladder(gradient: str, batch_norm: bool = False, kl_weight: float = 1.0):
    """A two-layer Ladder VAE on 4 pixels, the same initial weights whatever the gradient."""
    torch.manual_seed(3)
    model = build_model("lvae", input_shape=(1, 1, 4), layer_sizes=(2, 1), layer_hidden=(6, 4), batch_norm=batch_norm,
                        importance_samples=4, iw_gradient=gradient).train()
    model.set_schedule(0, kl_weight=kl_weight)
    return model


PIXELS = Batch(torch.tensor([1.0, 0.0, 1.0, 1.0]).view(1, 1, 1, 4).repeat(4000, 1, 1, 1))


def test_a_chain_held_fixed_keeps_its_value_and_the_draws_gradient_and_drops_the_parameters():
    """log q(z | x) held fixed: the same numbers as the live chain, the same gradient with respect to
    the draw (through every conditional's parent), and none reaching a parameter. Encoding again for it
    leaves batch norm's running statistics as they were."""
    model = tiny_ladder("iwae", batch_norm=True)  # the function reads any chain; dreg itself refuses batch norm
    batch = PIXELS.select(torch.arange(8))
    posterior = model.encode(batch)
    draws = [posterior.rsample().detach().requires_grad_() for _ in range(2)]
    live = torch.stack([posterior.log_prob(z) for z in draws])
    statistics = {name: b.clone() for name, b in model.named_buffers()}
    fixed = held_fixed_log_probs(model, batch, posterior, draws)
    assert all(torch.equal(b, statistics[name]) for name, b in model.named_buffers())  # batch norm's, untouched
    assert torch.allclose(fixed, live, atol=1e-5)
    live_grads = torch.autograd.grad(live.sum(), draws, retain_graph=True)
    fixed_grads = torch.autograd.grad(fixed.sum(), draws, retain_graph=True)
    for a, b in zip(live_grads, fixed_grads):
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.autograd.grad(fixed.sum(), list(model.parameters()), allow_unused=True) == (None,) * len(list(model.parameters()))
    assert any(g is not None for g in torch.autograd.grad(live.sum(), list(model.parameters()), allow_unused=True))


@pytest.mark.parametrize("kl_weight", [1.0, 0.3])
def test_dreg_and_iwae_estimate_the_same_gradient_of_a_ladder_and_dreg_is_quieter_for_its_encoder(kl_weight):
    """On a hierarchy whose posterior shares the top-down networks with the prior, both estimators are
    unbiased for every parameter's gradient of L_K (tempered by the warm-up weight): means over many
    draws agree within their standard errors. The inference-only networks' spread is smaller under dreg."""
    estimates, inference_only = {}, None
    for name in ("iwae", "dreg"):
        model = tiny_ladder(name, kl_weight=kl_weight)
        torch.manual_seed(1)
        rows = []
        for _ in range(20):
            model.zero_grad()
            model(PIXELS).loss.backward()
            rows.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        estimates[name] = torch.stack(rows).double()
        inference_only = torch.cat([torch.full((p.numel(),), n.startswith(("encoder.", "up_heads.")))
                                    for n, p in model.named_parameters()])
    mean = {name: g.mean(0) for name, g in estimates.items()}
    error = {name: g.std(0) / math.sqrt(len(g)) for name, g in estimates.items()}
    noise = (error["iwae"].square() + error["dreg"].square()).sqrt()
    moving = noise > 0  # a parameter whose gradient is the same in every draw has no noise to compare
    assert ((mean["iwae"] - mean["dreg"]).abs()[moving] < 4 * noise[moving]).all()
    assert (mean["iwae"].abs() > 4 * error["iwae"]).sum() > 100  # the gradients are not zero: the check has power
    encoder = inference_only & moving
    assert (error["dreg"][encoder] / error["iwae"][encoder]).median() < 0.8


def test_a_ladder_under_dreg_keeps_the_decoder_gradient():
    """The decoder p(x | z_1) is not part of q: its gradient is iwae's for the same draws."""
    grads = {}
    for name in ("iwae", "dreg"):
        model = tiny_ladder(name)
        torch.manual_seed(2)
        model(PIXELS.select(torch.arange(64))).loss.backward()
        grads[name] = torch.cat([p.grad.flatten() for p in model.decoder.parameters()])
    assert torch.allclose(grads["iwae"], grads["dreg"], rtol=1e-5, atol=1e-7)


def test_dreg_unshared_is_dreg_for_q_own_parameters_and_iwae_for_those_shared_with_p():
    """The same draws (one seed) under the three estimators, tempered by a warm-up weight: dreg-unshared's
    gradient equals dreg's for the networks only q reads and iwae's for the top-down networks q shares
    with p and for the decoder, and differs from the other estimator on each."""
    images = PIXELS.x[:64].clone()
    images[::2] = 1 - images[::2]
    grads = {}
    for name in ("iwae", "dreg", "dreg-unshared"):
        model = tiny_ladder(name, kl_weight=0.6)
        torch.manual_seed(7)
        model(Batch(images)).loss.backward()
        grads[name] = {n: p.grad for n, p in model.named_parameters()}
    for n, grad in grads["dreg-unshared"].items():
        own = n.split(".")[0] in ("encoder", "up_heads")
        same, other = ("dreg", "iwae") if own else ("iwae", "dreg")
        assert torch.allclose(grad, grads[same][n], atol=1e-7), n
        assert n.startswith("decoder") or not torch.allclose(grad, grads[other][n], atol=1e-5), n


@pytest.mark.parametrize("name", ["lvae", "hvae", "vae"])
def test_posterior_shares_names_the_modules_both_q_and_the_prior_read(name):
    model = build_model(name, input_shape=(1, 1, 4), **({"layer_sizes": (2, 1), "layer_hidden": (6, 4)} if name != "vae"
                                                        else {"latent_dim": 2, "hidden": [6]}))
    batch = PIXELS.select(torch.arange(8))
    posterior = model.encode(batch)
    z = posterior.rsample().detach()
    params = dict(model.named_parameters())

    def read_by(log_prob):
        if not log_prob.requires_grad:  # N(0, I): no parameters
            return set()
        grads = torch.autograd.grad(log_prob.sum(), list(params.values()), allow_unused=True)
        return {n.split(".")[0] for n, g in zip(params, grads) if g is not None and g.abs().sum() > 0}

    shared = read_by(posterior.log_prob(z)) & read_by(model.prior_of(batch).log_prob(z))
    assert shared == set(model.posterior_shares)
    assert (name == "lvae") == bool(shared)


def test_a_chain_reparameterised_with_its_own_noise_is_its_rsample():
    model = tiny_ladder("iwae")
    posterior = model.encode(PIXELS.select(torch.arange(8)))
    torch.manual_seed(5)
    drawn = posterior.rsample()
    torch.manual_seed(5)
    noise = {name: torch.randn(8, dict(posterior.layout)[name]) for name, _ in posterior.steps}
    assert torch.allclose(posterior.reparameterised(noise), drawn, atol=1e-6)


def test_the_draws_of_an_iw_step_leave_batch_norm_s_running_statistics_to_the_single_sample_pass():
    from cfae.models import build_model

    x = torch.rand(8, 1, 28, 28).round()
    models = {}
    for k in (1, 10):
        torch.manual_seed(0)
        models[k] = build_model("lvae", input_shape=(1, 28, 28), layer_sizes=(4, 2), layer_hidden=(16, 8), batch_norm=True,
                                importance_samples=k).train()
        torch.manual_seed(1)  # the same single-sample draws in both: the IW draws come after them
        models[k](x).loss.backward()
    one, ten = (dict(models[k].named_buffers()) for k in (1, 10))
    assert int(ten["down.0.1.num_batches_tracked"]) == int(one["down.0.1.num_batches_tracked"]) == 2
    for name in one:
        if "running" in name or name.endswith("num_batches_tracked"):
            assert torch.equal(one[name], ten[name]), name
