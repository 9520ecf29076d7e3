"""CausalVAE: acyclicity, the linear SCM, interventions through the causal layers (issue 13)."""

import pytest
import torch

from cfae.data.base import Batch
from cfae.models import build_model
from cfae.nn.dag import dag_constraint, linear_scm, parent_inputs


def chain(a: float = 2.0, b: float = -3.0) -> torch.Tensor:
    """0 -> 1 -> 2 with weights a, b (A[parent, child])."""
    adjacency = torch.zeros(3, 3)
    adjacency[0, 1], adjacency[1, 2] = a, b
    return adjacency


def test_dag_constraint_zero_for_a_dag_and_positive_with_a_cycle():
    assert dag_constraint(chain()).item() == pytest.approx(0.0, abs=1e-6)
    cyclic = chain()
    cyclic[2, 0] = 0.5
    # B = A o A / 3 has one 3-cycle (4/3, 3, 1/12) and no 2-cycles, so tr((I + B)^3) - 3 = tr(B^3)
    # = 3 * (4/3) * 3 * (1/12) = 1
    assert dag_constraint(cyclic).item() == pytest.approx(1.0, rel=1e-5)
    two_cycle = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # tr((I + B/2)^2) - 2 = 2 * (1/2)^2 = 0.5
    assert dag_constraint(two_cycle).item() == pytest.approx(0.5, rel=1e-6)


def test_linear_scm_on_a_chain_by_hand():
    eps = torch.tensor([[[1.0, 0.5], [2.0, -1.0], [0.0, 3.0]]])  # (1, 3 concepts, 2 dims)
    z = linear_scm(eps, chain(2.0, -3.0))
    z0 = eps[0, 0]
    z1 = 2.0 * z0 + eps[0, 1]
    z2 = -3.0 * z1 + eps[0, 2]
    assert torch.allclose(z[0], torch.stack([z0, z1, z2]))
    assert torch.allclose(parent_inputs(z, chain(2.0, -3.0))[0], torch.stack([torch.zeros(2), 2.0 * z0, -3.0 * z1]))


def test_do_on_the_middle_of_a_chain_moves_descendants_only():
    eps = torch.randn(4, 3, 2)
    plain = linear_scm(eps, chain())
    done = linear_scm(eps, chain(), {1: 7.0})
    assert torch.equal(done[:, 0], plain[:, 0])  # the parent stays
    assert (done[:, 1] == 7.0).all()
    assert torch.allclose(done[:, 2], -3.0 * 7.0 + eps[:, 2])  # the child follows the set value


def pendulum_model(**options):
    return build_model("causalvae", input_shape=(3, 16, 16), network="mlp", hidden=(32,), **options)


def set_true_pendulum_graph(model):
    with torch.no_grad():
        model.edge_weights.zero_()
        for parent, child in ((0, 2), (0, 3), (1, 2), (1, 3)):
            model.edge_weights[parent, child] = 1.0


def test_intervention_on_a_root_concept_changes_its_children_and_not_its_parents():
    model = pendulum_model().eval()
    # make light (1) a parent of the pendulum angle (0) too, so that 0 has a parent to keep
    set_true_pendulum_graph(model)
    with torch.no_grad():
        model.edge_weights[1, 0] = 0.7
    codes = torch.randn(5, model.config.latent_dim)
    before = model.causes(codes).view(5, 4, 4)
    after = model.causes(codes, {0: 2.5}).view(5, 4, 4)
    assert torch.equal(after[:, 1], before[:, 1])  # the light, a parent of 0, does not move
    assert (after[:, 0] == 2.5).all()
    assert not torch.allclose(after[:, 2], before[:, 2]) and not torch.allclose(after[:, 3], before[:, 3])
    images = model.intervene(codes, {"pendulum_angle": 2.5})
    assert torch.allclose(images, model.decode_from_causes(after.flatten(1)))


def test_loss_terms_follow_the_formulas():
    model = pendulum_model().eval()
    set_true_pendulum_graph(model)
    x = torch.rand(3, 3, 16, 16)
    labels = {"pendulum_angle": torch.tensor([0.0, 44.0, -22.0]), "light_angle": torch.tensor([100.0, 140.0, 60.0]),
              "shadow_length": torch.tensor([6.5, 10.0, 3.0]), "shadow_position": torch.tensor([10.0, 15.0, 5.0])}
    out = model(Batch(x, labels))
    u = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [-0.5, -1.0, -1.0, -1.0]])
    z = model.scm(out.z)
    assert out.terms["kl_z"].item() == pytest.approx(0.5 * (z - u[:, :, None]).square().sum((1, 2)).mean().item(), rel=1e-5)
    assert out.terms["kl_eps"].item() == pytest.approx(0.5 * out.z.square().sum(1).mean().item(), rel=1e-5)
    assert out.terms["h_A"].item() == pytest.approx(0.0, abs=1e-6)
    c = model.config
    expected = (out.terms["recon"] + c.alpha * out.terms["kl_eps"] + c.beta * out.terms["kl_z"] + out.terms["mask_kl"]
                + out.terms["label_loss"])
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="needs the concept labels light_angle"):
        model(Batch(x, {"pendulum_angle": labels["pendulum_angle"]}))
    unsup = pendulum_model(supervised=False).eval()
    assert "label_loss" not in unsup(Batch(x)).terms


def test_config_checks_sizes():
    with pytest.raises(ValueError, match="latent_dim 5 must equal concepts x concept_dim"):
        pendulum_model(latent_dim=5)
    with pytest.raises(ValueError, match="one value per concept"):
        pendulum_model(concept_loc=(0.0,))


def test_self_loops_are_not_edges():
    model = pendulum_model()
    with torch.no_grad():
        model.edge_weights.fill_(1.0)
    assert torch.equal(model.adjacency.diagonal(), torch.zeros(4))


def test_label_dependency_grows_an_edge_and_the_penalty_keeps_the_graph_acyclic():
    """The causal layers alone on labels with u1 = 2 u0 + noise: l_u grows an edge between the two
    (either direction fits a linear Gaussian pair) while 3 h + 0.5 h^2 keeps A nearly acyclic."""
    cyclic = pendulum_model(concepts=("a", "b"), concept_loc=(0.0, 0.0), concept_scale=(1.0, 1.0), concept_dim=1)
    with torch.no_grad():
        cyclic.edge_weights.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    h, penalty = cyclic.acyclicity_penalty()  # tr((I + A o A / 2)^2) - 2 = tr([[1.25, 1], [1, 1.25]]) - 2
    assert h.item() == pytest.approx(0.5, rel=1e-6)
    assert penalty.item() == pytest.approx(3 * h.item() + 0.5 * h.item() ** 2, rel=1e-6)
    torch.manual_seed(0)
    model = pendulum_model(concepts=("a", "b"), concept_loc=(0.0, 0.0), concept_scale=(1.0, 1.0), concept_dim=1)
    opt = torch.optim.Adam([model.edge_weights, *model.label_mask.parameters()], lr=0.05)
    for _ in range(300):
        u0 = torch.randn(256)
        u = torch.stack([u0, 2 * u0 + 0.1 * torch.randn(256)], 1)
        loss = model.label_loss(u) + model.acyclicity_penalty()[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    a = model.adjacency.detach()
    strong, weak = sorted([abs(a[0, 1].item()), abs(a[1, 0].item())], reverse=True)
    assert strong > 0.2 and weak < strong / 2  # an edge, and the 2-cycle broken
    assert dag_constraint(a).item() < 0.01
