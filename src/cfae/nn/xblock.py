"""The explicit causal latent block, XBlock (seed 003 section 2.2, Figure 4).

Noise units N_1..N_n (one dimension each, the encoder's code) become causes Z_1..Z_n (unit_dim
dimensions each) in a fixed causal order:

    Z_i = f_i(M_i * Z_<i, N_i),    f_i: Linear -> Mish -> Linear (a small MLP per unit)

M_i holds one gate in [0, 1] per possible parent j < i. A gate is a Gumbel-sigmoid (binary Concrete)
draw from a learned logit in training, sigmoid(logit / temperature) without noise at evaluation;
the edge j -> i is present when its logit is positive. do(Z_i = v) fixes unit i and recomputes
its descendants only. With n = 6, unit_dim 1 and hidden 30 the block has 1,011 parameters, the
difference between the seed's XAE S and AE S in its Table 4.

residual=True computes Z_i = N_i + f_i(M_i * Z_<i, N_i) (N_i added to each of the unit's dimensions):
the same functions of (N_i, parents), parametrised to start near the identity. The plain form starts
as a strong contraction: at initialisation the median unit has sd(Z_i) / sd(N_i) = 0.07 (0.16
under Glorot's init), so the decoder first sees codes shrunk about tenfold (docs/consistency.md).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cfae.nn.distributions import Bernoulli


def gumbel_sigmoid(logits: Tensor, temperature: float) -> Tensor:
    """Relaxed Bernoulli draw sigmoid((logit + log u - log(1 - u)) / temperature) (Jang et al. 2016;
    the logistic noise is the difference of two Gumbels); binary as temperature -> 0."""
    return Bernoulli(logits, temperature).rsample()


class XBlock(nn.Module):
    def __init__(self, units: int, unit_dim: int = 1, hidden: int = 30, temperature: float = 0.5,
                 residual: bool = False):
        super().__init__()
        if units < 1 or unit_dim < 1 or hidden < 1:
            raise ValueError(f"XBlock sizes must be positive, got units={units}, unit_dim={unit_dim}, hidden={hidden}")
        if temperature <= 0:
            raise ValueError(f"mask temperature must be positive, got {temperature}")
        self.units, self.unit_dim, self.temperature, self.residual = units, unit_dim, temperature, residual
        rows, cols = torch.tril_indices(units, units, offset=-1)
        self.register_buffer("edge_child", rows, persistent=False)
        self.register_buffer("edge_parent", cols, persistent=False)
        self.mask_logits = nn.Parameter(torch.zeros(len(rows)))  # one per possible edge j -> i, j < i
        self.mechanisms = nn.ModuleList(
            nn.Sequential(nn.Linear(i * unit_dim + 1, hidden), nn.Mish(), nn.Linear(hidden, unit_dim))
            for i in range(units))

    @property
    def out_dim(self) -> int:
        return self.units * self.unit_dim

    def logit_matrix(self) -> Tensor:
        """(n, n) mask logits, [child, parent]; -inf where no edge is possible (j >= i)."""
        full = torch.full((self.units, self.units), float("-inf"), device=self.mask_logits.device)
        full[self.edge_child, self.edge_parent] = self.mask_logits
        return full

    def gates(self) -> Tensor:
        """(n, n) gates M[child, parent]: relaxed draws in training, sigmoid(logit / tau) at evaluation."""
        logits = self.logit_matrix()
        if self.training:
            return gumbel_sigmoid(logits, self.temperature)
        return torch.sigmoid(logits / self.temperature)

    def adjacency(self) -> Tensor:
        """(n, n) learned edges as 0/1: [child, parent] = 1 when the gate's logit is positive."""
        return (self.logit_matrix() > 0).float()

    def forward(self, noise: Tensor, do: dict[int, Tensor | float] | None = None) -> Tensor:
        """Causes (N, n * unit_dim) from noise (N, n); do = {unit: value} fixes those units (value of
        unit_dim entries, or one broadcast), and their descendants are computed from the fixed value."""
        if noise.shape[1] != self.units:
            raise ValueError(f"XBlock expects {self.units} noise units, got {noise.shape[1]}")
        do = do or {}
        for unit in do:
            if not 0 <= unit < self.units:
                raise IndexError(f"cause unit {unit} out of range for {self.units} units")
        gates = self.gates()
        causes: list[Tensor] = []
        for i, mechanism in enumerate(self.mechanisms):
            if i in do:
                value = torch.as_tensor(do[i], dtype=noise.dtype, device=noise.device)
                causes.append(value.expand(len(noise), self.unit_dim).clone())
                continue
            own = noise[:, i : i + 1]
            cause = mechanism(torch.cat([gates[i, j] * causes[j] for j in range(i)] + [own], 1))
            causes.append(cause + own if self.residual else cause)
        return torch.cat(causes, 1)
