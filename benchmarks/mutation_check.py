"""Break equations on purpose, one at a time, and check that the test suite notices each.

    python benchmarks/mutation_check.py            # every mutation; prints caught / MISSED per line
    python benchmarks/mutation_check.py --only mmd-bandwidth,mig-gap
    python benchmarks/mutation_check.py --only losocs-signed-gap --tests tests/test_losocs_experiment.py -k change_summary
    python benchmarks/mutation_check.py --near     # each against the test files that import its module only

Each mutation replaces one exact piece of source text (the run stops if the text is not found, so
the list cannot silently rot), runs the whole suite with `pytest -x -q` on the working tree (the
test files that import the mutated module first, then the closed-form ones, so a caught mutation
stops early), and restores the file. --tests and -k narrow the run to the tests named (a quicker
check that those tests notice; a mutation they miss may still be caught by the whole suite). First
the chosen tests run unmutated: a test that already fails would "catch" every mutation, so the run
stops there (--no-baseline skips this when the tests are known to pass). --near
narrows each run to the files that import the mutated module: a mutation caught by the whole suite
but missed there is caught only by chance elsewhere (a smoke test's golden number, say) and wants a
direct test.
"""

from __future__ import annotations

import argparse
import functools
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cfae"

# name -> (file under src/cfae, exact original text, broken text)
MUTATIONS = {
    "mmd-bandwidth": ("nn/divergences.py", "torch.cdist(x, y).square() / d**2", "torch.cdist(x, y).square() / d"),
    "imq-scale": ("nn/divergences.py", "c = 2.0 * x.shape[1]", "c = 1.0 * x.shape[1]"),
    "kl-normal": ("nn/divergences.py", "0.5 * (var_ratio + ((mean_q - mean_p) / std_p).square() - 1.0 - var_ratio.log())",
                  "0.5 * (var_ratio + (mean_q - mean_p).square() - 1.0 - var_ratio.log())"),
    "shrb-probit": ("nn/shrb.py", "return math.sqrt(2.0) * torch.erfinv(2 * p - 1)", "return torch.erfinv(2 * p - 1)"),
    "shrb-z-aggregation": ("nn/shrb.py", "z = probit(p)", "z = p"),
    "cf-sigma-target": ("models/counterfactual_ae.py", "kl_normal(posterior.mean, posterior.scale, mu_t, sigma_t)",
                        "kl_normal(posterior.mean, posterior.scale, mu_t, 1.0)"),
    "mig-gap": ("metrics/disentanglement.py", "((top[0] - top[1])[keep]", "((top[0] - top[-1])[keep]"),
    "modularity-denominator": ("metrics/disentanglement.py", "(theta * (m.shape[1] - 1))", "(theta * m.shape[1])"),
    "irs-quantile": ("metrics/disentanglement.py", "np.quantile(np.abs(group - group.mean(0)), diff_quantile, axis=0)",
                     "np.quantile(np.abs(group - group.mean(0)), 1.0, axis=0)"),
    "shapes-rotation": ("data/shapes.py", "c * dx + s * dy, -s * dx + c * dy", "c * dx - s * dy, s * dx + c * dy"),
    "shapes-shift-sign": ("data/shapes.py", "top, left = (16 - factors[:, 4]) % SIZE, (16 - factors[:, 3]) % SIZE",
                          "top, left = (factors[:, 4] - 16) % SIZE, (factors[:, 3] - 16) % SIZE"),
    "shapes-window-row-step": ("data/shapes.py", "torch.arange(SIZE) * tiled", "torch.arange(SIZE) * SIZE"),
    "pendulum-light": ("data/pendulum.py", "projection(phi, *PIVOT, base=20.5)", "projection(phi, *PIVOT, base=20.0)"),
    "pendulum-shadow": ("data/pendulum.py", "return max(3.0, abs(p_pivot - p_tip)), (p_pivot + p_tip) / 2",
                        "return max(3.0, abs(p_pivot - p_tip)), p_tip"),
    "gaussian-log-prob": ("nn/distributions.py", "- self.scale.log() - 0.5 * LOG_2PI", "- 0.5 * LOG_2PI"),
    "bernoulli-kl": ("nn/distributions.py", "return p * (lp - lq) + (1 - p) * (lp1 - lq1)", "return p * (lp - lq)"),
    "iw-log-mean-exp": ("models/importance.py", "(values - top).exp().mean(dim, keepdim=True).log()",
                        "(values - top).exp().sum(dim, keepdim=True).log()"),
    "iw-prior-term": ("models/importance.py", "return log_px + model.prior_of(batch).log_prob(z) - posterior.log_prob(z)",
                      "return log_px - posterior.log_prob(z)"),
    "cosine-schedule": ("train/optim.py", "0.5 * (1 + math.cos(math.pi * epoch / config.epochs))",
                        "0.5 * (1 + math.cos(math.pi * (epoch + 1) / config.epochs))"),
    "gradient-share": ("train/distributed.py", "flat.mul_(weight)", "flat.mul_(1.0)"),
    "epoch-threads-unrecorded": ("train/trainer.py", 'record["threads"] = torch.get_num_threads()', 'record["threads"] = 1'),
    "group-left-at-exit": ("train/distributed.py", "atexit.register(leave_process_group)", "pass"),
    "group-destroyed": ("train/distributed.py", "        dist.destroy_process_group()", "        pass"),
    "settings-json-text-shown": ("settings.py", ' and e["type"] != "json_invalid"', ""),
    "settings-location-dropped": ("settings.py", "{where + ': ' if where else ''}{e['msg']}", "{e['msg']}"),
    "ignored-option-accepted": ("cli.py", "if chosen not in readers and _given(ctx, param.name):", "if False:"),
    "reproduce-empty-list-accepted": ("cli.py", "if not values and not empty_ok:", "if False:"),
    "lock-keeps-empty-folder": ("train/lock.py", "if created and [p.name", "if False and [p.name"),
    "unknown-choices-unchecked": ("registry.py", "    if unknown:\n        raise UnknownNameError", "    if False:\n        raise UnknownNameError"),
    "stream-term-without-weight": ("counterfactual/streams.py", 'if self.plausibility != "none" and not self.plausibility_weight > 0:', "if False:"),
    "stream-weight-without-term": ("counterfactual/streams.py", 'if self.plausibility == "none" and self.plausibility_weight:', "if False:"),
    "group-defaults-bound-late": ("train/distributed.py", "    import torch.distributed.nn.functional  # noqa", "    pass  # noqa"),
    "dci-completeness": ("metrics/predictive.py", "completeness = float((weight * _entropy_terms(importance.T, codes)).sum())",
                         "completeness = float((weight * _entropy_terms(importance.T, factors)).sum())"),
    "gaussian-nll": ("nn/likelihoods.py", "sq / (2 * std**2)", "sq / std**2"),
    "dci-random-state-global": ("metrics/predictive.py", "GradientBoostingClassifier(random_state=random_state)",
                                "GradientBoostingClassifier()"),
    "sign-test-one-sided": ("experiments/betavae_report.py", "min(1.0, 2 * tail / 2**n)", "min(1.0, tail / 2**n)"),
    "hole-rate-threshold": ("metrics/holes.py", '"hole_rate": float((top < threshold)', '"hole_rate": float((top > threshold)'),
    "hole-rate-top-class": ("metrics/holes.py", "torch.softmax(classifier(model.decode(part.to(device)).cpu()), 1).max(1)",
                            "torch.softmax(classifier(model.decode(part.to(device)).cpu()), 1).min(1)"),
    "percentile-grid-unflipped": ("metrics/holes.py", "ticks.flip(0), ticks", "ticks, ticks"),
    "percentile-grid-range": ("metrics/holes.py", "np.linspace(0.05, 0.95, n)", "np.linspace(0.01, 0.99, n)"),
    "correlation-diagonal-kept": ("metrics/latent.py", "corr.fill_diagonal_(0)", "corr.abs_()"),
    "tc-scale-log-dropped": ("nn/divergences.py", "- scale[None].log() - 0.5", "- 0.5"),
    "kl-per-dim-summed": ("metrics/latent.py", "return encoded.kl.mean(0).tolist()", "return encoded.kl.sum(0).tolist()"),
    "knn-one-neighbour": ("metrics/latent.py", "KNeighborsClassifier(n_neighbors=k)", "KNeighborsClassifier(n_neighbors=1)"),
    "ks-max-is-min": ("metrics/latent.py", '"ks_max": max(ks)', '"ks_max": min(ks)'),
    "ramp-from-zero": ("nn/schedules.py", "start + (end - start) * t", "start + end * t"),
    "ks-mean-is-max": ("metrics/counterfactual_ae.py", 'sum(agg["ks_per_dim"]) / len(agg["ks_per_dim"])', 'max(agg["ks_per_dim"])'),
    "mmd-vae-weight-dropped": ("models/mmd_vae.py", "recon + c.mmd_weight * divergence", "recon + divergence"),
    "discretize-last-edge": ("metrics/factor_stats.py", "np.histogram(column, bins)[1][:-1]", "np.histogram(column, bins)[1]"),
    "cf-verdict-direction": ("experiments/cf_report.py", "(cf_mean > means[m] if higher else cf_mean < means[m])",
                             "(cf_mean < means[m] if higher else cf_mean > means[m])"),
    "cf-report-population-sd": ("experiments/cf_report.py", "statistics.stdev(values) if len(values) > 1",
                                "statistics.pstdev(values) if len(values) > 1"),
    "cdvae-verdict-direction": ("experiments/cdvae_gan_report.py",
                                "wins = ours[0] > theirs[0] if higher else ours[0] < theirs[0]",
                                "wins = ours[0] < theirs[0] if higher else ours[0] > theirs[0]"),
    "causal-worst-baseline": ("experiments/causalvae_report.py", "best = min(baselines, key=pixel.get)",
                              "best = max(baselines, key=pixel.get)"),
    "causal-report-population-sd": ("experiments/causalvae_report.py", "np.std(values, ddof=1)", "np.std(values)"),
    "losocs-direction-flipped": ("experiments/losocs.py", "((measured[ok] * change) > 0)", "((measured[ok] * change) < 0)"),
    "losocs-signed-gap": ("experiments/losocs.py", "(claimed - measured)[ok].abs()", "(claimed - measured)[ok]"),
    "cdvae-target-side-flipped": ("experiments/cdvae_gan.py", "((value > threshold).float() == target)",
                                  "((value < threshold).float() == target)"),
    "cdvae-change-unsigned": ("experiments/cdvae_gan.py", "(direction * (value - measure(reconstructions)[measurement]))",
                              "((value - measure(reconstructions)[measurement]))"),
    "cdvae-pairwise-max": ("experiments/cdvae_gan.py", "torch.pdist(features.double()).mean()",
                           "torch.pdist(features.double()).max()"),
    "attribute-accuracy-sign": ("train/classifier.py", "((classifier.logits(b.x) > 0).float()", "((classifier.logits(b.x) < 0).float()"),
    "classifier-accuracy-argmin": ("train/classifier.py", "classifier.logits(b.x).argmax(1) == b.label(label)",
                                   "classifier.logits(b.x).argmin(1) == b.label(label)"),
    "regressor-mae-signed": ("train/classifier.py", "error = (predicted - y).abs().mean(0)", "error = (predicted - y).mean(0)"),
    "bernoulli-draw-inverted": ("data/base.py", "(torch.rand(p.shape, generator=gen) < p.cpu())",
                                "(torch.rand(p.shape, generator=gen) > p.cpu())"),
    "binarisation-never-redrawn": ("data/base.py", "self.seed * 1_000_003 + epoch)", "self.seed * 1_000_003)"),
    "paired-by-position": ("experiments/betavae_report.py", '[(vae[b["seed"]], b) for b in runs if b["seed"] in vae]',
                           "list(zip(vae.values(), runs))"),
    "sap-correlation": ("metrics/predictive.py", "cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])", "cov[0, 1] ** 2 / cov[0, 0]"),
    "sap-gap": ("metrics/predictive.py", "return float((top[0] - top[1]).mean())", "return float((top[0] - top[-1]).mean())"),
    "morpho-thickness": ("data/morpho.py", "return 2 * (dist * skel).sum((1, 2)) / on_skeleton / scale",
                         "return (dist * skel).sum((1, 2)) / on_skeleton / scale"),
    "morpho-slant-sign": ("data/morpho.py", "return torch.atan(-mu11 / mu02)", "return torch.atan(mu11 / mu02)"),
    "morpho-edt-row-pass": ("data/morpho.py", "padded[..., reach + shift : reach + shift + w] + shift**2)",
                            "padded[..., reach + shift : reach + shift + w] + shift)"),
    "morpho-diagonal-step": ("data/morpho.py", "math.sqrt(2) * diag.sum((1, 2))", "diag.sum((1, 2))"),
    "morpho-mass-dropped": ("data/morpho.py", "MASS_DROPPED = 0.02", "MASS_DROPPED = 0.0"),
    "morpho-thinning-radius": ("data/morpho.py", "lambda t: scale * (target - t).abs() / 2", "lambda t: scale * (target - t).abs()"),
    "stream-adam-bias": ("counterfactual/streams.py", "(m / (1 - b1**t))", "m"),
    "stream-fixed-length": ("counterfactual/streams.py", "grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)", "grad"),
    "stream-stop-rule": ("counterfactual/streams.py", "done = prob.detach() > settings.tau", "done = prob.detach() > 0.5"),
    "stream-proximity-norm": ("counterfactual/streams.py", "(frames - x).abs().flatten(1).sum(1)", "(frames - x).square().flatten(1).sum(1)"),
    "stream-elbo-kl": ("counterfactual/streams.py", "settings.plausibility_weight * (nll + kl)", "settings.plausibility_weight * nll"),
    "stream-frozen": ("counterfactual/streams.py", "moving = ~done if t < settings.max_steps", "moving = done | ~done if t < settings.max_steps"),
    "r2-centring": ("metrics/streams.py", "tc = t - t.mean()", "tc = t"),
    "cv-population-sd": ("metrics/streams.py", "float(d.std(unbiased=False) / d.mean())", "float(d.std() / d.mean())"),
    "im1-denominator": ("metrics/streams.py", "return num / ((x_cf - recon_original)", "return num / ((x_cf - recon_target)"),
    "im2-normaliser": ("metrics/streams.py", "/ (x_cf.flatten(1).abs().sum(1) + eps)", "/ (x_cf.flatten(1).square().sum(1) + eps)"),
    "proximity-l2-root": ("metrics/streams.py", '"l2": delta.square().sum(1).sqrt()', '"l2": delta.square().sum(1)'),
    "contrastive-margin": ("metrics/siamese.py", "(1 - y) * F.relu(margin - d).square()", "(1 - y) * F.relu(d - margin).square()"),
    "siamese-negative-pairs": ("metrics/siamese.py", "(clash := origin[right] == origin)", "(clash := right == torch.arange(n))"),
    # CDVAE-GAN (issue 10)
    "fid-cross-term": ("metrics/fid.py", "cov_1.trace() + cov_2.trace() - 2 * cross", "cov_1.trace() + cov_2.trace() - cross"),
    "fid-unbiased-cov": ("metrics/fid.py", "centred.T @ centred / (len(f) - 1)", "centred.T @ centred / len(f)"),
    "cdvae-lambda-b": ("models/vaegan.py", "divergence = div[\"kl\"] + c.attribute_weight * div.get(\"attribute_bce\", 0.0)",
                       "divergence = div[\"kl\"] + div.get(\"attribute_bce\", 0.0)"),
    "cdvae-gamma": ("models/vaegan.py", "\"generator\": c.gamma * recon.mean() / pixels + g_on * fool",
                    "\"generator\": recon.mean() / pixels + g_on * fool"),
    "cdvae-prior-fake": ("models/vaegan.py", "+ bce(gen_logit, torch.zeros_like(gen_logit))", ""),
    "cdvae-flip-bit": ("counterfactual/flip.py", "after[:, index] = _values(value, before[:, index])",
                       "after[:, index:] = _values(value, before[:, index])[:, None]"),
    "relaxed-temperature": ("nn/distributions.py", "torch.sigmoid(noisy / self.temperature)", "torch.sigmoid(noisy)"),
    "mean-difference-sign": ("counterfactual/flip.py", "(target - current)[:, None]", "(current - target)[:, None]"),
    "attribute-preservation": ("metrics/attributes.py", "(predicted[:, others] == y[:, others])", "(predicted[:, others] != y[:, others])"),
    "celeba-excluded": ("data/celeba.py", "if n not in EXCLUDED_ATTRIBUTES", "if n != \"Young\""),
    "shapes-tilted": ("data/attributes.py", "torch.sin(2 * theta).abs() > math.sin(math.pi / 4)", "torch.sin(theta).abs() > math.sin(math.pi / 4)"),
    "shapes-truth-not-flipped": ("data/attributes.py", "shapes_attribute_columns(candidates)[:, column] != shapes_attribute_columns",
                                 "shapes_attribute_columns(candidates)[:, column] == shapes_attribute_columns"),
    "shapes-truth-classes-misassigned": ("data/attributes.py", "torch.arange(classes).repeat(len(factors))",
                                         "torch.arange(classes).repeat_interleave(len(factors))"),
    "truth-farthest": ("metrics/attributes.py", 'scatter_reduce(0, owner, values, "amin")', 'scatter_reduce(0, owner, values, "amax")'),
    "oracle-truth-unflipped-label": ("experiments/cdvae_gan.py", 'flipped = 1 - test.labels["attributes"][rows.to',
                                     'flipped = test.labels["attributes"][rows.to'),
    "oracle-rows-of-the-chunk": ("experiments/cdvae_gan.py", "reconstruct(truths, rows[owner])", "reconstruct(truths, owner)"),
    "oracle-not-reconstructed": ("experiments/cdvae_gan.py", "oracle_truth_error(reconstruct(truths, rows[owner]).cpu().float(), truths",
                                 "oracle_truth_error(truths, truths"),
    "truth-gap-denominator": ("metrics/attributes.py", "gap = unchanged - oracle", "gap = unchanged"),
    "truth-gap-sign": ("metrics/attributes.py", "(unchanged - flip) / gap", "(flip - unchanged) / gap"),
    "truth-gap-summary": ("experiments/cdvae_gan.py", 'truth_gap_closed(means["truth_error"], means["truth_error_unchanged"],',
                          'truth_gap_closed(means["truth_error"], means["truth_error"],'),
    "truth-gap-mean-of-gaps": ("experiments/cdvae_gan.py", "return with_truth_gap(attribute_means(per_attribute, TRUTH_AVERAGED))",
                               "return attribute_means(per_attribute, TRUTH_KEYS)"),
    "truth-unchanged-is-the-flip": ("experiments/cdvae_gan.py", "unchanged.append(nearest_truth_error(reconstructions[rows]",
                                    "unchanged.append(nearest_truth_error(counterfactuals[rows]"),
    "truth-nearer-or-equal": ("experiments/cdvae_gan.py", "(flip < unchanged).float().mean()", "(flip <= unchanged).float().mean()"),
    "morpho-median": ("data/attributes.py", "train.labels[measure].float().median()", "train.labels[measure].float().mean()"),
    # issue 11: interventional consistency
    "inv-normalise": ("metrics/consistency.py", "inv[m] = 1 - (leak[keep] / size[keep, None]).mean(0)",
                      "inv[m] = 1 - leak[keep].mean(0)"),
    "inv-size-units": ("metrics/consistency.py", ".view(interventions, -1).mean(1) / s[m]", ".view(interventions, -1).mean(1)"),
    "eqv-reapply": ("metrics/consistency.py", "again[:, m] = grid[:, m]", "again[:, m] = moved[:, m]"),
    "scn-abs": ("metrics/consistency.py", "scn = 1 - (plain - base).abs().mean(0) / s", "scn = 1 - (plain - base).mean(0) / s"),
    "hybrid-rows": ("counterfactual/hybrid.py", "codes.shape[1] if mode == \"hybrid\" else 1", "1"),
    "hybrid-permute": ("counterfactual/hybrid.py", "for _ in range(d)], 1)", "for _ in range(1)] * d, 1)"),
    "scn-response-scale": ("metrics/consistency.py", '(drawn if scale == "codes" else answer).std(0)',
                           '(drawn if scale == "codes" else drawn).std(0)'),
    "lrm-sqrt": ("metrics/consistency.py", "(response(model, moved) - plain).square().mean(0).sqrt()",
                 "(response(model, moved) - plain).abs().mean(0)"),
    "sparsity-possible": ("metrics/consistency.py", "possible = n * (n - 1) / 2", "possible = n * n / 2"),
    "xblock-parents": ("nn/xblock.py", "torch.cat([gates[i, j] * causes[j] for j in range(i)] + [own], 1)",
                       "torch.cat([causes[j] for j in range(i)] + [own], 1)"),
    "power-law-sign": ("experiments/ladder_vae_report.py", "lambda t, a, b, c: a - b * t ** -c",
                       "lambda t, a, b, c: a + b * t ** -c"),
    "divergence-no-abs": ("train/trainer.py", "loss > best + factor * abs(best)", "loss > best + factor * best"),
    "grad-clip-off": ("train/optim.py", "return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True) > max_norm",
                      "return torch.linalg.vector_norm(torch.stack([q.grad.norm() for q in params])) > max_norm"),
    "grad-clip-not-counted": ("train/trainer.py", "self._clipped += clip_gradient_norm(", "self._clipped *= clip_gradient_norm("),
    "diverged-run-kept": ("experiments/ladder_vae_report.py", "if len(elbo) < 2 or elbo[-1] >= elbo[0]:",
                          "if len(elbo) < 2 or elbo[-1] <= elbo[0]:"),
    "schedule-step-frozen": ("models/base.py", "self.step.fill_(step)", "self.step.fill_(0)"),
    "kl-warmup-frozen": ("models/base.py", "self.kl_weight.fill_(kl_weight)", "self.kl_weight.fill_(1.0)"),
    "adam-unfused-on-cpu": ("train/optim.py", 'fused = {"fused": True} if kind in ("adam", "adamw") else {}',
                            'fused = {"fused": True} if kind in ("adam", "adamw") and net.parameters[0].is_cuda else {}'),
    "eval-every-skips-last": ("train/trainer.py", "% self.config.eval_every == 0 or epoch + 1 == self.config.epochs",
                              "% self.config.eval_every == 0"),
    "denormals-kept": ("train/denormals.py", "return torch.set_flush_denormal(True)", "return True"),
    "over-training-one-epoch-count": ("experiments/betavae_dsprites.py", 'glob("disentanglement-e*.json")):',
                                      'glob("disentanglement-e*.json"))[-1:]:'),
    "over-training-fraction-not-percent": ("experiments/betavae_report.py", "percent=key == \"beta_vae_eval\")", "percent=False)"),
    "run-past-epochs-accepted": ("experiments/cached.py", "if reached != config.train.epochs:", "if reached < config.train.epochs:"),
    "trend-best-epoch": ("experiments/ladder_vae_report.py", "best = int(np.argmax(elbo))\n            heading",
                         "best = int(np.argmin(elbo))\n            heading"),
    "diverged-best-epoch": ("experiments/ladder_vae_report.py", "best = int(np.argmax(elbo))\n    return",
                            "best = int(np.argmin(elbo))\n    return"),
    "xblock-mask-frozen": ("nn/xblock.py", "gates = self.gates()\n", "gates = self.gates().detach()\n"),
    "xblock-do-children": ("nn/xblock.py", "causes.append(value.expand(len(noise), self.unit_dim).clone())\n                continue",
                           "causes.append(value.expand(len(noise), self.unit_dim).clone())"),
    "inv-penalty-off-diagonal": ("nn/interventions.py", "keep[torch.arange(len(a), device=a.device), dims] = 0", "pass"),
    "eqv-penalty-reapply": ("models/consistency.py", "again = intervene_columns(self.response(intervened), dims, values)",
                            "again = self.response(intervened)"),
    "consistency-weight": ("models/consistency.py", "out.terms[\"loss\"] + c.consistency_weight * penalty",
                           "out.terms[\"loss\"] + penalty"),
    "avae-rho": ("models/vae.py", "DiagonalGaussian(rho * out.z,", "DiagonalGaussian(out.z,"),
    "avae-no-grad-decoder": ("models/vae.py", "        with torch.no_grad():\n            decoded = self.decode(out.z, batch)",
                             "        if True:\n            decoded = self.decode(out.z, batch)"),
    "sae-chunks": ("nn/pooled.py", "h = modulate[k](h, chunks[k])", "h = modulate[k](h, chunks[self.stages[0]])"),
    # issue 12: hierarchical VAEs
    "ladder-merge-mean": ("nn/ladder.py", "(mean_t * precision_t + mean_l * precision_l) * var", "(mean_t + mean_l) * 0.5"),
    "ladder-merge-variance": ("nn/ladder.py", "var = 1.0 / (precision_t + precision_l)", "var = 1.0 / precision_t + 1.0 / precision_l"),
    "ladder-no-top-down": ("models/hierarchical.py", "gaussian(precision_weighted_merge(\n            *self.top_down(i, values[self.names[i + 1]]), *evidence[i]))",
                           "gaussian(evidence[i])"),
    "hierarchy-prior-ignores-parent": ("models/hierarchical.py",
                                       "lambda values, i=i: gaussian(self.top_down(i, values[self.names[i + 1]])))",
                                       "lambda values, i=i: DiagonalGaussian.standard(n, self.config.layer_sizes[i], self._device()))"),
    "hierarchy-no-abduction": ("models/hierarchical.py", "mean_new + var_new.sqrt() * noise", "mean_new"),
    "chain-kl-any-order": ("nn/distributions.py", "if [n for n, _ in q.steps] == [n for n, _ in p.steps]:", "if True:"),
    "kl-warmup-length": ("train/trainer.py", "linear_ramp(step, 0.0, 1.0, warmup_epochs * steps_per_epoch)",
                         "linear_ramp(step, 0.0, 1.0, steps_per_epoch)"),
    "active-unit-threshold": ("metrics/hierarchy.py", '"active_kl": int((kl > threshold).sum())', '"active_kl": int((kl >= 0).sum())'),
    "dag-constraint-no-power": ("nn/dag.py", "torch.linalg.matrix_power(eye + adjacency * adjacency / m, m).trace() - m",
                                "(eye + adjacency * adjacency / m).trace() - m"),
    "scm-untransposed": ("nn/dag.py", "torch.linalg.inv(eye - adjacency.to(eps.dtype).T)", "torch.linalg.inv(eye - adjacency.to(eps.dtype))"),
    "do-keeps-parents": ("nn/dag.py", "out[:, concepts] = 0", "out[concepts, :] = 0"),
    "mic-normaliser": ("metrics/mic.py", "np.minimum(np.log(ls), math.log(row_count))", "np.log(ls)"),
    "shd-reversal-counts-twice": ("metrics/causal.py", "                distance += 1", "                distance += int(learned[i, j] != truth[i, j]) + int(learned[j, i] != truth[j, i])"),
    "pendulum-shadow-not-recomputed": ("data/pendulum.py", "row[2:] = shadow(*angles(row[0], row[1]))", "pass"),
    "causalvae-label-loss-without-parents": ("models/causal_vae.py", "self.label_mask(parent_inputs(target, adjacency))",
                                             "self.label_mask(parent_inputs(target, 0 * adjacency))"),
    "causalvae-penalty-unsquared": ("models/causal_vae.py", "self.config.dag_square_weight * h * h",
                                    "self.config.dag_square_weight * h"),
    "unchanged-scene-is-the-truth": ("metrics/causal.py", "                counterfactual = images\n",
                                     "                counterfactual = truth\n"),
    "causalvae-prior-ignores-labels": ("models/causal_vae.py", "kl_z = 0.5 * (z - target).square()", "kl_z = 0.5 * z.square()"),
    "allocator-wrong-parameter": ("train/allocator.py", "M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3",
                                  "M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -2"),
    "xblock-residual-dropped": ("nn/xblock.py", "causes.append(cause + own if self.residual else cause)",
                                "causes.append(cause)"),
    "gt-excess-sign": ("experiments/consistency_report.py", 'g["counterfactual"]["error"] - g["counterfactual"]["floor"]',
                       'g["counterfactual"]["error"] + g["counterfactual"]["floor"]'),
    "planes-order-mixed": ("metrics/holes.py", ".view(len(pairs), n * n).mean(1)", ".view(n * n, len(pairs)).mean(0)"),
    "percentile-grid-dims-ignored": ("metrics/holes.py", "z[:, dims[0]] = gx.flatten()", "z[:, 0] = gx.flatten()"),
    "traverse-bernoulli-range": ("counterfactual/traverse.py", 'low, high = (0.0, 1.0) if part_of(model, dim).kind == "bernoulli" else (-span, span)',
                                 "low, high = (-span, span)"),
    "traverse-data-full-range": ("counterfactual/traverse.py", "low: float = 0.01, high: float = 0.99", "low: float = 0.0, high: float = 1.0"),
    "traverse-codes-unmoved": ("counterfactual/traverse.py", "codes.append(model.intervene_codes(before, {dim: value}))", "codes.append(before)"),
    "planes-sample-unseeded": ("metrics/holes.py", "torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:max_planes]",
                               "torch.randperm(len(pairs))[:max_planes]"),
    "planes-active-one-side": ("metrics/holes.py", "measured & mask[:, None] & mask[None, :]", "measured & mask[:, None]"),
    "active-units-threshold-ignored": ("metrics/latent.py", "return encoded.mean.var(0) > threshold", "return encoded.mean.var(0) > 0"),
    "pixel-mse-unsquared": ("metrics/pixels.py", "float((a - b).square().mean())", "float((a - b).abs().mean())"),
    "pixel-mean-abs-signed": ("metrics/pixels.py", "(a - b).abs().flatten(1).mean(1)", "(a - b).flatten(1).mean(1)"),
    "cdvae-attribute-mean-over-keys": ("experiments/cdvae_gan.py", "/ len(per_attribute) for k in keys}", "/ len(keys) for k in keys}"),
    "cdvae-diversity-inverted": ("experiments/cdvae_gan.py", "mean_pairwise_distance(sample_features) / mean_pairwise_distance(real_features)",
                                 "mean_pairwise_distance(real_features) / mean_pairwise_distance(sample_features)"),
    "losocs-claimed-padded-end": ("experiments/losocs.py", "result.scores[torch.arange(len(result)), last] - result.scores[:, 0]",
                                  "result.scores[:, -1] - result.scores[:, 0]"),
    "losocs-measured-from-input": ("experiments/losocs.py", '- measure(result.frames[:, 0].cpu())["thickness"]',
                                   '- measure(result.inputs.cpu())["thickness"]'),
    "sensitivity-spread-halved": ("metrics/latent.py", "spread = 2 * decode(z).var(0).mean()", "spread = decode(z).var(0).mean()"),
    "sensitivity-sweep-first-dim": ("metrics/latent.py", "ends[0, d], ends[1, d]", "ends[0, 0], ends[1, 0]"),
    "sensitivity-unsquared": ("metrics/latent.py", "(images[m:] - images[:m]).square().mean()", "(images[m:] - images[:m]).abs().mean()"),
    "used-threshold-ignored": ("metrics/latent.py", "return decoder_sensitivity(model, encoded, **options) > threshold",
                               "return decoder_sensitivity(model, encoded, **options) > 0"),
    "cld-weights-swapped": ("metrics/attributes.py", "torch.log(weight * p1.exp() + (1 - weight) * p2.exp())",
                            "torch.log(weight * p2.exp() + (1 - weight) * p1.exp())"),
    "cld-p1-strict": ("metrics/attributes.py", "((distance <= div[:, None]) & with_cf_value)", "((distance < div[:, None]) & with_cf_value)"),
    "cld-distance-summed": ("metrics/attributes.py", ".float() / factual.shape[1]  # (N, M)", ".float()  # (N, M)"),
    "cld-means-without-p2": ("experiments/cdvae_gan.py", '"minimality", "minimality_p1",\n                                                          "minimality_p2")',
                             '"minimality", "minimality_p1")'),
    "cld-pool-values-swapped": ("experiments/cdvae_gan.py", "real_features, labels, labels, 1 - labels)",
                                "real_features, labels, 1 - labels, labels)"),
    "prdc-radius-self": ("metrics/realism.py", "distances.kthvalue(k + 1, dim=1)", "distances.kthvalue(k, dim=1)"),
    "prdc-recall-real-balls": ("metrics/realism.py", '"recall": float(inside_fake.any(1)', '"recall": float(inside_real.any(1)'),
    "prdc-density-unscaled": ("metrics/realism.py", "inside_real.sum(0).double().mean() / k)", "inside_real.sum(0).double().mean())"),
    "prdc-coverage-is-precision": ("metrics/realism.py", '"coverage": float(inside_real.any(1)', '"coverage": float(inside_real.any(0)'),
    "variant-settings-ignored": ("experiments/losocs.py", "if before is not None and before != current:", "if False:"),
    "variant-streams-kept": ("experiments/losocs.py", "                path.unlink(missing_ok=True)", "                pass"),
    "prototype-farthest-codes": ("counterfactual/prototypes.py", "topk(min(k, len(pool)), dim=1, largest=False)",
                                 "topk(min(k, len(pool)), dim=1, largest=True)"),
    "prototype-any-class": ("counterfactual/prototypes.py", "pool = codes[labels == c]", "pool = codes"),
    "prototype-term-unsquared": ("counterfactual/streams.py", "(autoencoder.encode(frames).mean - prototypes).square().sum(1)",
                                 "(autoencoder.encode(frames).mean - prototypes).abs().sum(1)"),
    "planes-used-mask-ignored": ("metrics/holes.py", '(("active", active), ("used", used))', '(("active", active), ("used", active))'),
    "scm-gamma-scale-not-rate": ("data/morpho_scm.py", ".gamma(10.0, 1 / 5.0, size=n)", ".gamma(10.0, 5.0, size=n)"),
    "scm-intensity-noise-sign": ("data/morpho_scm.py", "(2.0 * (np.asarray(thickness) - 2.5) + 0.5 * np.asarray(noise))",
                                 "(2.0 * (np.asarray(thickness) - 2.5) - 0.5 * np.asarray(noise))"),
    "scm-intensity-floor": ("data/morpho_scm.py", "return 64.0 + 191.0 /", "return 191.0 /"),
    "scm-median-is-mean": ("data/morpho_scm.py", ".nanmedian(1).values", ".nanmean(1)"),
    "scm-foreground-all-ink": ("data/morpho_scm.py", "foreground = flat >= flat.amax(1, keepdim=True) / 2", "foreground = flat > 0"),
    "scm-abduction-drops-noise": ("data/morpho_scm.py", "out[:, 1] = intensity_of(value, noise)", "out[:, 1] = intensity_of(value, 0.0)"),
    "scm-child-not-recomputed": ("data/morpho_scm.py", "out[:, 1] = intensity_of(value, noise)", "pass"),
    "scm-do-intensity-moves-thickness": ("data/morpho_scm.py", "        out[:, 1] = value\n", "        out[:, :] = value\n"),
    "scm-thickness-unset": ("data/morpho_scm.py", "with_intensity(set_thickness(grey, torch.as_tensor(np.asarray(thickness), dtype=torch.float32)), intensity)",
                            "with_intensity(grey, intensity)"),
    "world-edges-reversed": ("data/worlds.py", "out[self.concepts.index(parent), self.concepts.index(child)] = 1",
                             "out[self.concepts.index(child), self.concepts.index(parent)] = 1"),
    "world-standardisation-ignored": ("train/run.py", "and self.dataset in WORLDS:", "and False:"),
    "world-standardisation-overrides": ("train/run.py", 'options.setdefault("concept_scale", ', 'options.__setitem__("concept_scale", '),
    "causal-report-two-concept-tolerance": ("experiments/causalvae_report.py", "tolerance = 1 if len(concepts) > 2 else 0",
                                            "tolerance = 1"),
    "iw-bound-is-mean-weight": ("models/importance.py", "bound = log_mean_exp(tempered, 0)", "bound = tempered.mean(0)"),
    "iw-untempered": ("models/importance.py", "tempered = log_px + beta * log_ratio", "tempered = log_px + log_ratio"),
    "dreg-live-q": ("models/importance.py", "fixed = DiagonalGaussian(posterior.mean.detach(), posterior.scale.detach())",
                    "fixed = posterior"),
    "dreg-chain-live-parameters": ("models/importance.py", 'p.detach() if detached(name) else p for name', 'p for name'),
    "dreg-chain-live-evidence": ("models/importance.py", "        density = model.encode(batch)\n        return torch.stack(",
                                 "        density = posterior\n        return torch.stack("),
    "dreg-unshared-weights-shared-path": ("models/importance.py", "scale_gradients(weighted, factor)",
                                          "scale_gradients(draws, factor)"),
    "dreg-unshared-holds-shared-fixed": ("models/importance.py",
                                         "_state(model, lambda name: not shared_with_prior(model, name)), draw_and_read",
                                         "_state(model, lambda name: True), draw_and_read"),
    "draws-apart-one-graph": ("models/importance.py", "draws = [a + density.reparameterised(noise) - a.detach() for a,",
                              "draws = [a for a,"),
    "posterior-shares-undeclared": ("models/hierarchical.py", 'posterior_shares = ("down", "down_heads")',
                                    "posterior_shares = ()"),
    "dreg-chain-shares-buffers": ("models/importance.py", "b.clone() for name, b", "b for name, b"),
    "dreg-hierarchy-ignored": ("models/hierarchical.py", "c.iw_gradient))", '"iwae"))'),
    "rescore-knn-keeps-old-stamp": ("experiments/counterfactual_ae.py",
                                    'metrics["knn_accuracy_recomputed"] = stamped({}, model)', "pass"),
    "ladder-snapshots-unstamped": ("experiments/ladder_vae.py",
                                   'entry.setdefault("snapshots_scored_by", {})[str(epoch)] = {SCORED_BY: stamp}', "pass"),
    "dreg-batch-norm-accepted": ("models/hierarchical.py", 'if self.iw_gradient != "iwae" and self.batch_norm:', "if False:"),
    "ladder-dreg-variant-plain": ("experiments/ladder_vae.py", 'options["iw_gradient"] = gradient', "pass"),
    "dreg-square-ignores-beta": ("models/importance.py", "factor = (1 - beta) + beta * normalised", "factor = normalised"),
    "dreg-no-second-weight": ("models/importance.py", "grad * scale.unsqueeze(1)", "grad"),
    "iw-vae-beta-dropped": ("models/vae.py", "c.beta * self.kl_weight, c.iw_gradient", "self.kl_weight, c.iw_gradient"),
    "iw-hierarchy-warmup-dropped": ("models/hierarchical.py", "prior, c.importance_samples, self.kl_weight,",
                                    "prior, c.importance_samples, 1.0,"),
    "rescore-takes-ignored-options": ("cli.py", 'if param.name in ("seeds", "epochs", "latent_dims", "network") and _given(ctx, param.name):',
                                      "if False:"),
    "unknown-model-option-unnamed": ("models/base.py", "[k for k in values if k not in cls.model_fields]", "[]"),
    "mss-own-weight-strided": ("nn/divergences.py", "weights[rows, rows] = math.log(1.0 / n)", "weights[rows, 0] = math.log(1.0 / n)"),
    "mss-neighbour-weight-plain": ("nn/divergences.py", "math.log((n - m + 1) / (n * (m - 1)))", "math.log(1.0 / (m - 1))"),
    "mws-offset-without-m": ("nn/divergences.py", "-math.log(dataset_size * m)", "-math.log(dataset_size)"),
    "tc-own-density-batch-mean": ("nn/divergences.py", "own = log_density.diagonal(dim1=0, dim2=1).sum(0)",
                                  "own = log_density.sum(2).mean(1)"),
    "tc-prior-unnormalised": ("nn/divergences.py", "(-0.5 * z.square() - 0.5 * math.log(2 * math.pi)).sum(1)",
                              "(-0.5 * z.square()).sum(1)"),
    "aggregate-marginals-unweighted": ("nn/divergences.py", "torch.logsumexp(log_density + weights.unsqueeze(-1), dim=1)",
                                       "torch.logsumexp(log_density, dim=1)"),
    "tcvae-alpha-beta-swapped": ("models/tcvae.py", 'c.alpha * parts["mutual_information"] + c.beta * parts["total_correlation"]',
                                 'c.beta * parts["mutual_information"] + c.alpha * parts["total_correlation"]'),
    "tcvae-warmup-ignored": ("models/tcvae.py", "recon + self.kl_weight * weighted", "recon + weighted"),
    "eval-loss-at-mean": ("models/base.py", "return out.z if self.training else out.posterior.rsample()", "return out.z"),
    "run-dataset-size-not-filled": ("train/run.py", 'if getattr(cls, "takes_dataset_size", False) and train_size is not None:',
                                    "if False:"),
    "paired-table-without-tcvae": ("experiments/betavae_report.py", 'name.startswith(("beta-VAE", "beta-TCVAE", "FactorVAE"))',
                                   'name.startswith(("beta-VAE", "FactorVAE"))'),
    "paired-table-without-factorvae": ("experiments/betavae_report.py", 'name.startswith(("beta-VAE", "beta-TCVAE", "FactorVAE"))',
                                       'name.startswith(("beta-VAE", "beta-TCVAE"))'),
    "factorvae-row-weight-as-beta": ("experiments/betavae_dsprites.py", '"factor-vae": ("fgamma", "gamma")',
                                     '"factor-vae": ("fgamma", "beta")'),
    "shuffle-rows-together": ("nn/density_ratio.py", "torch.rand(z.shape, device=z.device, generator=generator)",
                              "torch.rand(z.shape[0], 1, device=z.device, generator=generator).expand(z.shape)"),
    "density-ratio-labels-swapped": ("nn/density_ratio.py", "joint_logits, torch.ones_like(joint_logits)",
                                     "joint_logits, torch.zeros_like(joint_logits)"),
    "density-ratio-sum-not-mean": ("nn/density_ratio.py", "0.5 * (joint + shuffled)", "(joint + shuffled)"),
    "factorvae-gamma-ignored": ("models/factor_vae.py", "(kl + self.config.gamma * tc)", "(kl + tc)"),
    "factorvae-warmup-ignored": ("models/factor_vae.py", "recon + self.kl_weight * (kl", "recon + (kl"),
    "factorvae-one-update": ("models/factor_vae.py", 'self.update_each({"vae": out.loss, "discriminator": critic["d_loss"]}, optimizers)',
                             'self.update(out.loss + critic["d_loss"], optimizers["vae"], optimizers["discriminator"])'),
    "factorvae-critic-in-vae-optimiser": ("models/factor_vae.py", '"vae": Network([p for p in self.parameters() if id(p) not in own])',
                                          '"vae": Network(list(self.parameters()))'),
    "factorvae-critic-default-betas": ("models/factor_vae.py", "self.config.lr_discriminator, DISCRIMINATOR_BETAS)",
                                       "self.config.lr_discriminator)"),
    "optimiser-betas-ignored": ("train/optim.py", 'extra["betas"] = net.betas', "pass"),
    "gaussian-tc-without-posterior-variance": ("metrics/latent.py", "cov = cov + torch.diag(encoded.scale.double().square().mean(0))",
                                               "cov = cov"),
    "gaussian-tc-sign": ("metrics/latent.py", "0.5 * (cov.diagonal().log().sum() - torch.logdet(cov))",
                         "0.5 * (torch.logdet(cov) - cov.diagonal().log().sum())"),
    "provenance-untracked-not-dirty": ("train/provenance.py", '"status", "--porcelain", "--", "."',
                                       '"status", "--porcelain", "--untracked-files=no", "--", "."'),
    "provenance-installed-copy-gets-a-commit": ("train/provenance.py", '"ls-files", "--error-unmatch", "__init__.py"',
                                                '"rev-parse", "HEAD"'),
    "provenance-one-session-only": ("train/run.py", 'with open(out / PROVENANCE_FILE, "a") as file:',
                                    'with open(out / PROVENANCE_FILE, "w") as file:'),
    "provenance-finished-run-counted": ("train/run.py", "if trainer.epoch < config.train.epochs:  # a finished run",
                                        "if True:  # a finished run"),
    "lock-holder-blind": ("train/lock.py", 'return handle.read().strip() or "unknown"', "return None"),
    "report-provenance-counts-runs": ("experiments/report.py", "rows.update(_code_and_machine(session) for session in sessions)",
                                      "rows.update(_code_and_machine(session) for session in sessions[:1])"),
    "report-provenance-hides-changes": ("train/provenance.py", '(" with changes" if git.get("dirty") else "")', '""'),
    "save-scores-unstamped": ("experiments/report.py", "record = stamped(scores, model)", "record = scores"),
    "result-unstamped": ("experiments/report.py", "results[key] = stamped(scores, model)", "results[key] = scores"),
    "consistency-result-unstamped": ("experiments/consistency.py", "results[key] = stamped(scores, model)",
                                     "results[key] = scores"),
    "ladder-result-unstamped": ("experiments/ladder_vae.py", "entry[SCORED_BY] = stamp", "pass"),
    "causalvae-result-unstamped": ("experiments/causalvae.py", "results[key] = stamped(score(",
                                   "results[key] = (lambda s, m: s)(score("),
    "stamp-keeps-an-older-stamp": ("train/provenance.py", "return {**scores, SCORED_BY: scorer(model)}",
                                   "return {SCORED_BY: scorer(model), **scores}"),
    "stamp-device-always-cpu": ("train/provenance.py", '"cpu" if model is None else str(next(model.parameters()).device)',
                                '"cpu"'),
    "stamps-in-top-level-only": ("train/provenance.py",
                                 "return own + [s for k, v in value.items() if k != SCORED_BY for s in stamps_in(v)]",
                                 "return own"),
    "shards-stamps-make-a-conflict": ("experiments/shards.py", "unstamped(merged.get(key)) == unstamped(scores)",
                                      "merged.get(key) == scores"),
    "report-scores-hides-unstamped-files": ("experiments/report.py", "        if not stamps:\n            unrecorded",
                                            "        if False:\n            unrecorded"),
    "report-settings-counted-as-scores": ("experiments/report.py", "if p.name not in (RUN_FILE, PREDICTOR_RECORD)",
                                          "if p.name not in (RUN_FILE,)"),
    "compare-ignores-protocol": ("experiments/compare.py", "groups.setdefault((pattern, protocol), {})[name] = record",
                                 "groups.setdefault((pattern, ()), {})[name] = record"),
    "compare-codes-not-flagged": ("experiments/compare.py", "if len(codes) > 1:", "if len(codes) > 2:"),
    "compare-runs-named-alike-merged": ("experiments/compare.py",
                                        "return [name if names.count(name) == 1 else str(run) for name, run in zip(names, runs)]",
                                        "return names"),
    "compare-protocol-keys-as-scores": ("experiments/compare.py", "return [k for k in dict.fromkeys(keys) if k not in skip]",
                                        "return list(dict.fromkeys(keys))"),
    "traversal-files-per-model-not-row": ("experiments/betavae_report.py",
                                          'return "traversals_" + re.sub(r"[^a-z0-9]+", "-", row.lower()).strip("-") + ".png"',
                                          'return "traversals_" + row.split(" ")[0].lower() + ".png"'),
    "info-scores-blind": ("train/provenance.py",
                          'return {code_label(stamp) for stamp in stamps} or {"not recorded"}',
                          'return {"not recorded"}'),
    "losocs-seeds-share-a-folder": ("experiments/losocs.py", 'return Path(out) if seed == 0 else Path(out) / f"seed-{seed}"',
                                    'return Path(out)'),
    "losocs-vae-seed-ignored": ("experiments/losocs.py", "train=TrainConfig(epochs=epochs, seed=seed, progress=progress)))",
                                "train=TrainConfig(epochs=epochs, seed=0, progress=progress)))"),
    "losocs-im-seed-ignored": ("experiments/losocs.py", "train=TrainConfig(epochs=epochs, seed=seed, progress=progress))\n",
                               "train=TrainConfig(epochs=epochs, seed=0, progress=progress))\n"),
    "predictor-seed-ignored": ("experiments/cached.py", "train_predictor(kind, train, test, network, target, epochs, seed)",
                               "train_predictor(kind, train, test, network, target, epochs)"),
    "across-seeds-nan-kept": ("experiments/losocs_report.py", "if value is not None and not math.isnan(value):",
                              "if value is not None:"),
    "across-seeds-r2-count-flipped": ("experiments/losocs_report.py", "sum(x > SEED_TABLE1['r2'][0] for x in r2)",
                                      "sum(x < SEED_TABLE1['r2'][0] for x in r2)"),
    "across-seeds-im1-count-flipped": ("experiments/losocs_report.py", "sum(b < a for a, b in pairs)", "sum(b > a for a, b in pairs)"),
    "across-seeds-spread-count-flipped": ("experiments/losocs_report.py",
                                          "sum(end > start for start, end in zip(before, after))",
                                          "sum(end < start for start, end in zip(before, after))"),
    "straight-path-padded-length": ("counterfactual/streams.py", "codes = self.codes_after[i, : int(self.lengths[i])]",
                                    "codes = self.codes_after[i]"),
    "straight-path-off-by-one": ("counterfactual/streams.py", "(positions.to(codes) / (len(codes) - 1))",
                                 "(positions.to(codes) / len(codes))"),
    "linear-path-reversed": ("counterfactual/interpolate.py", "(1 - t) * a.unsqueeze(1) + t * b.unsqueeze(1)",
                             "t * a.unsqueeze(1) + (1 - t) * b.unsqueeze(1)"),
    "slerp-linear-weights": ("counterfactual/interpolate.py", "(torch.sin((1 - t) * angle) / safe) * a.unsqueeze(1)",
                             "(1 - t) * a.unsqueeze(1)"),
    "slerp-no-fallback": ("counterfactual/interpolate.py", "torch.where(straight, linear_path(a, b, t.view(-1)), curved)",
                          "curved"),
    "interpolate-ends-from-start": ("counterfactual/interpolate.py", "model.encode(first).mean, model.encode(last).mean",
                                    "model.encode(first).mean, model.encode(first).mean"),
    "norm-dip-mean-of-ends": ("metrics/interpolation.py", "torch.minimum(norms[:, 0], norms[:, -1])",
                              "((norms[:, 0] + norms[:, -1]) / 2)"),
    "neither-share-either": ("metrics/interpolation.py", "(labels != start_labels.unsqueeze(1)) & (labels != end_labels.unsqueeze(1))",
                             "(labels != start_labels.unsqueeze(1)) | (labels != end_labels.unsqueeze(1))"),
    "switch-point-tie": ("metrics/interpolation.py", "ahead = p_end > p_start", "ahead = p_end >= p_start"),
    "iw-running-statistics-per-draw": ("models/importance.py",
                                       "    norms = tracked_batch_norms(model)\n    saved",
                                       "    norms = []\n    saved"),
}
FAST_FIRST = ("test_factor_vae.py", "test_tcvae.py", "test_importance.py", "test_causal_vae.py", "test_mic.py", "test_pendulum.py", "test_causal_metrics.py", "test_ladder.py", "test_consistency.py", "test_fid.py", "test_vaegan.py", "test_attribute_metrics.py", "test_attribute_data.py", "test_streams.py", "test_morpho.py", "test_equations.py", "test_divergences.py", "test_contract.py", "test_metrics.py", "test_models.py")


def test_files() -> list[str]:
    """Every test file, the quick closed-form ones first."""
    tests = SRC.parents[1] / "tests"
    rest = sorted(p.name for p in tests.glob("test_*.py") if p.name not in FAST_FIRST)
    return [str(tests / name) for name in (*FAST_FIRST, *rest)]


@functools.cache
def _source(test_file: str) -> str:
    return Path(test_file).read_text()


def imports_module(relative: str, test_file: str) -> bool:
    """Whether the test file imports the module at src/cfae/<relative> (cfae.metrics.holes for metrics/holes.py)."""
    module = "cfae." + relative.removesuffix(".py").replace("/", ".")
    package, _, name = module.rpartition(".")
    text = _source(test_file)
    return any(i in text for i in (f"{module} import", f"import {module}", f"from {package} import {name}"))


def likely_first(relative: str, tests: list[str]) -> list[str]:
    """The same test files, those that import the mutated module moved to the front: the whole
    suite still runs, a catch just comes sooner."""
    near = [t for t in tests if imports_module(relative, t)]
    return near + [t for t in tests if t not in near]


def pytest_fails(tests: list[str], keyword: str = "") -> bool:
    """Whether `pytest -x` over the tests (in order, with -k keyword) fails on the working tree."""
    select = ["-k", keyword] if keyword else []
    code = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *select, *tests],
                          cwd=SRC.parents[1], capture_output=True, text=True).returncode
    if code == 5:  # pytest's "no tests collected": nothing checked the mutation
        raise SystemExit("pytest selected no test; check --tests and -k")
    return code != 0


def run(name: str, tests: list[str], keyword: str = "") -> tuple[bool, float]:
    relative, original, broken = MUTATIONS[name]
    path = SRC / relative
    text = path.read_text()
    if text.count(original) != 1:
        raise SystemExit(f"{name}: the original text occurs {text.count(original)} times in {path}; update the list")
    start = time.perf_counter()
    try:
        path.write_text(text.replace(original, broken))
        caught = pytest_fails(likely_first(relative, tests), keyword)
    finally:
        path.write_text(text)
    return caught, time.perf_counter() - start


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still restores the mutated file
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated mutation names")
    parser.add_argument("--tests", default="", help="comma-separated test files (default: every one)")
    parser.add_argument("-k", dest="keyword", default="", help="pytest -k expression selecting tests")
    parser.add_argument("--near", action="store_true", help="only the test files that import the mutated module")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the chosen tests")
    args = parser.parse_args()
    tests = [str(Path(t).resolve()) for t in args.tests.split(",") if t] or test_files()
    missing = [t for t in tests if not Path(t).is_file()]
    if missing:
        raise SystemExit(f"--tests: no such file {', '.join(missing)}")
    names = [n for n in args.only.split(",") if n] or list(MUTATIONS)
    unknown = set(names) - set(MUTATIONS)
    if unknown:
        raise SystemExit(f"unknown mutations {sorted(unknown)}; valid choices: {', '.join(MUTATIONS)}")
    plan = {name: [t for t in tests if imports_module(MUTATIONS[name][0], t)] if args.near else tests for name in names}
    if not args.no_baseline:
        every = sorted({t for chosen in plan.values() for t in chosen})
        if every and pytest_fails(every, args.keyword):
            raise SystemExit("the unmutated tests already fail; mend them first (pytest -x on: " + ", ".join(
                Path(t).name for t in every) + ")")
        print(f"baseline: the {len(every)} test files pass unmutated", flush=True)
    missed, skipped = [], []
    for name in names:
        chosen = plan[name]
        if not chosen:
            print(f"{name:30s} skipped (no test file imports its module)", flush=True)
            skipped.append(name)
            continue
        caught, seconds = run(name, chosen, args.keyword)
        print(f"{name:30s} {'caught' if caught else 'MISSED'}  ({seconds:.0f} s)", flush=True)
        if not caught:
            missed.append(name)
    tried = len(names) - len(skipped)
    print(f"{tried - len(missed)} of {tried} mutations caught" + (f"; missed: {', '.join(missed)}" if missed else "")
          + (f"; skipped: {', '.join(skipped)}" if skipped else ""))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
