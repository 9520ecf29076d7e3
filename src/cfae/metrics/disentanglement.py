"""Disentanglement metrics on the encoder mean (reference A; disentanglement_lib defaults).

Each function takes a ground-truth space (data.groundtruth.GroundTruthSpace), a representation
function (observations -> codes) and a numpy Generator, and returns a dict of named scores.
Higgins beta-VAE metric, FactorVAE metric, MIG, modularity/explicitness and IRS live here; the
predictor-based DCI and SAP in predictive.py.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from cfae.metrics.factor_stats import discretize, entropies, mutual_info_matrix, observe, sample_codes
from cfae.registry import check_choices


def _pair_features(space, represent, rng, points: int, batch_size: int, chunk: int = 32):
    """Higgins: per point pick factor k, two batches sharing column k, feature = mean |z1 - z2|.
    All points' factors are drawn first, then encoded `chunk` points at a time, so wide codes
    (raw pixels: 4096 per observation) never hold more than chunk x batch_size rows."""
    labels = rng.integers(len(space.factor_sizes), size=points)
    first = space.sample_factors(points * batch_size, rng).reshape(points, batch_size, -1)
    second = space.sample_factors(points * batch_size, rng).reshape(points, batch_size, -1)
    second[np.arange(points), :, labels] = first[np.arange(points), :, labels]
    features = []
    for start in range(0, points, chunk):
        part = slice(start, min(start + chunk, points))
        z1, z2 = (observe(space, represent, f[part].reshape(-1, f.shape[-1])) for f in (first, second))
        features.append(np.abs(z1 - z2).reshape(-1, batch_size, z1.shape[-1]).mean(1))
    return np.concatenate(features), labels


def beta_vae_score(space, represent, rng, batch_size=64, num_train=10000, num_eval=5000) -> dict:
    """Higgins et al. (2017): accuracy of a logistic regression predicting the fixed factor; the
    per-factor recall on the eval points shows which fixed factors the codes cannot tell apart."""
    x_train, y_train = _pair_features(space, represent, rng, num_train, batch_size)
    x_eval, y_eval = _pair_features(space, represent, rng, num_eval, batch_size)
    clf = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    predicted = clf.predict(x_eval)
    recall = [float((predicted[y_eval == k] == k).mean()) if (y_eval == k).any() else None
              for k in range(len(space.factor_sizes))]
    return {"beta_vae_train": float(clf.score(x_train, y_train)), "beta_vae_eval": float(clf.score(x_eval, y_eval)),
            "beta_vae_eval_recall": recall}


def _factor_votes(space, represent, rng, points, batch_size, global_var, active) -> np.ndarray:
    """votes[k, j]: how often code j had the smallest normalised variance when factor k was fixed."""
    labels = rng.integers(len(space.factor_sizes), size=points)
    factors = space.sample_factors(points * batch_size, rng).reshape(points, batch_size, -1)
    factors[np.arange(points), :, labels] = factors[np.arange(points), :1, labels]
    codes = observe(space, represent, factors.reshape(points * batch_size, -1)).reshape(points, batch_size, -1)
    local_var = codes.var(1, ddof=1)
    active_index = np.flatnonzero(active)
    winners = active_index[np.argmin(local_var[:, active] / global_var[active], axis=1)]
    votes = np.zeros((len(space.factor_sizes), len(global_var)), np.int64)
    np.add.at(votes, (labels, winners), 1)
    return votes


def factor_vae_score(space, represent, rng, batch_size=64, num_train=10000, num_eval=5000,
                     num_variance_estimate=10000, prune_threshold=0.05) -> dict:
    """Kim & Mnih (2018): majority-vote classifier from argmin normalised variance to factor."""
    codes, _ = sample_codes(space, represent, num_variance_estimate, rng)
    global_var = codes.var(0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    if not active.any():
        return {"factor_vae_train": 0.0, "factor_vae_eval": 0.0, "active_codes": 0}
    train = _factor_votes(space, represent, rng, num_train, batch_size, global_var, active)
    evals = _factor_votes(space, represent, rng, num_eval, batch_size, global_var, active)
    classifier = train.argmax(0)  # code -> factor
    columns = np.arange(train.shape[1])
    return {"factor_vae_train": float(train.max(0).sum() / train.sum()),
            "factor_vae_eval": float(evals[classifier, columns].sum() / evals.sum()),
            "active_codes": int(active.sum())}


def mig(space, represent, rng, num_train=10000, bins=20) -> dict:
    """Chen et al. (2018): mean over factors of the gap between the two most informative codes / H(factor)."""
    codes, factors = sample_codes(space, represent, num_train, rng)
    m = mutual_info_matrix(discretize(codes.T, bins), factors.T)
    return {"mig": mig_from_matrix(m, entropies(factors.T))}


def mig_from_matrix(m: np.ndarray, h: np.ndarray) -> float:
    """mean over factors j with H_j > 0 of (largest - second largest m[:, j]) / H_j; m is (codes, factors)."""
    top = np.sort(m, axis=0)[::-1]
    keep = h > 0
    return float(((top[0] - top[1])[keep] / h[keep]).mean())


def modularity_explicitness(space, represent, rng, num_train=10000, num_test=5000, bins=20) -> dict:
    """Ridgeway & Mozer (2018): modularity from the code-factor MI matrix; explicitness as the
    ROC-AUC of per-factor logistic regressions on standardised codes."""
    codes, factors = sample_codes(space, represent, num_train, rng)
    test_codes, test_factors = sample_codes(space, represent, num_test, rng)
    modularity = modularity_from_matrix(mutual_info_matrix(discretize(codes.T, bins), factors.T))
    scaler = StandardScaler().fit(codes)
    train_x, test_x = scaler.transform(codes), scaler.transform(test_codes)
    train_auc, test_auc = [], []
    for j in range(factors.shape[1]):
        clf = LogisticRegression(max_iter=1000).fit(train_x, factors[:, j])
        classes = clf.classes_
        for x, y, out in ((train_x, factors[:, j], train_auc), (test_x, test_factors[:, j], test_auc)):
            onehot = (y[:, None] == classes[None, :]).astype(int)
            present = onehot.sum(0) > 0
            out.append(roc_auc_score(onehot[:, present], clf.predict_proba(x)[:, present]) if len(classes) > 2
                       else roc_auc_score(y == classes[1], clf.predict_proba(x)[:, 1]))
    return {"modularity": float(modularity), "explicitness_train": float(np.mean(train_auc)),
            "explicitness_test": float(np.mean(test_auc))}


def modularity_from_matrix(mi: np.ndarray) -> float:
    """Ridgeway & Mozer: with m = MI^2 (codes, factors), theta_i = max_j m_ij,
    delta_i = (sum_j m_ij - theta_i) / (theta_i (F - 1)); mean over codes of 1 - delta_i (0 where theta_i = 0)."""
    m = mi**2
    theta = m.max(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (m.sum(1) - theta) / (theta * (m.shape[1] - 1))
    return float(np.where(theta > 0, 1 - delta, 0.0).mean())


def irs(space, represent, rng, num_train=10000, diff_quantile=0.99, bins=20) -> dict:
    """Suter et al. (2019) interventional robustness score, as in disentanglement_lib."""
    codes, factors = sample_codes(space, represent, num_train, rng)
    return irs_from_samples(codes, discretize(factors.T, bins).T, diff_quantile)


def irs_from_samples(codes: np.ndarray, factors: np.ndarray, diff_quantile: float = 0.99) -> dict:
    """IRS of codes (n, D) against discrete factors (n, F): per factor i and value k, the diff_quantile
    of |z - E[z | g_i = k]| per code, averaged over k and divided by max |z - mean z|; per-code score
    = max over factors of 1 - that; final = average of per-code scores weighted by max deviation."""
    codes = codes[:, codes.std(0) > 0]
    if codes.shape[1] == 0:
        return {"irs": 0.0, "irs_active_codes": 0}
    max_dev = np.abs(codes - codes.mean(0)).max(0)
    deviation = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(factors.shape[1]):
        values = np.unique(factors[:, i])
        for v in values:
            group = codes[factors[:, i] == v]
            deviation[:, i] += np.quantile(np.abs(group - group.mean(0)), diff_quantile, axis=0)
        deviation[:, i] /= len(values)
    per_code = (1 - deviation / max_dev[:, None]).max(1)
    return {"irs": float(np.average(per_code, weights=max_dev)), "irs_active_codes": int(codes.shape[1])}


SUITE = ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity", "irs")


def disentanglement_suite(space, represent, seed: int = 0, progress=None, fast: bool = False,
                          only: tuple[str, ...] = SUITE, sample_divisor: int = 1) -> dict:
    """Every metric (or those in `only`) with its default sample counts divided by sample_divisor
    (fast: by 50, a smoke test only). Metric k draws from default_rng([seed, k]) whichever others
    are selected."""
    from cfae.metrics.predictive import dci, sap

    if sample_divisor < 1:
        raise ValueError(f"sample_divisor must be >= 1, got {sample_divisor}")
    scale = 50 if fast else sample_divisor
    metrics = {
        "beta_vae": lambda r: beta_vae_score(space, represent, r, num_train=10000 // scale, num_eval=5000 // scale),
        "factor_vae": lambda r: factor_vae_score(space, represent, r, num_train=10000 // scale, num_eval=5000 // scale,
                                                 num_variance_estimate=10000 // scale),
        "mig": lambda r: mig(space, represent, r, num_train=10000 // scale),
        "dci": lambda r: dci(space, represent, r, num_train=10000 // scale, num_test=5000 // scale),
        "sap": lambda r: sap(space, represent, r, num_train=10000 // scale, num_test=5000 // scale),
        "modularity": lambda r: modularity_explicitness(space, represent, r, num_train=10000 // scale, num_test=5000 // scale),
        "irs": lambda r: irs(space, represent, r, num_train=10000 // scale),
    }
    check_choices("metric", sorted(set(only)), SUITE)
    result = {}
    for k, (name, metric) in enumerate(metrics.items()):
        if name not in only:
            continue
        result.update(metric(np.random.default_rng([seed, k])))
        if progress is not None:
            progress(name)
    return result
