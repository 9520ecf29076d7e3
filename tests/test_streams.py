"""Latent-optimisation streams (seed 002) and their metrics: analytic cases that could fail."""


import pytest
import torch
from torch import nn

from cfae.counterfactual.streams import StreamSettings, _penalties, stream
from cfae.metrics.siamese import build_pairs, contrastive_loss
from cfae.metrics.streams import (coefficient_of_variation, continuity, frame_differences, im1, im2, linearity,
                                  path_r_squared, proximity, r_squared, sparsity, ynn)
from cfae.nn.distributions import PointMass


class LinearAutoencoder(nn.Module):
    """D(z) = W z + b, E(x) = W^T (x - b) (W with orthonormal columns, so E(D(z)) = z); counts decoded rows."""

    def __init__(self, pixels=16, latent=3, seed=0):
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(pixels, latent, generator=torch.Generator().manual_seed(seed)))
        self.w, self.b = nn.Parameter(q), nn.Parameter(torch.full((pixels,), 0.5))
        self.decoded_rows = 0

    def encode(self, x):
        x = x.x if hasattr(x, "x") else x
        return PointMass((x.flatten(1) - self.b) @ self.w)

    def decode(self, z):
        self.decoded_rows += len(z)
        return (z @ self.w.T + self.b).view(-1, 1, 4, 4)


class LinearClassifier(nn.Module):
    def __init__(self, pixels=16, classes=3, seed=1):
        super().__init__()
        self.a = nn.Parameter(torch.randn(classes, pixels, generator=torch.Generator().manual_seed(seed)))

    def logits(self, x):
        return x.flatten(1) @ self.a.T


class SumRegressor(nn.Module):
    def predict(self, x):
        return x.flatten(1).sum(1)


def test_a_linear_stream_moves_along_the_analytic_gradient():
    ae, clf = LinearAutoencoder(), LinearClassifier()
    x = ae.decode(torch.zeros(1, 3)).detach()
    result = stream(ae, clf, x, 2, StreamSettings(step_rule="sgd", lr=0.01, max_steps=5, tau=0.999999))
    codes = result.stream(0)[1]
    direction = ae.w.T @ clf.a[2]  # -grad_z of -logit_2(W z + b)
    assert torch.allclose(codes[1:] - codes[:-1], 0.01 * direction.detach().expand(len(codes) - 1, 3), atol=1e-6)
    adam = stream(ae, clf, x, 2, StreamSettings(step_rule="adam", lr=0.01, max_steps=3, tau=0.999999)).stream(0)[1]
    # bias-corrected Adam under a constant gradient moves every coordinate by lr sign(-grad) per step
    expected = 0.01 * direction.detach().sign().expand(3, 3)
    assert torch.allclose(adam.diff(dim=0), expected, atol=1e-6)
    fixed = stream(ae, clf, x, 2, StreamSettings(step_rule="fixed", lr=0.1, max_steps=3, tau=0.999999))
    steps = fixed.stream(0)[1].diff(dim=0)
    assert torch.allclose(steps.norm(dim=1), torch.full((3,), 0.1), atol=1e-6)
    assert torch.allclose(steps[0] / 0.1, direction.detach() / direction.norm(), atol=1e-5)


def test_streams_stop_on_their_own_and_frozen_streams_are_not_recomputed():
    ae, clf = LinearAutoencoder(), LinearClassifier()
    x = ae.decode(torch.randn(6, 3, generator=torch.Generator().manual_seed(2))).detach()
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    settings = StreamSettings(step_rule="adam", lr=0.05, max_steps=300, tau=0.99)
    ae.decoded_rows = 0
    batched = stream(ae, clf, x, targets, settings)
    lengths = batched.lengths
    assert len(lengths.unique()) > 2 and batched.success.sum() >= 3 and not batched.success.all()
    # one forward per live stream per step, plus the final decode of the end points
    assert ae.decoded_rows == int(lengths.sum()) + len(x)
    for i in range(len(x)):
        n = int(lengths[i])
        assert torch.equal(batched.codes_after[i, n:], batched.codes_after[i, n - 1].expand_as(batched.codes_after[i, n:]))
        assert torch.equal(batched.frames[i, n:], batched.frames[i, n - 1].expand_as(batched.frames[i, n:]))
        alone = stream(ae, clf, x[i : i + 1], targets[i : i + 1], settings)
        assert int(alone.lengths[0]) == n
        assert torch.allclose(alone.codes_after[0], batched.codes_after[i, :n], atol=1e-5)
    done = batched.success
    probs = batched.probabilities[torch.arange(6), lengths - 1]
    before = batched.probabilities[torch.arange(6), lengths - 2]
    assert (probs[done] > 0.99).all() and (before <= 0.99).all() and (lengths[~done] == 301).all()


def test_a_regressor_stream_stops_when_the_output_reaches_its_target():
    ae, reg = LinearAutoencoder(), SumRegressor()
    x = ae.decode(torch.zeros(2, 3)).detach()
    start = x.flatten(1).sum(1)
    result = stream(ae, reg, x, torch.tensor([1.0, -1.0]), StreamSettings(step_rule="sgd", lr=0.05), change=True)
    end = result.scores[torch.arange(2), result.lengths - 1]
    assert result.success.all()
    assert end[0] >= start[0] + 1 and end[1] <= start[1] - 1
    assert torch.allclose(result.targets, start + torch.tensor([1.0, -1.0]))
    assert torch.isnan(result.probabilities).all()


def test_the_step_limit_ends_a_stream_without_success():
    ae, clf = LinearAutoencoder(), LinearClassifier()
    x = ae.decode(torch.zeros(1, 3)).detach()
    result = stream(ae, clf, x, 0, StreamSettings(step_rule="sgd", lr=1e-6, max_steps=4))
    assert int(result.lengths[0]) == 5 and not result.success[0]


def test_penalties_are_the_stated_norms():
    ae = LinearAutoencoder()
    frames = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(3))
    x = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(4))
    prox = _penalties(ae, frames, x, StreamSettings(proximity=0.5))
    assert torch.allclose(prox, 0.5 * (frames - x).abs().flatten(1).sum(1))
    recon = _penalties(ae, frames, x, StreamSettings(plausibility="recon", plausibility_weight=2.0))
    projected = ae.decode(ae.encode(frames).mean)
    assert torch.allclose(recon, 2.0 * (projected - frames).square().flatten(1).sum(1), atol=1e-6)
    on_manifold = ae.decode(torch.randn(2, 3)).detach()
    assert _penalties(ae, on_manifold, x, StreamSettings(plausibility="recon", plausibility_weight=2.0)).abs().max() < 1e-5


def test_elbo_plausibility_is_the_negative_elbo_at_the_posterior_mean():
    from cfae.models import MODELS
    from cfae.nn.distributions import kl_divergence

    cls = MODELS.get("vae")
    vae = cls(cls.Config(name="vae", input_shape=(1, 28, 28), latent_dim=4, hidden=(32,))).eval()
    frames = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    got = _penalties(vae, frames, frames, StreamSettings(plausibility="elbo", plausibility_weight=1.0))
    post = vae.encode(frames)
    nll = nn.functional.binary_cross_entropy_with_logits(vae.decode_logits(post.mean), frames, reduction="none").flatten(1).sum(1)
    kl = kl_divergence(post, vae.prior(3), post.mean)
    assert torch.allclose(got, nll + kl, rtol=1e-5)


def test_class_prototypes_average_the_target_class_s_nearest_codes():
    from cfae.counterfactual.prototypes import class_prototypes

    codes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    start = torch.tensor([[0.4, 0.0], [4.0, 0.0], [0.0, 0.0]])
    protos = class_prototypes(codes, labels, start, torch.tensor([0, 0, 1]), k=2)
    # (0.4, 0): class 0's two nearest are 0 and 1; (4, 0): 5 and 1; class 1 seen from (0, 0): 10 and 11
    assert protos.tolist() == [[0.5, 0.0], [3.0, 0.0], [10.5, 0.0]]
    assert class_prototypes(codes, labels, start[:1], torch.tensor([1]), k=5).tolist() == [[10.5, 0.0]]  # all it has
    with pytest.raises(ValueError, match="no reference code of class 2"):
        class_prototypes(codes, labels, start[:1], torch.tensor([2]))


def test_the_prototype_term_pulls_a_stream_towards_the_prototype():
    ae, clf = LinearAutoencoder(), LinearClassifier()
    frames = ae.decode(torch.randn(2, 3, generator=torch.Generator().manual_seed(6))).detach()
    protos = torch.randn(2, 3, generator=torch.Generator().manual_seed(7))
    settings = StreamSettings(plausibility="prototype", plausibility_weight=0.3)
    expected = 0.3 * (ae.encode(frames).mean - protos).square().sum(1)
    assert torch.allclose(_penalties(ae, frames, frames, settings, protos), expected, atol=1e-6)
    x = ae.decode(torch.zeros(4, 3)).detach()
    proto = torch.tensor([[2.0, -1.0, 0.5]]).expand(4, 3)
    plain = StreamSettings(step_rule="sgd", lr=0.05, max_steps=20, tau=0.9999)
    pulled = StreamSettings(step_rule="sgd", lr=0.05, max_steps=20, tau=0.9999, plausibility="prototype", plausibility_weight=5.0)
    free, held = stream(ae, clf, x, 1, plain), stream(ae, clf, x, 1, pulled, prototypes=proto)
    ends = lambda r: r.codes_after[torch.arange(4), r.lengths - 1]
    assert ((ends(held) - proto).norm(dim=1) < (ends(free) - proto).norm(dim=1)).all()
    with pytest.raises(ValueError, match="needs prototypes"):
        stream(ae, clf, x, 1, pulled)
    with pytest.raises(ValueError, match=r"shape \(4, D\); got \(2, 3\)"):
        stream(ae, clf, x, 1, pulled, prototypes=proto[:2])


def test_settings_refuse_unknown_names():
    with pytest.raises(ValueError, match="valid choices: adam, sgd, fixed"):
        StreamSettings(step_rule="lbfgs")
    with pytest.raises(ValueError, match="valid choices: none, recon, elbo"):
        StreamSettings(plausibility="gan")


def test_settings_refuse_a_term_without_a_weight_or_a_weight_without_a_term():
    # either would silently run plain streams while the command line said otherwise
    with pytest.raises(ValueError, match="plausibility 'elbo' needs a positive plausibility_weight \\(given 0\\)"):
        StreamSettings(plausibility="elbo")
    with pytest.raises(ValueError, match="plausibility_weight 1 needs a plausibility term \\(recon, elbo, prototype\\)"):
        StreamSettings(plausibility_weight=1.0)
    with pytest.raises(ValueError, match="proximity must not be negative"):
        StreamSettings(proximity=-0.1)
    assert StreamSettings(plausibility="recon", plausibility_weight=0.5).plausibility_weight == 0.5


def test_r_squared_and_continuity_closed_forms():
    assert r_squared(torch.tensor([1.0, 3.0, 5.0, 7.0])).item() == pytest.approx(1.0)
    assert r_squared(torch.tensor([0.0, 1.0, 0.0])).item() == pytest.approx(0.0)
    assert r_squared(torch.tensor([0.0, 1.0, 1.0])).item() == pytest.approx(0.75)
    assert torch.isnan(r_squared(torch.ones(5)))
    ramp = torch.linspace(0, 1, 7).view(7, 1, 1, 1) * torch.ones(7, 1, 4, 4)
    assert torch.allclose(frame_differences(ramp), torch.full((6,), 1 / 6))
    assert coefficient_of_variation(frame_differences(ramp)) == pytest.approx(0.0, abs=1e-6)
    assert coefficient_of_variation(torch.tensor([1.0, 3.0])) == pytest.approx(0.5)


def test_a_linear_logit_ramp_scores_perfect_linearity_and_zero_cv():
    ae, clf = LinearAutoencoder(), LinearClassifier()
    x = ae.decode(torch.zeros(1, 3)).detach()
    result = stream(ae, clf, x, 1, StreamSettings(step_rule="sgd", lr=0.02, max_steps=8, tau=0.999999))
    assert linearity(result)[0].item() == pytest.approx(1.0, abs=1e-6)
    assert continuity(result)[0].item() == pytest.approx(0.0, abs=1e-4)
    assert torch.allclose(path_r_squared(result)[0], torch.ones(3), atol=1e-6)


def test_frame_change_means_split_at_the_probability_threshold():
    from cfae.metrics.streams import frame_change_means

    class OneStream:  # frames 0, .4, .6, .7 (padded), target probabilities .1, .5, .995, .999
        probabilities = torch.tensor([[0.1, 0.5, 0.995, 0.999, 0.999]])
        lengths = torch.tensor([4])
        frames = torch.tensor([0.0, 0.4, 0.6, 0.7, 0.7]).view(1, 5, 1, 1, 1)

        def __len__(self):
            return 1

        def stream(self, i):
            return self.frames[i, :4], None, None

    before, after = frame_change_means(OneStream(), 0.99)
    assert before.tolist() == pytest.approx([0.3])  # (0.4 + 0.2) / 2
    assert after.tolist() == pytest.approx([0.1])


def test_pair_builder_never_pairs_an_original_with_its_own_stream_as_a_negative():
    origin = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4, 5])
    for seed in range(20):
        left, right, label = build_pairs(origin, torch.Generator().manual_seed(seed))
        negative = label == 0
        assert (origin[left[negative]] != origin[right[negative]]).all()
        assert (left[~negative] == right[~negative]).all()
        assert int(negative.sum()) == int((~negative).sum()) == len(origin)
    with pytest.raises(ValueError, match="two different originals"):
        build_pairs(torch.zeros(4, dtype=torch.long), torch.Generator())


def test_contrastive_loss_closed_form():
    d = torch.tensor([0.5, 0.5, 2.0])
    y = torch.tensor([1, 0, 0])
    assert contrastive_loss(d, y, margin=1.0).item() == pytest.approx((0.25 + 0.25 + 0.0) / 3)


def test_counterfactual_metric_closed_forms():
    x = torch.zeros(2, 1, 2, 2)
    cf = torch.tensor([[0.0, 0.0, 0.3, 0.4], [1.0, 0.0, 0.0, 0.01]]).view(2, 1, 2, 2)
    p = proximity(x, cf)
    assert p["l1"].tolist() == pytest.approx([0.7, 1.01])
    assert p["l2"].tolist() == pytest.approx([0.5, (1 + 1e-4) ** 0.5])
    assert sparsity(x, cf, threshold=0.05).tolist() == pytest.approx([0.5, 0.75])
    recon_t, recon_0 = cf + 0.1, cf + 0.2
    assert im1(cf, recon_t, recon_0, eps=0).tolist() == pytest.approx([0.25, 0.25])
    assert im2(cf, recon_t, cf, eps=0).tolist() == pytest.approx([4 * 0.01 / 0.7, 4 * 0.01 / 1.01])
    reference = torch.stack([torch.full((1, 2, 2), v) for v in (0.0, 0.1, 0.2, 5.0, 5.1)])
    labels = torch.tensor([1, 1, 2, 3, 3])
    assert ynn(torch.zeros(1, 1, 2, 2), torch.tensor([1]), reference, labels, k=3).item() == pytest.approx(2 / 3)


def test_frame_change_figure_with_no_frame_past_p_draws_the_other_side_and_counts_zero(tmp_path, monkeypatch):
    import warnings

    from cfae.viz import streams as fig

    seen, real_save = {}, fig._save

    def keep_axes(figure, path):
        seen["legend"] = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
        seen["bars"] = [float(p.get_height()) for p in figure.axes[0].patches]
        return real_save(figure, path)

    monkeypatch.setattr(fig, "_save", keep_axes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's 0/0 for a density of nothing must not happen
        path = fig.frame_change_distributions(torch.tensor([0.1, 0.2, 0.2]), torch.tensor([]), 0.99,
                                              tmp_path / "frame_change.png")
    assert path.stat().st_size > 0
    assert seen["legend"] == ["p < 0.99 (3)", "p >= 0.99 (0)"]
    assert sum(seen["bars"][59:]) == 0 and sum(seen["bars"][:59]) > 0  # 59 bins a side; the empty side flat


def test_straight_path_runs_from_each_stream_s_first_code_to_its_own_last():
    from cfae.counterfactual.streams import StreamResult

    path = torch.tensor([[[0.0, 0.0], [1.0, 5.0], [2.0, 2.0], [2.0, 2.0]],    # 3 frames, then padding
                         [[4.0, 0.0], [0.0, 8.0], [0.0, 8.0], [0.0, 8.0]]])   # 2 frames
    result = StreamResult(inputs=torch.zeros(2, 1, 1, 1), counterfactuals=torch.zeros(2, 1, 1, 1), codes_before=path[:, 0],
                          codes_after=path, method="stream", lengths=torch.tensor([3, 2]))
    assert result.straight_path(0, torch.tensor([0, 1, 2])).tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]
    assert result.straight_path(1, torch.tensor([0, 1])).tolist() == [[4.0, 0.0], [0.0, 8.0]]
    assert torch.allclose(result.straight_path(0, torch.tensor([1.5])), torch.tensor([[1.5, 1.5]]))
