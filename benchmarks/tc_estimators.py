"""The minibatch estimates of beta-TCVAE's KL terms against their exact values, for a trained encoder.

For an encoder q(z|x) and its N training examples, the aggregate posterior q(z) = (1/N) sum_n q(z|x_n) is
computed exactly at --draws draws z_i ~ q(z|x_i) (each against all N posteriors), which gives the exact
mutual information I(x; z), total correlation and dimension-wise KL at those draws (Chen et al. 2018,
eq. 2). The same terms are then estimated from --batches random minibatches of --batch-size examples, as
a training step sees them:
- mss: cfae's minibatch stratified sampling (cfae.nn.divergences.stratified_log_weights);
- mss-strided: the same weights laid out with the reference code's stride of M instead of M + 1 (as
  in rtqichen/beta-tcvae, pythae 0.1.2 and disentangling-vae), so that 1/N falls in column 0;
- mws: minibatch weighted sampling, log r = -log(N M);
- gaussian: the TC of the Gaussian with q(z)'s covariance (cfae.metrics.latent.gaussian_total_correlation),
  the linear dependence alone, over all N posteriors;
- discriminator (FactorVAE runs only): the TC its code discriminator reports, the mean logit E[t(z)]
  at the same draws (Kim & Mnih 2018; cfae.nn.density_ratio);
- refit discriminator (--refit-steps S > 0, any encoder): a fresh code discriminator of Kim & Mnih's
  size trained for S steps on this frozen encoder's draws (batches of --batch-size from all N
  posteriors, Adam 1e-4, betas (0.5, 0.9)), then its mean logit at the same draws: what a
  discriminator that keeps up with the encoder would report.
Prints one JSON line per estimator with the mean of each term over the batches and the exact values.

    CFAE_DATA=../shared/data python benchmarks/tc_estimators.py reports/tc20/a/betavae-dsprites/runs/tcbeta6-d10-s0
"""

from __future__ import annotations

import argparse
import json
import math

import torch

from cfae.metrics.encode import encode_dataset
from cfae.metrics.latent import gaussian_total_correlation
from cfae.nn.density_ratio import CodeDiscriminator, density_ratio_loss, joint_and_shuffled_logits
from cfae.nn.divergences import kl_decomposition, pairwise_log_density, weighted_kl_terms
from cfae.train.checkpoint import load_model
from cfae.train.run import read_run_config


def strided_log_weights(m: int, n: int) -> torch.Tensor:
    """The stratified weights as the reference code lays them out: M = m - 1, 1/M everywhere, then 1/N
    and (N - M) / (N M) written with a stride of M + 1 = m (columns 0 and 1), and one more at [M - 1, 0]."""
    big_m = m - 1
    weights = torch.full((m, m), 1.0 / big_m, dtype=torch.float64)
    weights.view(-1)[::big_m + 1] = 1.0 / n
    weights.view(-1)[1::big_m + 1] = (n - big_m) / (n * big_m)
    weights[big_m - 1, 0] = (n - big_m) / (n * big_m)
    return weights.log().float()


def exact_terms(z: torch.Tensor, own: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, chunk: int = 64) -> dict:
    """Mean over the draws of the three terms with q(z) over all N posteriors (log r = -log N)."""
    totals = dict.fromkeys(("mutual_information", "total_correlation", "dimension_kl"), 0.0)
    for part, own_part in zip(z.split(chunk), own.split(chunk)):
        terms = weighted_kl_terms(part, own_part, pairwise_log_density(part, mean, scale), -math.log(len(mean)))
        for name, value in terms.items():
            totals[name] += float(value.sum())
    return {name: value / len(z) for name, value in totals.items()}


def posterior_draws(mean: torch.Tensor, scale: torch.Tensor, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw z ~ q(z|x_i) = N(mean_i, scale_i^2) for each listed row i, from the generator."""
    return mean[rows] + scale[rows] * torch.randn(len(rows), mean.shape[1], generator=generator, dtype=mean.dtype)


def refit_discriminator_tc(mean: torch.Tensor, scale: torch.Tensor, z: torch.Tensor, steps: int, batch_size: int,
                           generator: torch.Generator) -> float:
    """Mean logit at z of a fresh discriminator trained on minibatch draws of q(z) against their shuffles."""
    critic = CodeDiscriminator(mean.shape[1])
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    for _ in range(steps):
        draws = posterior_draws(mean, scale, torch.randint(len(mean), (batch_size,), generator=generator), generator).float()
        joint, shuffled = joint_and_shuffled_logits(critic, draws, generator)
        optimizer.zero_grad()
        density_ratio_loss(joint, shuffled).backward()
        optimizer.step()
    with torch.no_grad():
        return float(critic(z.float()).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run folder (its newest checkpoint) trained on its dataset's train split")
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refit-steps", type=int, default=0, help="train a fresh discriminator this many steps (0: none)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)  # the refit discriminator's initial weights
    model = load_model(args.run)
    train = read_run_config(args.run).load_split("train")
    encoded = encode_dataset(model, train)
    mean, scale = encoded.mean.double(), encoded.scale.double()
    n = len(mean)
    g = torch.Generator().manual_seed(args.seed)
    rows = torch.randperm(n, generator=g)[:args.draws]
    z = posterior_draws(mean, scale, rows, g)
    own = torch.distributions.Normal(mean[rows], scale[rows]).log_prob(z).sum(1)
    exact = exact_terms(z, own, mean, scale)
    print(json.dumps({"run": args.run, "examples": n, "draws": len(rows), "exact": exact}), flush=True)
    print(json.dumps({"estimator": "gaussian", "total_correlation": gaussian_total_correlation(encoded)}), flush=True)
    if hasattr(model, "discriminator"):
        with torch.no_grad():
            estimate = float(model.discriminator(z.float()).mean())
        print(json.dumps({"estimator": "discriminator", "mean": {"total_correlation": estimate},
                          "minus_exact": {"total_correlation": estimate - exact["total_correlation"]}}), flush=True)
    if args.refit_steps > 0:
        estimate = refit_discriminator_tc(mean, scale, z, args.refit_steps, args.batch_size, g)
        print(json.dumps({"estimator": "refit discriminator", "steps": args.refit_steps, "batch_size": args.batch_size,
                          "mean": {"total_correlation": estimate},
                          "minus_exact": {"total_correlation": estimate - exact["total_correlation"]}}), flush=True)
    sums = {name: dict.fromkeys(exact, 0.0) for name in ("mss", "mss-strided", "mws")}
    for _ in range(args.batches):
        batch = torch.randperm(n, generator=g)[:args.batch_size]
        m_, s_ = mean[batch], scale[batch]
        draws = posterior_draws(mean, scale, batch, g)
        for name in ("mss", "mws"):
            for term, value in kl_decomposition(draws, m_, s_, n, name).items():
                sums[name][term] += float(value.mean())
        log_density = pairwise_log_density(draws, m_, s_)
        own_batch = log_density.diagonal(dim1=0, dim2=1).sum(0)
        for term, value in weighted_kl_terms(draws, own_batch, log_density, strided_log_weights(len(batch), n)).items():
            sums["mss-strided"][term] += float(value.mean())
    for name, terms in sums.items():
        estimate = {term: value / args.batches for term, value in terms.items()}
        print(json.dumps({"estimator": name, "batch_size": args.batch_size, "batches": args.batches, "mean": estimate,
                          "minus_exact": {t: estimate[t] - exact[t] for t in exact}}), flush=True)


if __name__ == "__main__":
    main()
