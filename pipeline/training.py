"""Train your own H&E tumour-cell model from labelled images (QuPath, CSV or NodeScope reviews).

:func:`train_he_model` finds the nuclei of each image with the analysis' own stage
(:func:`pipeline.find_nuclei`, which also computes the shipped tissue-level tumour
map), gives each label to its nucleus (a point to the nearest nucleus within
``match_um``, a polygon to every nucleus inside), and fine-tunes the shipped
nucleus-level model (or another one, ``base``) on them: LightGBM continues
boosting from the base model's trees, so a few hundred labels adapt it to a
centre's staining and tissue without forgetting what it learned from
PatchCamelyon. Cross-validation on the user's labels (by image when there are
several) reports how well the new model and the base model do on them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ._validate import check_positive
from .labels import Labels, read_labels

__all__ = ["TrainingReport", "label_nuclei", "train_he_model", "MIN_LABELS_PER_CLASS"]

#: Fewest labelled nuclei of each class (tumour, other) a training run accepts.
MIN_LABELS_PER_CLASS = 20

# extra boosting rounds of a fine-tune, and their learning rate
_ROUNDS, _LEARNING_RATE = 60, 0.05


@dataclass(frozen=True, eq=False)
class TrainingReport:
    """What :func:`train_he_model` did.

    Attributes
    ----------
    model : pipeline.he_cells.HeCellModel
        The new model (save it with ``model.save(path)``).
    counts : dict
        Labelled nuclei per class (``tumour``, ``other``) and per image.
    cv : dict
        Cross-validated AUC and accuracy (at the model's threshold) of the new
        model on the user's labels, the base model's on the same labels, and the folds.
    warnings : list of str
    seconds : float
    """

    model: object = field(repr=False)
    counts: dict
    cv: dict
    warnings: list
    seconds: float


def label_nuclei(nuclei: pd.DataFrame, labels: Labels, *, match_um=8.0, image_shape_um=None):
    """Which nuclei the labels name, and their class.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        With ``y_um``, ``x_um`` (µm).
    labels : Labels
    match_um : float, keyword-only
        A point labels the nearest nucleus whose centre lies within this distance.
    image_shape_um : (float, float), optional, keyword-only
        Height and width of the image in µm; labels outside it raise.

    Returns
    -------
    index : (K,) int ndarray
        Row positions in ``nuclei``.
    tumour : (K,) bool ndarray
    unmatched : int
        Points with no nucleus within ``match_um``.

    Raises
    ------
    ValueError
        For labels outside the image.
    """
    from scipy.spatial import cKDTree
    from skimage.measure import points_in_poly

    match = check_positive(match_um, name="match_um")
    yx = nuclei[["y_um", "x_um"]].to_numpy(float)
    pts = labels.points[["y_um", "x_um"]].to_numpy(float)
    if image_shape_um is not None:
        h, w = image_shape_um
        outside = (pts[:, 0] < 0) | (pts[:, 1] < 0) | (pts[:, 0] > h) | (pts[:, 1] > w)
        for poly, _ in labels.polygons:
            if poly[:, 0].max() < 0 or poly[:, 1].max() < 0 or poly[:, 0].min() > h or poly[:, 1].min() > w:
                raise ValueError(f"{Path(labels.source).name}: a polygon lies outside the image "
                                 f"({h:.0f} x {w:.0f} µm): wrong image or wrong pixel size?")
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValueError(f"{Path(labels.source).name}: {int(outside.sum())} label point(s) outside the image "
                             f"({h:.0f} x {w:.0f} µm), e.g. at x {pts[i, 1]:.0f}, y {pts[i, 0]:.0f} µm: "
                             "wrong image or wrong pixel size?")
    votes: dict[int, set] = {}
    unmatched = 0
    if len(pts) and len(yx):
        dist, idx = cKDTree(yx).query(pts)
        for d, i, t in zip(dist, idx, labels.points["tumour"].to_numpy(bool)):
            if d <= match:
                votes.setdefault(int(i), set()).add(bool(t))
            else:
                unmatched += 1
    else:
        unmatched += len(pts)
    for poly, tumour in labels.polygons:
        inside = np.flatnonzero(points_in_poly(yx, poly)) if len(yx) else []
        for i in inside:
            votes.setdefault(int(i), set()).add(bool(tumour))
    index = np.array(sorted(i for i, v in votes.items() if len(v) == 1), dtype=np.int64)
    tumour = np.array([next(iter(votes[i])) for i in index], dtype=bool)
    return index, tumour, unmatched


def labelled_features(image, labels, *, pixel_size_um, match_um=8.0, workers=None, image_name=None):
    """Features (:data:`pipeline.he_cells.HE_CELL_FEATURES`) and class of an image's labelled nuclei.

    Parameters
    ----------
    image : (M, N, 3) uint8 ndarray
        An H&E image. Not modified.
    labels : Labels or sequence of Labels
    pixel_size_um : float, keyword-only
    match_um : float, keyword-only
        See :func:`label_nuclei`.
    image_name : str, optional, keyword-only
        Recorded in the ``image`` column (cross-validation groups by it).

    Returns
    -------
    table : pandas.DataFrame
        One row per labelled nucleus: the features, ``label`` (1 tumour, 0 other), ``image``.
    warnings : list of str

    Raises
    ------
    ValueError
        For an image that is not H&E or labels outside it.
    """
    from .detection import find_nuclei
    from .he_cells import he_cell_features
    from .options import AnalysisOptions

    found = find_nuclei(image, pixel_size_um=pixel_size_um, options=AnalysisOptions(stain="he"), workers=workers)
    name = image_name or "image"
    if not len(found.nuclei):
        raise ValueError(f"{name}: no nuclei found (no tissue, or the pixel size is wrong)")
    shape_um = (found.shape[0] * found.pixel_size_um, found.shape[1] * found.pixel_size_um)
    feats_all = he_cell_features(found.nuclei)
    parts, warnings = [], []
    for lab in ([labels] if isinstance(labels, Labels) else list(labels)):
        index, tumour, unmatched = label_nuclei(found.nuclei, lab, match_um=match_um, image_shape_um=shape_um)
        if unmatched:
            warnings.append(f"{Path(lab.source).name}: {unmatched} point(s) had no nucleus within "
                            f"{match_um:g} µm and were left out")
        parts.append(feats_all.iloc[index].reset_index(drop=True).assign(label=tumour.astype(int), image=name))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return table, warnings


def _pair(images, labels):
    """Each image's label files: by stem, or by the ``image`` column of a CSV."""
    files = []
    for item in labels:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix.lower() in (".geojson", ".json", ".csv")))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such label file or folder")
    return files


def _fit(base, features: pd.DataFrame, y, *, seed):
    """A copy of ``base`` with correction trees fitted to the labels: boosting starts
    from the base model's own log-odds (``init_score``), so it only learns what the
    labels say the base model gets wrong."""
    import lightgbm as lgb

    from .he_cells import correction_inputs, logit

    p0 = base.probability(features)
    params = dict(objective="binary", learning_rate=_LEARNING_RATE, num_leaves=7, min_data_in_leaf=5,
                  feature_fraction=0.9, lambda_l2=1.0, seed=seed, deterministic=True, force_row_wise=True,
                  num_threads=1, verbose=-1)  # a few hundred rows: threads only add contention
    data = lgb.Dataset(correction_inputs(features, p0), np.asarray(y), init_score=logit(p0), free_raw_data=False)
    booster = lgb.train(params, data, num_boost_round=_ROUNDS)
    return base.replace(corrections=tuple(base.corrections) + (booster,))


def _auc(y, s) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s)) if len(set(np.asarray(y).tolist())) == 2 else float("nan")


def train_he_model(images, labels, *, pixel_size_um=None, base=None, class_map=None, match_um=8.0,
                   min_per_class=MIN_LABELS_PER_CLASS, folds=5, seed=0, workers=None) -> TrainingReport:
    """Fine-tune the H&E tumour-cell model on labelled images.

    Parameters
    ----------
    images : sequence of path-like
        H&E images (any format :func:`pipeline.io.read_image` reads).
    labels : sequence of path-like
        Label files or folders of them (:func:`pipeline.labels.read_labels`): a
        file belongs to the image with the same stem (``node1.tif`` -
        ``node1.geojson``), or names its image in an ``image`` column (CSV).
    pixel_size_um : float, optional, keyword-only
        Overrides the images' pixel size.
    base : path-like or HeCellModel, optional, keyword-only
        The model to start from (default: the shipped one).
    class_map : dict, optional, keyword-only
        Extra class names, e.g. ``{"Tumor budding": "tumour"}``.
    match_um : float, keyword-only
        A point labels the nearest nucleus within this distance, µm.
    min_per_class : int, keyword-only
        Fewest labelled nuclei of each class (default :data:`MIN_LABELS_PER_CLASS`).
    folds : int, keyword-only
        Cross-validation folds (by image when there are at least this many images).
    seed : int, keyword-only

    Returns
    -------
    TrainingReport

    Raises
    ------
    ValueError
        For unknown classes, labels outside an image, an image without labels,
        or fewer than ``min_per_class`` labelled nuclei of a class.
    """
    from .he_cells import HeCellModel, load_he_cell_model
    from .io import read_image, read_pixel_size

    t0 = time.perf_counter()
    base_model = base if isinstance(base, HeCellModel) else load_he_cell_model(base)
    images = [Path(p) for p in images]
    if not images:
        raise ValueError("no images to train on")
    files = _pair(images, labels)
    tables, warnings, sizes = [], [], []
    for path in images:
        mine = [f for f in files if f.stem == path.stem or f.stem == path.name]
        per_csv = [f for f in files if f.suffix.lower() == ".csv" and f not in mine]
        found: list[Labels] = []
        # the pixel size first: GeoJSON labels are in pixels
        px = pixel_size_um if pixel_size_um is not None else read_pixel_size(path)[0]
        for f in mine:
            found.extend(read_labels(f, pixel_size_um=px, class_map=class_map))
        for f in per_csv:
            found.extend(lab for lab in read_labels(f, pixel_size_um=px, class_map=class_map)
                         if lab.image in (path.name, path.stem))
        if not found:
            raise ValueError(f"{path.name}: no labels found for this image (name the label file "
                             f"{path.stem}.geojson / {path.stem}.csv, or list it in a CSV's image column)")
        rgb, px_used, _ = read_image(path, pixel_size_um=pixel_size_um)
        table, warn = labelled_features(rgb, found, pixel_size_um=px_used, match_um=match_um, workers=workers,
                                        image_name=path.name)
        warnings.extend(warn)
        sizes.append(px_used)
        tables.append(table)
    report = fit_he_model(pd.concat(tables, ignore_index=True), base=base_model, min_per_class=min_per_class,
                          folds=folds, seed=seed, pixel_sizes={p.name: s for p, s in zip(images, sizes)})
    return TrainingReport(model=report.model, counts=report.counts, cv=report.cv,
                          warnings=warnings + report.warnings, seconds=round(time.perf_counter() - t0, 2))


def fit_he_model(data, *, base=None, min_per_class=MIN_LABELS_PER_CLASS, folds=5, seed=0,
                 pixel_sizes=None) -> TrainingReport:
    """Fine-tune a model on a table of labelled nuclei (from :func:`labelled_features`).

    Parameters
    ----------
    data : pandas.DataFrame
        The features, ``label`` and ``image`` of labelled nuclei (several images concatenated).
    base : path-like or HeCellModel, optional, keyword-only
        The model to start from (default: the shipped one).
    min_per_class, folds, seed
        As :func:`train_he_model`.
    pixel_sizes : dict, optional, keyword-only
        µm per pixel of each image, checked against the model's range.

    Returns
    -------
    TrainingReport
    """
    from .he_cells import HE_CELL_FEATURES, HeCellModel, load_he_cell_model

    t0 = time.perf_counter()
    base_model = base if isinstance(base, HeCellModel) else load_he_cell_model(base)
    warnings = []
    sizes = dict(pixel_sizes or {})
    if not isinstance(data, pd.DataFrame) or not len(data) or "label" not in data:
        raise ValueError(f"no labelled nuclei: the labels matched no nucleus; at least {int(min_per_class)} of "
                         "each class are needed (check the pixel size and that the labels sit on nuclei)")
    lo, hi = base_model.meta.get("input_pixel_size_um", [0.25, 1.0])
    for name, px in sizes.items():
        if px < lo / 1.5 or px > hi * 1.5:
            warnings.append(f"{name}: {px:g} µm/px is far from the model's {lo:g}-{hi:g} µm/px; "
                            "is the pixel size right?")
    counts = {"tumour": int(data["label"].sum()), "other": int((data["label"] == 0).sum()),
              "images": {name: {"tumour": int(g["label"].sum()), "other": int((g["label"] == 0).sum())}
                         for name, g in data.groupby("image")}}
    for cls, n in (("tumour", counts["tumour"]), ("other", counts["other"])):
        if n < int(min_per_class):
            raise ValueError(f"only {n} labelled {cls} nuclei; at least {int(min_per_class)} of each class are "
                             "needed (label more cells, or lower min_per_class / --min-per-class)")
    features = data[list(HE_CELL_FEATURES)].reset_index(drop=True)
    y = data["label"].to_numpy(int)
    cv = _cross_validate(base_model, data.reset_index(drop=True), features, y, folds=folds, seed=seed)
    tuned = _fit(base_model, features, y, seed=seed)
    meta = dict(base_model.meta)
    meta.update(name="he_cell_model (fine-tuned)", base_digest=base_model.digest,
                trained_by="pipeline.training.fit_he_model",
                user_training={"images": sorted(counts["images"]), "counts": counts, "cv": cv,
                               "pixel_sizes_um": {k: round(float(v), 4) for k, v in sizes.items()},
                               "rounds_added": _ROUNDS})
    model = tuned.replace(meta=meta, path=None)
    return TrainingReport(model=model, counts=counts, cv=cv, warnings=warnings,
                          seconds=round(time.perf_counter() - t0, 2))


def _cross_validate(base, data, features, y, *, folds, seed) -> dict:
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    groups = data["image"].to_numpy()
    n_images = len(set(groups))
    k = max(2, min(int(folds), n_images)) if n_images >= 3 else max(2, min(int(folds), int(min(y.sum(), (1 - y).sum()))))
    if n_images >= 3:
        splits = list(GroupKFold(n_splits=k).split(features, y, groups))
        how = f"{k}-fold by image"
    else:
        splits = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(features, y))
        how = f"{k}-fold stratified by nucleus"
    new = np.zeros(len(y))
    for train_idx, test_idx in splits:
        tuned = _fit(base, features.iloc[train_idx], y[train_idx], seed=seed)
        new[test_idx] = tuned.probability(features.iloc[test_idx])
    old = base.probability(features)
    thr = base.threshold
    return {"folds": how, "auc": round(_auc(y, new), 4), "accuracy": round(float(((new >= thr) == y).mean()), 4),
            "base_auc": round(_auc(y, old), 4), "base_accuracy": round(float(((old >= thr) == y).mean()), 4),
            "threshold": float(thr)}
