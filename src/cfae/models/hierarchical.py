"""Hierarchical VAEs of seed 004: bottom-up inference (eqs. 10-18) and the Ladder VAE (eqs. 19-25).

Generative model, shared (eqs. 10-12): p(z_L) = N(0, I), p(z_i | z_i+1) = N(mu_p,i, var_p,i) from an
MLP of z_i+1, p(x | z_1) Bernoulli (or Gaussian) from an MLP of z_1. The latent vector lays the
layers side by side, z = [z_1, ..., z_L] (parts "z1" ... "zL"); the decoder reads z_1.

    hvae : q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_L-1), each an MLP of the layer below (eqs. 13-18)
    lvae : d_i = MLP(d_i-1), d_0 = x, giving (mu^_i, var^_i) (eqs. 19-21); top-down,
           q(z_L | x) = N(mu^_L, var^_L) and q(z_i | z_i+1, x) = merge(p(z_i | z_i+1), N(mu^_i, var^_i))
           (eqs. 22-25): the posterior shares the generative model's top-down path.

loss = -log p(x | z) + w KL, w the trainer's KL warm-up weight (eq. 26; 1 without warm-up); the
term neg_elbo is the one-sample negative ELBO whatever w is. With importance_samples K > 1 the loss
is -L_K of the weights tempered by w (IWAE, the slides' "IW" rows; cfae.models.importance). KL is the
closed form per layer given the sampled parents where q and p run in the same order (lvae), else
log q(z) - log p(z) at the sample.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from cfae.data.base import Batch, as_batch
from cfae.models.base import BaseModel, ModelOutput, latent_layout, pixel_mse
from cfae.models.importance import ImportanceWeightedConfig, importance_weighted_terms
from cfae.models.registry import register_model
from cfae.nn.distributions import Chain, DiagonalGaussian, chain_kl_dims
from cfae.nn.ladder import GaussianHead, dense_stack, gaussian, precision_weighted_merge


class HierarchicalVAEConfig(ImportanceWeightedConfig):
    layer_sizes: tuple[int, ...] = Field((64, 32, 16, 8, 4), min_length=1, description="latent units per layer, z_1 first")
    layer_hidden: tuple[int, ...] = Field((512, 256, 128, 64, 32), min_length=1,
                                          description="width of the two dense layers below each latent layer")
    batch_norm: bool = False

    @model_validator(mode="before")
    @classmethod
    def _latent_dim_is_the_sum(cls, values: dict) -> dict:
        sizes = tuple(values.get("layer_sizes", (64, 32, 16, 8, 4)))
        given = values.get("latent_dim")
        if given is not None and given != sum(sizes):
            raise ValueError(f"latent_dim {given} must equal the sum of layer_sizes {list(sizes)} ({sum(sizes)}); leave it out")
        return {**values, "latent_dim": sum(sizes)}

    def model_post_init(self, context) -> None:
        super().model_post_init(context)
        if len(self.layer_hidden) < len(self.layer_sizes):
            raise ValueError(f"layer_hidden needs a width for each of the {len(self.layer_sizes)} layers, "
                             f"got {list(self.layer_hidden)}")
        if self.network != "mlp" or self.hidden is not None:
            raise ValueError("hierarchical VAEs build their own MLPs: set layer_hidden, not network or hidden")
        if self.iw_gradient != "iwae" and self.batch_norm:
            raise ValueError(f"iw_gradient {self.iw_gradient} needs batch_norm false: batch statistics on the latent "
                             "path tie each row's q(z|x) to the other rows' draws, and dreg's per-row identity fails "
                             "(training diverges); use iw_gradient iwae with batch norm")


class HierarchicalVAE(BaseModel):
    """The shared generative model; subclasses give the inference network (encode)."""

    Config = HierarchicalVAEConfig
    kl_warmup = True
    ladder = False  # lvae: each bottom-up MLP reads the deterministic layer below, not the latent sample

    def __init__(self, config: HierarchicalVAEConfig):
        c = config
        sizes, widths, bn = c.layer_sizes, c.layer_hidden[: len(c.layer_sizes)], c.batch_norm
        pixels = c.input_shape[0] * c.input_shape[1] * c.input_shape[2]
        up_inputs = [pixels] + list(widths[:-1] if self.ladder else sizes[:-1])
        encoder = nn.ModuleList(dense_stack(n_in, (w, w), bn) for n_in, w in zip(up_inputs, widths))
        decoder = nn.Sequential(dense_stack(sizes[0], (widths[0], widths[0]), bn), nn.Linear(widths[0], pixels),
                                nn.Unflatten(1, c.input_shape))
        super().__init__(c, encoder, decoder)
        self.up_heads = nn.ModuleList(GaussianHead(w, n) for w, n in zip(widths, sizes))
        self.down = nn.ModuleList(dense_stack(sizes[i + 1], (widths[i + 1],) * 2, bn) for i in range(len(sizes) - 1))
        self.down_heads = nn.ModuleList(GaussianHead(widths[i + 1], sizes[i]) for i in range(len(sizes) - 1))

    @property
    def names(self) -> list[str]:
        return [f"z{i + 1}" for i in range(len(self.config.layer_sizes))]

    @property
    def layout(self) -> list[tuple[str, int]]:
        return list(zip(self.names, self.config.layer_sizes))

    @property
    def latent_spec(self):
        return latent_layout(*((name, f"layer {i + 1}", n) for i, (name, n) in enumerate(self.layout)))

    def decoded_dim(self) -> int:
        return self.config.layer_sizes[0]

    def latent_layer(self, z: Tensor, batch: Batch | None = None) -> Tensor:
        return z[:, : self.config.layer_sizes[0]]

    def top_down(self, i: int, parent: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, variance) of p(z_i+1 | z_i+2) for 0-based layer i, from its parent's value (eq. 11)."""
        return self.down_heads[i](self.down[i](parent))

    def prior(self, n: int, labels=None) -> Chain:
        """p(z) = p(z_L) prod p(z_i | z_i+1), sampled top-down (eqs. 10-11)."""
        top = DiagonalGaussian.standard(n, self.config.layer_sizes[-1], self._device())
        steps = [(self.names[-1], lambda values: top)]
        steps += [(self.names[i], lambda values, i=i: gaussian(self.top_down(i, values[self.names[i + 1]])))
                  for i in reversed(range(len(self.names) - 1))]
        return Chain(self.layout, steps)

    def forward(self, batch: Batch | Tensor) -> ModelOutput:
        batch = as_batch(batch)
        posterior, prior = self.encode(batch), self.prior_of(batch)
        z, conditionals = posterior.walk(lambda d: d.rsample())
        kl_dims = chain_kl_dims(posterior, prior, z, conditionals)
        logits = self.decode_logits(z, batch)
        recon, kl = self.reconstruction_nll(logits, batch.x), kl_dims.sum(1)
        terms = {"loss": recon.mean() + self.kl_weight * kl.mean(), "recon": recon.mean(), "kl": kl.mean(),
                 "neg_elbo": (recon + kl).mean()}
        for part in self.latent_spec:
            terms[f"kl_{part.name}"] = kl_dims[:, part.slice].sum(1).mean()
        c = self.config
        if c.importance_weighted:
            terms.update(importance_weighted_terms(self, batch, posterior, prior, c.importance_samples, self.kl_weight,
                                                   c.iw_gradient))
        if not self.training:  # the contract: posterior-mean codes and their reconstruction in eval mode
            z = posterior.mean
            logits = self.decode_logits(z, batch)
        terms["mse"] = pixel_mse(logits, batch.x)
        return ModelOutput(logits, z, posterior, prior, terms)

    def intervene_codes(self, codes: Tensor, do: dict) -> Tensor:
        """do(part or index = value), then every layer below the highest one changed is recomputed
        from its new parent with its own noise kept (abduction): z_i' = mu_p(z_i+1') + sd_p(z_i+1') e_i,
        e_i = (z_i - mu_p(z_i+1)) / sd_p(z_i+1). Layers above it, the parents, stay as they were."""
        new = super().intervene_codes(codes, do)
        set_dims = new != codes
        parts = self.latent_spec
        changed = [k for k, part in enumerate(parts) if set_dims[:, part.slice].any()]
        if not changed:
            return new
        for i in reversed(range(max(changed))):  # 0-based layers below the highest one changed
            child, parent = parts[i].slice, parts[i + 1].slice
            mean, var = self.top_down(i, codes[:, parent])
            noise = (codes[:, child] - mean) / var.sqrt()
            mean_new, var_new = self.top_down(i, new[:, parent])
            new[:, child] = torch.where(set_dims[:, child], new[:, child], mean_new + var_new.sqrt() * noise)
        return new


@register_model("hvae", "hierarchical VAE, bottom-up inference, 1-5 Gaussian layers (seed 004 eqs. 10-18)")
class BottomUpHierarchicalVAE(HierarchicalVAE):
    def encode(self, batch: Batch | Tensor) -> Chain:
        """q(z_1 | x) prod q(z_i | z_i-1), sampled bottom-up (eqs. 13-15)."""
        x = as_batch(batch).x.flatten(1)
        stacks = self.encoder
        steps = [(self.names[0], lambda values: gaussian(self.up_heads[0](stacks[0](x))))]
        steps += [(self.names[i], lambda values, i=i: gaussian(self.up_heads[i](stacks[i](values[self.names[i - 1]]))))
                  for i in range(1, len(self.names))]
        return Chain(self.layout, steps)


@register_model("lvae", "Ladder VAE: top-down inference merging bottom-up and prior Gaussians (Sonderby et al. 2016)")
class LadderVAE(HierarchicalVAE):
    ladder = True
    posterior_shares = ("down", "down_heads")  # q's top-down path is p's (eqs. 22-25)

    def bottom_up_layers(self, x: Tensor) -> list[Tensor]:
        """The deterministic layers d_1 ... d_L of eq. 19, d_0 = x."""
        d, layers = x.flatten(1), []
        for stack in self.encoder:
            d = stack(d)
            layers.append(d)
        return layers

    def encode(self, batch: Batch | Tensor) -> Chain:
        """q(z_L | x) prod q(z_i | z_i+1, x), sampled top-down with the precision-weighted merge (eqs. 22-25)."""
        evidence = [head(d) for head, d in zip(self.up_heads, self.bottom_up_layers(as_batch(batch).x))]
        steps = [(self.names[-1], lambda values: gaussian(evidence[-1]))]
        steps += [(self.names[i], lambda values, i=i: gaussian(precision_weighted_merge(
            *self.top_down(i, values[self.names[i + 1]]), *evidence[i]))) for i in reversed(range(len(self.names) - 1))]
        return Chain(self.layout, steps)
