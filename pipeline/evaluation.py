"""Scoring against ground truth: instance segmentation and point detection.

Used by the benchmarks in ``bench/`` and available to users who validate
NodeScope on their own annotated images.

References
----------
.. [1] Kumar N et al. A dataset and a technique for generalized nuclear segmentation
       for computational pathology (MoNuSeg; aggregated Jaccard index).
       IEEE TMI 36(7), 2017.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

__all__ = ["overlap_table", "object_f1", "aggregated_jaccard_index", "match_points"]


def _check_labels(a, name):
    a = np.asarray(a)
    if a.ndim != 2 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be a 2-D integer label image, got {a.shape} {a.dtype}")
    return a


def overlap_table(truth, pred):
    """Pixel counts of every (truth label, predicted label) overlap.

    Returns
    -------
    inter : dict[(int, int), int]
        Overlap areas of label pairs (both > 0).
    area_t, area_p : ndarray
        Areas of the truth and predicted labels, indexed by label.
    """
    truth = _check_labels(truth, "truth")
    pred = _check_labels(pred, "pred")
    if truth.shape != pred.shape:
        raise ValueError(f"truth {truth.shape} and pred {pred.shape} must have the same shape")
    t, p = truth.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    area_t = np.bincount(t)
    area_p = np.bincount(p)
    both = (t > 0) & (p > 0)
    keys = t[both] * (p.max() + 1) + p[both]
    uniq, counts = np.unique(keys, return_counts=True)
    inter = {(int(k // (p.max() + 1)), int(k % (p.max() + 1))): int(c) for k, c in zip(uniq, counts)}
    return inter, area_t, area_p


def object_f1(truth, pred, *, iou=0.5):
    """Object-level precision, recall and F1 at an IoU threshold.

    A predicted object matches a true one when their intersection over union is
    at least ``iou`` (for ``iou >= 0.5`` matches are unique).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((10, 10), int); t[1:5, 1:5] = 1; t[6:9, 6:9] = 2
    >>> p = np.zeros((10, 10), int); p[1:5, 1:4] = 7
    >>> object_f1(t, p)["f1"]
    0.6666666666666666
    """
    inter, area_t, area_p = overlap_table(truth, pred)
    n_t = int((area_t[1:] > 0).sum())
    n_p = int((area_p[1:] > 0).sum())
    pairs = []
    for (i, j), a in inter.items():
        union = area_t[i] + area_p[j] - a
        if a / union >= iou:
            pairs.append((i, j))
    if iou < 0.5 and pairs:  # matches are not unique below 0.5: assign one-to-one
        ti = sorted({i for i, _ in pairs})
        pj = sorted({j for _, j in pairs})
        cost = np.zeros((len(ti), len(pj)))
        for i, j in pairs:
            a = inter[(i, j)]
            cost[ti.index(i), pj.index(j)] = -a / (area_t[i] + area_p[j] - a)
        r, c = linear_sum_assignment(cost)
        tp = int((cost[r, c] < 0).sum())
    else:
        tp = len(pairs)
    fp, fn = n_p - tp, n_t - tp
    precision = tp / n_p if n_p else 1.0 if n_t == 0 else 0.0
    recall = tp / n_t if n_t else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def aggregated_jaccard_index(truth, pred):
    """Aggregated Jaccard index (AJI) of Kumar et al. (2017).

    For each true object, the predicted object with the highest IoU is taken;
    intersections and unions are summed; unmatched predictions add their area to
    the union.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((4, 4), int); t[:2, :2] = 1
    >>> aggregated_jaccard_index(t, t)
    1.0
    """
    inter, area_t, area_p = overlap_table(truth, pred)
    best = {}
    for (i, j), a in inter.items():
        iou = a / (area_t[i] + area_p[j] - a)
        if i not in best or iou > best[i][0]:
            best[i] = (iou, j, a)
    used = set()
    total_i = total_u = 0
    for i in np.nonzero(area_t[1:])[0] + 1:
        if i in best:
            _, j, a = best[i]
            total_i += a
            total_u += area_t[i] + area_p[j] - a
            used.add(j)
        else:
            total_u += area_t[i]
    for j in np.nonzero(area_p[1:])[0] + 1:
        if j not in used:
            total_u += area_p[j]
    return float(total_i / total_u) if total_u else 1.0


def match_points(truth_yx, pred_yx, *, max_distance):
    """One-to-one matching of detected points to true points within a distance.

    The closest pairs are matched first (greedy), each point at most once.

    Parameters
    ----------
    truth_yx, pred_yx : (N, 2), (M, 2) array_like
        Coordinates (same units, e.g. µm).
    max_distance : float, keyword-only
        Largest distance of a match.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn`` and ``pairs``
        ((K, 2) int array of matched truth and prediction indices).

    Examples
    --------
    >>> match_points([[0, 0], [10, 10]], [[0.5, 0], [50, 50]], max_distance=2)["tp"]
    1
    """
    t = np.asarray(truth_yx, float).reshape(-1, 2)
    p = np.asarray(pred_yx, float).reshape(-1, 2)
    pairs = np.zeros((0, 2), int)
    if len(t) and len(p):
        tree = cKDTree(p)
        cand = tree.query_ball_point(t, r=max_distance)
        rows, cols, dists = [], [], []
        for i, js in enumerate(cand):
            for j in js:
                rows.append(i)
                cols.append(j)
                dists.append(np.hypot(*(t[i] - p[j])))
        # greedy: closest pairs first, each point used once
        used_t, used_p, out = set(), set(), []
        for k in np.argsort(dists, kind="stable"):
            if rows[k] not in used_t and cols[k] not in used_p:
                used_t.add(rows[k])
                used_p.add(cols[k])
                out.append((rows[k], cols[k]))
        pairs = np.asarray(out, int).reshape(-1, 2)
    tp = len(pairs)
    fp, fn = len(p) - tp, len(t) - tp
    precision = tp / len(p) if len(p) else 1.0 if len(t) == 0 else 0.0
    recall = tp / len(t) if len(t) else 1.0
    f1 = 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 1.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "pairs": pairs}
