"""Interventional consistency (seed 003): metrics on constructed response maps, the XBlock, hybrid
sampling, the consistency penalties and the seed 003 networks."""

import math

import numpy as np
import pytest
import torch
from conftest import tiny_dataset
from torch import nn

import cfae
from cfae.counterfactual.hybrid import double_interventions, hybrid_codes, sample_codes, swapped_codes
from cfae.metrics.consistency import (consistency_matrices, hybrid_mmd, invariance_summary, latent_response_matrix,
                                      mask_sparsity, self_consistency, traversal_response)
from cfae.metrics.groundtruth import single_dimension_counterfactuals
from cfae.models import build_model
from cfae.nn.distributions import PointMass
from cfae.nn.divergences import mmd
from cfae.nn.interventions import off_dimension_error, random_single_interventions
from cfae.nn.xblock import XBlock, gumbel_sigmoid
from cfae.train import TrainConfig, Trainer


class LinearResponse(nn.Module):
    """decode is the identity on codes and encode multiplies by a matrix: R(N) = N A."""

    def __init__(self, matrix: torch.Tensor):
        super().__init__()
        self.register_buffer("matrix", matrix)
        self.dummy = nn.Parameter(torch.zeros(1))

    def decode(self, z):
        return z

    def encode(self, x):
        return PointMass(x @ self.matrix)


def gaussian_codes(n=2000, d=4, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * torch.tensor([1.0, 2.0, 0.5, 3.0])[:d]


def test_identity_response_is_perfectly_consistent():
    codes = gaussian_codes()
    scores = consistency_matrices(LinearResponse(torch.eye(4)), codes, interventions=5, samples=300)
    off = ~torch.eye(4, dtype=torch.bool)
    assert torch.allclose(scores["INV"][off], torch.ones(12), atol=1e-6)
    assert torch.allclose(scores["INV"].diagonal(), torch.zeros(4), atol=1e-5)  # fully responsive
    assert torch.allclose(scores["EQV"], torch.ones(4, 4), atol=1e-6)
    assert torch.allclose(scores["SCN"], torch.ones(4), atol=1e-6)
    assert invariance_summary(scores["INV"]) == pytest.approx(1.0)


def test_a_leak_lowers_invariance_by_the_expected_amount():
    m, i, a = 1, 3, 0.4
    matrix = torch.eye(4)
    matrix[m, i] = a  # R(N)_i = N_i + a N_m
    codes = gaussian_codes()
    model = LinearResponse(matrix)
    scores = consistency_matrices(model, codes, interventions=6, samples=400, seed=3)
    base = codes[torch.randperm(len(codes), generator=torch.Generator().manual_seed(3))[:400]]
    answer = base @ matrix
    expected = 1 - a * base[:, m].std() / base[:, i].std()
    assert float(scores["INV"][m, i]) == pytest.approx(float(expected), rel=1e-4)
    others = [(r, c) for r in range(4) for c in range(4) if r != c and (r, c) != (m, i)]
    assert all(float(scores["INV"][r, c]) == pytest.approx(1.0, abs=1e-5) for r, c in others)
    # self-consistency of dimension i drops: |N'_i - N_i| = a |N_m|
    assert float(scores["SCN"][i]) == pytest.approx(float(1 - a * base[:, m].abs().mean() / base[:, i].std()), rel=1e-4)
    assert answer.shape == base.shape


def test_equivariance_counts_what_the_response_adds_after_the_intervention():
    matrix = torch.eye(3) * 0.5  # R halves every code: N_I - I(R(N_I)) = N_I / 2 off the intervened dimension
    codes = gaussian_codes(d=3)
    scores = consistency_matrices(LinearResponse(matrix), codes, interventions=4, samples=300, seed=1)
    assert torch.allclose(scores["EQV"].diagonal(), torch.ones(3), atol=1e-6)
    assert (scores["EQV"][~torch.eye(3, dtype=torch.bool)] < 0.9).all()


def test_hybrid_sampling_keeps_marginals_and_breaks_dependence():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5000, generator=gen)
    codes = torch.stack([x, 0.9 * x + 0.1 * torch.randn(5000, generator=gen), torch.rand(5000, generator=gen)], 1)
    mixed = hybrid_codes(codes, torch.Generator().manual_seed(1))
    assert torch.equal(mixed.sort(0).values, codes.sort(0).values)
    assert torch.corrcoef(codes.T)[0, 1] > 0.99
    assert abs(float(torch.corrcoef(mixed.T)[0, 1])) < 0.05
    drawn = sample_codes(codes, 4000, "uniform", torch.Generator().manual_seed(2))
    assert (drawn.min(0).values >= codes.min(0).values).all() and (drawn.max(0).values <= codes.max(0).values).all()
    with pytest.raises(ValueError, match="valid choices: posterior, hybrid, uniform"):
        sample_codes(codes, 3, "prior")


def test_imq_mmd_is_zero_for_identical_samples_and_sees_dependence():
    codes = gaussian_codes()
    assert float(mmd(codes, codes.clone(), "imq")) == pytest.approx(0.0, abs=1e-7)
    x = torch.randn(3000, generator=torch.Generator().manual_seed(0))
    dependent = torch.stack([x, x], 1)
    independent = torch.randn(3000, 2, generator=torch.Generator().manual_seed(1))
    assert hybrid_mmd(dependent) > 20 * hybrid_mmd(independent)


def test_gumbel_sigmoid_becomes_binary_as_temperature_falls():
    logits = torch.full((20000,), 0.7)
    torch.manual_seed(0)
    soft = gumbel_sigmoid(logits, 1.0)
    hard = gumbel_sigmoid(logits, 1e-3)
    middle = lambda v: float(((v > 0.01) & (v < 0.99)).float().mean())  # noqa: E731
    assert middle(soft) > 0.5 and middle(hard) < 0.005
    assert float(hard.mean()) == pytest.approx(float(torch.sigmoid(torch.tensor(0.7))), abs=0.02)


def test_xblock_intervention_changes_children_not_parents():
    torch.manual_seed(0)
    block = XBlock(4, unit_dim=2, hidden=8).eval()
    with torch.no_grad():
        block.mask_logits.fill_(5.0)  # every edge j -> i, j < i
    noise = torch.randn(16, 4)
    before = block(noise).view(16, 4, 2)
    after = block(noise, {1: torch.tensor([3.0, -3.0])}).view(16, 4, 2)
    assert torch.equal(before[:, 0], after[:, 0])
    assert torch.allclose(after[:, 1], torch.tensor([3.0, -3.0]).expand(16, 2))
    assert (after[:, 2] - before[:, 2]).abs().max() > 1e-3 and (after[:, 3] - before[:, 3]).abs().max() > 1e-3
    with torch.no_grad():
        block.mask_logits.fill_(-50.0)  # no edges: an intervention reaches no other unit
    before, after = block(noise).view(16, 4, 2), block(noise, {1: 3.0}).view(16, 4, 2)
    assert torch.equal(before[:, [0, 2, 3]], after[:, [0, 2, 3]])
    assert float(block.adjacency().sum()) == 0


def test_xblock_masks_learn_a_planted_graph():
    """Fitting causes of the chain N0 -> Z1 (Z1 = 2 N0 + N1; Z2 = N2) opens the one edge the block needs
    (only Z0 carries N0 to unit 1) and closes the others: a used gate's Gumbel noise costs error."""
    torch.manual_seed(0)
    block = XBlock(3, hidden=16)
    optimiser = torch.optim.Adam(block.parameters(), lr=0.03)
    for _ in range(150):
        noise = torch.randn(128, 3)
        target = torch.stack([noise[:, 0], 2 * noise[:, 0] + noise[:, 1], noise[:, 2]], 1)
        loss = (block(noise) - target).square().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        gates = block.eval().gates()
    assert float(gates[1, 0]) > 0.95 and float(gates[2, 0]) < 0.4 and float(gates[2, 1]) < 0.4
    assert torch.equal(block.adjacency(), torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 0, 0]]))


def xblock_gain(block: XBlock, n: int = 4000) -> torch.Tensor:
    """sd(Z_i) / sd(N_i) per unit at standard normal noise (evaluation gates)."""
    noise = torch.randn(n, block.units, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        causes = block.eval()(noise).view(n, block.units, block.unit_dim)[:, :, 0]
    return causes.std(0) / noise.std(0)


def test_residual_xblock_starts_near_the_identity_where_the_plain_one_contracts():
    """The seed's Z_i = f_i(.) shrinks each code about tenfold at initialisation (median gain 0.07 over
    blocks), which a decoder must first undo; Z_i = N_i + f_i(.) starts at a gain near 1."""
    plain, residual = [], []
    for seed in range(10):
        torch.manual_seed(seed)
        plain.append(xblock_gain(XBlock(6)))
        torch.manual_seed(seed)
        residual.append(xblock_gain(XBlock(6, residual=True)))
    assert float(torch.cat(plain).median()) < 0.15
    gains = torch.cat(residual)
    assert 0.85 < float(gains.median()) < 1.15 and float(gains.min()) > 0.5


def test_residual_xblock_is_n_plus_the_mechanism_and_keeps_interventions():
    torch.manual_seed(0)
    plain = XBlock(3, unit_dim=2, hidden=8).eval()
    residual = XBlock(3, unit_dim=2, hidden=8, residual=True).eval()
    residual.load_state_dict(plain.state_dict())
    with torch.no_grad():
        plain.mask_logits.fill_(-50.0)  # no edges: Z_i = f_i(N_i) alone
        residual.mask_logits.fill_(-50.0)
    noise = torch.randn(8, 3)
    assert torch.allclose(residual(noise), plain(noise) + noise.repeat_interleave(2, 1))
    after = residual(noise, {0: 2.0}).view(8, 3, 2)
    assert torch.allclose(after[:, 0], torch.full((8, 2), 2.0))
    with pytest.raises(ValueError, match="xblock_residual needs xblock"):
        build_model("ae", input_shape=(1, 8, 8), latent_dim=2, xblock_residual=True)


def test_xblock_size_matches_the_seed_table4_difference():
    """Seed Table 4: XAE S has 310,984 parameters, AE S 309,973: the block adds 1,011 (n = 6, unit 1)."""
    assert sum(p.numel() for p in XBlock(6, 1, hidden=30).parameters()) == 310_984 - 309_973


@pytest.mark.parametrize("n, seed_percent", [(6, 41.66), (12, 45.83), (32, 48.44)])
def test_seed_table1_sparsity_is_the_value_of_a_full_mask_over_n_squared(n, seed_percent):
    full = torch.tril(torch.ones(n, n), diagonal=-1)
    scores = mask_sparsity(full)
    assert scores["edge_percent"] == 100.0
    assert scores["percent_of_n_squared"] == pytest.approx(seed_percent, abs=0.01)
    half = full.clone()
    half[n - 1] = 0  # drop the n - 1 edges into the last unit
    assert mask_sparsity(half)["edges"] == n * (n - 1) / 2 - (n - 1)


def test_traversal_and_latent_response_matrix_on_a_linear_map():
    codes = gaussian_codes()
    identity = LinearResponse(torch.eye(4))
    walk = traversal_response(identity, codes, dim=2, steps=7, samples=5)
    assert walk["errors"].shape == (7, 5, 4) and walk["errors"].abs().max() == 0
    assert torch.all(walk["values"][1:] > walk["values"][:-1])
    matrix = torch.eye(4)
    matrix[0, 2] = 0.5
    lrm = latent_response_matrix(LinearResponse(matrix), codes, samples=800)
    assert float(lrm[0, 2]) == pytest.approx(0.5 * float(lrm[0, 0]), rel=1e-5)
    assert float(lrm[1, 2]) == 0.0 and float(lrm[2, 0]) == 0.0
    # moving column j to a shuffled copy changes it by delta with E delta^2 = 2 Var(z_j), so under the
    # identity the root mean square is sqrt(2) sd_j (a mean |delta| would give 2 sd_j / sqrt(pi) = 1.13 sd_j)
    ratios = latent_response_matrix(identity, codes, samples=800).diag() / codes.std(0)
    assert ratios.tolist() == pytest.approx([math.sqrt(2)] * 4, rel=0.05)


def test_self_consistency_modes_order_on_a_map_that_only_knows_the_data():
    """A response that snaps codes onto the data line y = x scores 1 under posterior draws and less
    under hybrid draws, which leave the line."""
    x = torch.randn(3000, generator=torch.Generator().manual_seed(0))
    codes = torch.stack([x, x], 1)
    snap = LinearResponse(torch.full((2, 2), 0.5))
    posterior = self_consistency(snap, codes, "posterior", count=2000)
    hybrid = self_consistency(snap, codes, "hybrid", count=2000)
    assert torch.allclose(posterior, torch.ones(2), atol=1e-6)
    assert (hybrid < 0.6).all()


def test_self_consistency_scales_on_a_response_that_doubles_the_codes():
    """R(N) = 2N: |R(N) - N| = |N|, and E|N| / sd = sqrt(2 / pi) for a Gaussian; the seed's response-space
    sd is twice the codes' one."""
    codes = torch.randn(200000, 1, generator=torch.Generator().manual_seed(1))
    double = LinearResponse(torch.full((1, 1), 2.0))
    folded = math.sqrt(2 / math.pi)
    assert float(self_consistency(double, codes, "posterior", count=100000)) == pytest.approx(1 - folded, abs=0.01)
    assert float(self_consistency(double, codes, "posterior", count=100000, scale="response")) == pytest.approx(
        1 - folded / 2, abs=0.01)
    with pytest.raises(ValueError, match="valid choices: codes, response"):
        self_consistency(double, codes, "posterior", scale="data")


def test_off_dimension_error_and_single_interventions():
    a, b = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.0, 0.0, 0.0]])
    assert float(off_dimension_error(a, b, torch.tensor([1]))) == pytest.approx((1 + 9) / 3)
    codes = torch.arange(40.0).view(10, 4)
    moved, dims, values = random_single_interventions(codes, torch.Generator().manual_seed(0))
    for k in range(10):
        changed = (moved[k] != codes[k]).nonzero().flatten().tolist()
        assert set(changed) <= {int(dims[k])}
        assert float(values[k]) in codes[:, dims[k]].tolist()


def test_invariance_penalty_is_the_algorithm1_estimate():
    torch.manual_seed(0)
    model = build_model("ae", latent_dim=3, consistency="invariance", hidden=(32,))
    codes = torch.randn(6, 3)
    torch.manual_seed(5)
    penalty = model.consistency_penalty(codes)
    torch.manual_seed(5)
    moved, dims, _ = random_single_interventions(codes)
    with torch.no_grad():
        plain, changed = model.response(codes), model.response(moved)
    expected = sum(float((plain[k] - changed[k]).square().sum() - (plain[k, dims[k]] - changed[k, dims[k]]).square())
                   for k in range(6)) / (6 * 3)
    assert float(penalty.detach()) == pytest.approx(expected, rel=1e-5)
    terms = {k: float(v.detach()) for k, v in model(torch.rand(5, 1, 28, 28)).terms.items()}
    assert terms["loss"] == pytest.approx(terms["recon"] + 4 * terms["consistency"], rel=1e-6)
    # an untrained AE's penalty is ~1e-8 of its reconstruction term, too small to show its weight: a stand-in
    weighted = build_model("ae", latent_dim=3, consistency="invariance", consistency_weight=3.0, hidden=(32,))
    weighted.consistency_penalty = lambda z: torch.tensor(2.5)
    terms = weighted(torch.rand(5, 1, 28, 28)).terms
    assert float((terms["loss"] - terms["recon"]).detach()) == pytest.approx(3.0 * 2.5, rel=1e-4)


def test_equivariance_penalty_compares_causes_after_reapplying_the_intervention():
    torch.manual_seed(0)
    model = build_model("ae", latent_dim=3, consistency="equivariance", xblock=True, unit_dim=2, hidden=(32,)).eval()
    codes = torch.randn(6, 3)
    torch.manual_seed(7)
    penalty = model.consistency_penalty(codes)
    torch.manual_seed(7)
    moved, dims, values = random_single_interventions(codes)
    again = model.response(moved)
    again[torch.arange(6), dims] = values
    expected = (model.causes(moved) - model.causes(again)).square().sum() / (6 * 3)
    assert float(penalty.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_model_intervention_on_a_cause_goes_through_the_block():
    torch.manual_seed(0)
    model = build_model("ae", latent_dim=3, xblock=True, hidden=(32,)).eval()
    with torch.no_grad():
        model.xblock.mask_logits.fill_(5.0)
    codes = torch.randn(4, 3)
    images = model.intervene(codes, {"Z0": 2.0})
    assert torch.allclose(images, model.decode_from_causes(model.xblock(codes, {0: 2.0})))
    assert not torch.allclose(images, model.decode(codes))
    with pytest.raises(ValueError, match="unit_dim > 1 needs xblock"):
        build_model("ae", latent_dim=3, unit_dim=2)


def test_seed_networks_shapes_and_sae_chunks():
    for shape in [(1, 28, 28), (3, 64, 64)]:
        model = build_model("ae", latent_dim=6, network="pooled", hidden=(16,) * 6, input_shape=shape)
        assert model(torch.rand(2, *shape)).logits.shape == (2, *shape)
    standard = build_model("ae", latent_dim=12, network="pooled")
    assert sum(p.numel() for p in standard.parameters()) == pytest.approx(423_259, rel=0.005)  # seed Table 4
    torch.manual_seed(0)
    sae = build_model("sae", latent_dim=6, hidden=(16,) * 3).eval()
    assert len(sae.decoder.modulations) == 3
    z = torch.randn(2, 6)
    for chunk in range(3):
        moved = z.clone()
        moved[:, 2 * chunk : 2 * chunk + 2] += 1.0
        assert not torch.allclose(sae.decode(z), sae.decode(moved))
    with pytest.raises(ValueError, match="at least 3 latent dimensions"):
        build_model("sae", latent_dim=2, hidden=(16,) * 3)
    assert math.isnan(invariance_summary(torch.ones(1, 1)))


def test_avae_term_is_the_one_sample_kl_to_the_rho_target_and_spares_the_decoder():
    torch.manual_seed(0)
    model = build_model("avae", latent_dim=3, hidden=(32,), rho=0.9)
    x = torch.rand(5, 1, 28, 28)
    torch.manual_seed(1)
    out = model(x)
    torch.manual_seed(1)
    z = model.encode(x).rsample()
    again = model.encode(model.decode(z).detach())
    z2 = again.mean + again.scale * torch.randn_like(again.scale)
    log_q = (-0.5 * ((z2 - again.mean) / again.scale).square() - again.scale.log()).sum(1)
    log_r = (-0.5 * (z2 - 0.9 * z).square() / (1 - 0.81) - 0.5 * math.log(1 - 0.81)).sum(1)
    terms = {k: float(v.detach()) for k, v in out.terms.items()}
    assert terms["autoencoding"] == pytest.approx(float((log_q - log_r).detach().mean()), rel=1e-4)
    assert terms["loss"] == pytest.approx(terms["recon"] + terms["kl"] + terms["autoencoding"], rel=1e-5)
    model.zero_grad()
    out.terms["autoencoding"].backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in model.decoder.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.encoder.parameters())


def test_x_model_trains_and_round_trips_through_its_checkpoint(tmp_path):
    model = build_model("vae", latent_dim=3, hidden=(16,), xblock=True, unit_dim=2, consistency="equivariance")
    Trainer(model, TrainConfig(epochs=1, batch_size=16, progress=False), tiny_dataset(32), tiny_dataset(16, seed=1),
            out_dir=tmp_path).fit()
    loaded = cfae.load(tmp_path).eval()
    model.eval()
    codes = torch.randn(4, 3)
    assert loaded.config.xblock and torch.equal(loaded.xblock.mask_logits, model.xblock.mask_logits)
    assert torch.equal(loaded.intervene(codes, {"Z1": 0.5}), model.intervene(codes, {"Z1": 0.5}))


class FactorSpace:
    """Two factors rendered as the image [a, b] itself (C=1, H=1, W=2)."""

    factor_names, factor_sizes = ("a", "b"), (5, 7)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], 1)

    def render(self, factors):
        return torch.as_tensor(factors, dtype=torch.float32).view(-1, 1, 1, 2)


class PixelCodes(nn.Module):
    """encode: the image's two values through a matrix; decode: back through its inverse."""

    def __init__(self, matrix):
        super().__init__()
        self.matrix, self.dummy = matrix, nn.Parameter(torch.zeros(1))

    def encode(self, x):
        return PointMass(x.flatten(1) @ self.matrix)

    def decode(self, z):
        return (z @ torch.linalg.inv(self.matrix)).view(-1, 1, 1, 2)


def test_single_dimension_counterfactuals_are_exact_for_aligned_codes_and_not_for_mixed_ones():
    aligned = single_dimension_counterfactuals(PixelCodes(torch.diag(torch.tensor([2.0, 0.5]))), FactorSpace(), n=200)
    assert aligned["error"] == pytest.approx(0.0, abs=1e-9) and aligned["dimension_agreement"] == 1.0
    mixed = single_dimension_counterfactuals(PixelCodes(torch.tensor([[1.0, 1.0], [1.0, -1.0]])), FactorSpace(), n=200)
    assert mixed["error"] > 0.5 and mixed["floor"] == pytest.approx(0.0, abs=1e-9)


def test_double_intervention_matrix_layout_and_cause_interventions():
    base, first, second = torch.zeros(3), torch.ones(3), torch.full((3,), 2.0)
    codes = swapped_codes(base, first, second)
    assert torch.equal(codes[0, 2], torch.tensor([1.0, 0.0, 2.0]))
    assert torch.equal(codes[1, 1], torch.tensor([0.0, 1.0, 0.0]))  # the diagonal: first only
    torch.manual_seed(0)
    model = build_model("ae", latent_dim=3, xblock=True, hidden=(16,)).eval()
    noise = double_interventions(model, base, first, second)
    assert noise.shape == (3, 3, 1, 28, 28)
    assert torch.allclose(noise[0, 2], model.decode(codes[0, 2][None])[0])
    causes = double_interventions(model, base, first, second, on="causes")
    z1, z2 = model.causes(first[None])[0], model.causes(second[None])[0]
    expected = model.decode_from_causes(model.xblock(base[None], {2: z2[2:3], 0: z1[0:1]}))
    assert torch.allclose(causes[0, 2], expected[0])
    with pytest.raises(ValueError, match="'noise', or on 'causes'"):
        double_interventions(model, base, first, second, on="z")
