"""The maximal information coefficient and its family (Reshef et al. 2011, SOM Algorithms 2-5; the
APPROX-MIC estimator as minepy computes it, Albanese et al. 2013).

For n points, B = max(n^alpha, 4). For every grid of x columns and y rows with x y <= B, the
characteristic matrix holds the largest mutual information a grid of that size achieves, over
log min(x, y):

    M[y, x] = max_G I(G) / log min(x, y)
    MIC = max M,   MAS = max |M[y, x] - M[x, y]|,   TIC = sum M   (TIC_norm = mean M)

The maximum over grids is approximated as in the SOM: one axis is equipartitioned into y rows
(Algorithm 3), the other is cut into clumps that never split a run of equal rows, at most c x of
them (superclumps), and a dynamic programme over clump boundaries finds the best x columns
(Algorithm 2). Both orientations are run and the larger score kept.
"""

from __future__ import annotations

import math

import numpy as np


def equipartition(sorted_values: np.ndarray, bins: int) -> tuple[np.ndarray, int]:
    """Algorithm 3: bins of about n / bins consecutive sorted values, equal values never split;
    returns (bin of each value, number of bins used, which can be fewer than asked)."""
    n = len(sorted_values)
    out = np.empty(n, dtype=np.int64)
    target = n / bins
    i = filled = current = 0
    while i < n:
        run = 1
        while i + run < n and sorted_values[i + run] == sorted_values[i]:
            run += 1
        if filled != 0 and abs(filled + run - target) >= abs(filled - target):
            current += 1
            filled = 0
            target = (n - i) / (bins - current)
        out[i : i + run] = current
        i += run
        filled += run
    return out, current + 1


def clumps(sorted_x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Clumps along x (rows in x order): maximal runs of points in the same row; points tied on x
    but in different rows share one clump of their own."""
    labels = rows.copy()
    fresh = -1
    i, n = 0, len(sorted_x)
    while i < n:
        run = 1
        mixed = False
        while i + run < n and sorted_x[i + run] == sorted_x[i]:
            mixed |= labels[i + run] != labels[i]
            run += 1
        if run > 1 and mixed:
            labels[i : i + run] = fresh
            fresh -= 1
        i += run
    return np.concatenate([[0], np.cumsum(labels[1:] != labels[:-1])])


def superclumps(sorted_x: np.ndarray, rows: np.ndarray, most: int) -> np.ndarray:
    """Clumps merged into at most `most` by equipartitioning the clump index."""
    columns = clumps(sorted_x, rows)
    if columns[-1] + 1 > most:
        columns, _ = equipartition(columns.astype(float), most)
    return columns


def _entropy(counts: np.ndarray, total, axis=0) -> np.ndarray:
    """-sum p log p over `axis` of counts / total (0 log 0 = 0); total broadcasts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / total
        terms = np.where(counts > 0, -p * np.log(np.where(counts > 0, p, 1.0)), 0.0)
    return terms.sum(axis)


def optimise_columns(rows: np.ndarray, row_count: int, columns: np.ndarray, most_columns: int) -> np.ndarray:
    """Algorithm 2: for l = 2..most_columns, the best mutual information of l columns made of
    consecutive clumps against the fixed rows, divided by log min(l, row_count)."""
    p = int(columns[-1]) + 1
    if p == 1:
        return np.zeros(most_columns - 1)
    hist = np.zeros((row_count, p))
    np.add.at(hist, (rows, columns), 1)
    cum = np.cumsum(hist, 1)  # cum[r, t-1]: points of row r in the first t clumps
    c = cum.sum(0)  # c[t-1]: points in the first t clumps
    n = c[-1]
    h_rows = _entropy(cum[:, -1], n)
    t = np.arange(1, p + 1)
    # best[t, l] = H(rows) + best F over partitions of the first t clumps into l columns
    best = np.full((p + 1, most_columns + 1), np.nan)
    # two columns: first s clumps | clumps s+1..t, for s = 1..t
    ct = c[t - 1][:, None]
    cs = c[t - 1][None, :]
    split = np.stack([cs.repeat(p, 0), ct - cs])  # (2, t, s) column counts
    h_cols = _entropy(split, ct[None], axis=0)
    joint_left = cum[:, None, :]  # (r, 1, s)
    joint_right = cum[:, :, None] - cum[:, None, :]  # (r, t, s)
    h_joint = _entropy(joint_left, ct[None], axis=0) + _entropy(joint_right, ct[None], axis=0)
    valid = t[None, :] <= t[:, None]  # s <= t
    score = np.where(valid, h_cols - h_joint, -np.inf)
    best[2:, 2] = h_rows + score[1:].max(1)
    # the rows' entropy within clumps s+1..t (s = t gives 0)
    within = _entropy(np.maximum(joint_right, 0), (ct - cs)[None], axis=0)  # (t, s)
    within = np.where(t[None, :] < t[:, None], within, 0.0)
    for l in range(3, min(most_columns, p) + 1):
        prev = best[1:, l - 1]  # over s = 1..p
        f = (cs / ct) * (prev[None, :] - h_rows) - ((ct - cs) / ct) * within
        allowed = valid & (t[None, :] >= l - 1)
        f = np.where(allowed, f, -np.inf)
        best[1 + l - 1 :, l] = h_rows + f[l - 1 :].max(1)  # t = l..p
    top = best[p].copy()
    if p < most_columns:
        top[p + 1 :] = best[p, p]  # more columns than clumps: the best stays that of p columns
    ls = np.arange(2, most_columns + 1)
    return top[2:] / np.minimum(np.log(ls), math.log(row_count))


def _one_orientation(fixed: np.ndarray, fixed_order: np.ndarray, free: np.ndarray, free_order: np.ndarray,
                     sizes: list[int], c: float) -> list[np.ndarray]:
    """For i + 2 equipartitioned parts of `fixed`, the best scores of 2..sizes[i] + 1 parts of `free`."""
    out = []
    for i, m in enumerate(sizes):
        parts_sorted, q = equipartition(fixed[fixed_order], i + 2)
        parts = np.empty(len(fixed), dtype=np.int64)
        parts[fixed_order] = parts_sorted
        parts_by_free = parts[free_order]
        columns = superclumps(free[free_order], parts_by_free, max(int(c * (m + 1)), 1))
        out.append(optimise_columns(parts_by_free, q, columns, m + 1)[:m])
    return out


def characteristic_matrix(x: np.ndarray, y: np.ndarray, alpha: float = 0.6, c: float = 15) -> list[np.ndarray]:
    """M as rows: M[i][j] for i + 2 rows (y) and j + 2 columns (x), j + 2 <= B / (i + 2) - 1 + 1."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got shapes {x.shape} and {y.shape}")
    if not (0 < alpha <= 1) or c <= 0:
        raise ValueError(f"alpha must lie in (0, 1] and c be positive, got alpha={alpha}, c={c}")
    b = max(len(x) ** alpha, 4)
    sizes = [int(math.floor(b / (i + 2))) - 1 for i in range(max(int(math.floor(b / 2)), 2) - 1)]
    ix, iy = np.argsort(x, kind="stable"), np.argsort(y, kind="stable")
    matrix = _one_orientation(y, iy, x, ix, sizes, c)  # i + 2 parts of y, j + 2 of x: cell [i][j]
    for i, scores in enumerate(_one_orientation(x, ix, y, iy, sizes, c)):  # i + 2 of x, j + 2 of y: cell [j][i]
        for j, value in enumerate(scores):
            matrix[j][i] = max(matrix[j][i], value)
    return matrix


def mine_statistics(x: np.ndarray, y: np.ndarray, alpha: float = 0.6, c: float = 15) -> dict[str, float]:
    """MIC, MAS, TIC and TIC normalised by the number of cells (module docstring)."""
    matrix = characteristic_matrix(x, y, alpha, c)
    cells = np.concatenate(matrix)
    mas = max((abs(matrix[i][j] - matrix[j][i]) for i in range(len(matrix)) for j in range(len(matrix[i]))), default=0.0)
    return {"mic": float(cells.max()), "mas": float(mas), "tic": float(cells.sum()), "tic_norm": float(cells.mean())}
