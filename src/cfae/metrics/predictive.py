"""Predictor-based disentanglement metrics: DCI (Eastwood & Williams 2018) and SAP (Kumar et al. 2018),
with disentanglement_lib's defaults (reference A)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.svm import LinearSVC

from cfae.metrics.factor_stats import sample_codes


def _entropy_terms(p: np.ndarray, base: int) -> np.ndarray:
    """1 - H_base(p) per row of a row-normalised importance matrix."""
    p = p / np.clip(p.sum(1, keepdims=True), 1e-11, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(1) / np.log(base)
    return 1 - h


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """(disentanglement, completeness) from R[code, factor] = |feature importance|."""
    codes, factors = importance.shape
    total = importance.sum()
    if total == 0:
        return 0.0, 0.0
    rho = importance.sum(1) / total
    disentanglement = float((rho * _entropy_terms(importance, factors)).sum()) if factors > 1 else 1.0
    weight = importance.sum(0) / total
    completeness = float((weight * _entropy_terms(importance.T, codes)).sum()) if codes > 1 else 1.0
    return disentanglement, completeness


def _fit_factor(codes, labels, test_codes, test_labels, random_state: int) -> tuple[np.ndarray, float, float]:
    """One factor's gradient-boosting classifier: (|feature importances|, train accuracy, test accuracy)."""
    clf = GradientBoostingClassifier(random_state=random_state).fit(codes, labels)
    return np.abs(clf.feature_importances_), clf.score(codes, labels), clf.score(test_codes, test_labels)


def default_workers(factors: int) -> int:
    """Threads for DCI: the cores this process may use, at most one a factor."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(factors, cores))


def dci(space, represent, rng, num_train=10000, num_test=5000, workers: int | None = None) -> dict:
    """One gradient-boosting classifier per factor on all codes; R = |feature_importances_|.
    Each classifier's random_state (tie-breaking between equal splits; disentanglement_lib leaves it
    to numpy's global RNG) is drawn from rng, so the scores do not depend on `workers`, the threads
    that fit the factors side by side (tree building releases the GIL; None: default_workers)."""
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    codes, factors = sample_codes(space, represent, num_train, rng)
    test_codes, test_factors = sample_codes(space, represent, num_test, rng)
    count = factors.shape[1]
    states = rng.integers(2**31 - 1, size=count)
    # a factor of k classes grows k trees a stage (one if binary): the longest go first, so no thread ends up alone
    longest_first = sorted(range(count), key=lambda j: -len(np.unique(factors[:, j])))
    with ThreadPoolExecutor(max_workers=workers or default_workers(count)) as pool:
        futures = {j: pool.submit(_fit_factor, codes, factors[:, j], test_codes, test_factors[:, j], int(states[j]))
                   for j in longest_first}
        fitted = [futures[j].result() for j in range(count)]
    importance = np.stack([f[0] for f in fitted], axis=1)
    d, c = dci_from_importance(importance)
    return {"dci_disentanglement": d, "dci_completeness": c,
            "dci_informativeness_train": float(np.mean([f[1] for f in fitted])),
            "dci_informativeness_test": float(np.mean([f[2] for f in fitted]))}


def sap(space, represent, rng, num_train=10000, num_test=5000, continuous_factors=False) -> dict:
    """Mean over factors of the gap between the two codes that predict it best on their own."""
    codes, factors = sample_codes(space, represent, num_train, rng)
    test_codes, test_factors = sample_codes(space, represent, num_test, rng)
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        for j in range(factors.shape[1]):
            if continuous_factors:
                scores[i, j] = squared_correlation(codes[:, i], factors[:, j])
            else:
                clf = LinearSVC(C=0.01, class_weight="balanced").fit(codes[:, i : i + 1], factors[:, j])
                scores[i, j] = np.mean(clf.predict(test_codes[:, i : i + 1]) == test_factors[:, j])
    return {"sap": sap_from_scores(scores)}


def squared_correlation(z: np.ndarray, y: np.ndarray) -> float:
    """cov(z, y)^2 / (var z var y) (ddof 1); 0 for a code with variance <= 1e-12."""
    cov = np.cov(z, y, ddof=1)
    return float(cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])) if cov[0, 0] > 1e-12 else 0.0


def sap_from_scores(scores: np.ndarray) -> float:
    """Mean over factors (columns) of the largest minus the second largest score over codes (rows)."""
    top = np.sort(scores, axis=0)[::-1]
    return float((top[0] - top[1]).mean())
