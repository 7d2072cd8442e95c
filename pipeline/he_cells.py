"""H&E tumour cells: each nucleus in its context, and the learned nucleus-level model.

A nucleus is described by (1) the tissue-level tumour probability around it
(``tumour_context``, from :func:`pipeline.heatmap.tumour_map`), (2) its own size,
shape, chromatin and surrounding eosin, in µm and optical density, with the stain
intensities also relative to the image's own nuclei (so no lymphocyte population
is needed: a field that is all carcinoma works), and (3) its neighbourhood (how
many nuclei within 20 µm, how large its nearest neighbours are: carcinoma nuclei
sit among large nuclei, lymphocytes among small ones). The tumour map finds
the tumour; a gradient-boosted tree model (LightGBM) of the nucleus' own
appearance gates which nuclei in it are carcinoma cells (:class:`HeCellModel`).

:class:`HeCellModel` is the model file: the shipped one
(``pipeline/models/he_cell_model.json``, model card beside it) or one a user
trained on their own slides (:func:`pipeline.training.train_he_model`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .parallel import default_threads
from .spatial import query_workers

__all__ = [
    "HE_CELL_FEATURES",
    "GATE_FEATURES",
    "he_cell_features",
    "correction_inputs",
    "logit",
    "HeCellModel",
    "OnnxGate",
    "gate_to_onnx",
    "load_he_cell_model",
    "DEFAULT_HE_CELL_MODEL",
    "MODEL_FORMAT",
]

#: The shipped nucleus-level model.
DEFAULT_HE_CELL_MODEL = Path(__file__).resolve().parent / "models" / "he_cell_model.json"

#: Format tag of a model file (checked on loading).
MODEL_FORMAT = "nodescope-he-cell-model/2"

#: Features of :func:`he_cell_features`, in order.
HE_CELL_FEATURES = (
    "tumour_context",      # tissue-level tumour probability at the nucleus (0-1)
    "context_max",         # highest tumour probability within one map step (0-1)
    "diameter_um",         # equivalent nuclear diameter, µm
    "minor_axis_um",       # nuclear width, µm
    "elongation",          # major / minor axis
    "solidity",            # area / convex hull area
    "hematoxylin",         # mean haematoxylin OD of the nucleus
    "hematoxylin_rel",     # ... over the median nucleus of the image
    "chromatin_cv",        # haematoxylin std / mean (texture)
    "eosin_ring_rel",      # eosin OD around the nucleus over the image's median
    "neighbours_20um",     # nuclei whose centres lie within 20 µm
    "neighbour_diameter_um",  # mean diameter of the 6 nearest nuclei, µm
    "neighbour_small_fraction",  # of those, the fraction smaller than 7 µm (lymphocyte-sized)
    "nearest_um",          # distance to the nearest nucleus centre, µm
)

_NEIGHBOURS = 6
_QUERY_BLOCK = 1 << 17  # nuclei per neighbour query (~20 MB of (block, k) arrays)
_SMALL_UM = 7.0


def _need(nuclei, cols):
    if not isinstance(nuclei, pd.DataFrame):
        raise TypeError(f"nuclei must be a pandas DataFrame, got {type(nuclei).__name__}")
    missing = [c for c in cols if c not in nuclei.columns]
    if missing:
        raise ValueError(f"nuclei is missing column(s) {missing}; find them with pipeline.find_nuclei "
                         "(H&E: it adds tumour_context from the tumour map)")


def he_cell_features(nuclei) -> pd.DataFrame:
    """The features of every nucleus for the H&E tumour-cell model.

    Parameters
    ----------
    nuclei : pandas.DataFrame
        From :func:`pipeline.find_nuclei` on an H&E image (with ``tumour_context``
        and ``tumour_context_max``; without the latter, ``tumour_context`` stands in).
        Not modified.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`HE_CELL_FEATURES`, one row per nucleus, same index.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"y_um": [0.0, 8.0, 100.0], "x_um": [0.0, 0.0, 0.0],
    ...                   "equivalent_diameter_um": [6.5, 6.5, 12.0], "minor_axis_um": [6.0, 6.0, 10.0],
    ...                   "major_axis_um": [7.0, 7.0, 14.0], "solidity": [0.97, 0.97, 0.95],
    ...                   "hematoxylin_mean": [1.0, 1.0, 0.6], "hematoxylin_std": [0.2, 0.2, 0.15],
    ...                   "counterstain_ring": [0.1, 0.1, 0.3], "tumour_context": [0.1, 0.1, 0.9]})
    >>> f = he_cell_features(t)
    >>> f["neighbours_20um"].tolist(), f["hematoxylin_rel"].round(2).tolist()
    ([1, 1, 0], [1.0, 1.0, 0.6])
    """
    _need(nuclei, ["y_um", "x_um", "equivalent_diameter_um", "minor_axis_um", "major_axis_um", "solidity",
                   "hematoxylin_mean", "hematoxylin_std", "counterstain_ring", "tumour_context"])
    n = len(nuclei)
    yx = nuclei[["y_um", "x_um"]].to_numpy(float)
    d = nuclei["equivalent_diameter_um"].to_numpy(float)
    h = nuclei["hematoxylin_mean"].to_numpy(float)
    ring = nuclei["counterstain_ring"].to_numpy(float)
    context = nuclei["tumour_context"].to_numpy(float)
    h_med = float(np.median(h)) if n else 1.0
    ring_med = float(np.median(ring)) if n else 1.0
    count = np.zeros(n, np.int64)
    nbr_d = np.full(n, np.nan)
    small = np.full(n, np.nan)
    nearest = np.full(n, np.nan)
    if n > 1:
        tree = cKDTree(yx)
        workers = query_workers(n)
        count = tree.query_ball_point(yx, 20.0, return_length=True, workers=workers).astype(np.int64) - 1
        k = min(_NEIGHBOURS + 1, n)
        # the k nearest neighbours of a block of nuclei at a time: a whole slide's millions of
        # nuclei would otherwise need several (n, k) arrays at once
        for start in range(0, n, _QUERY_BLOCK):
            stop = min(n, start + _QUERY_BLOCK)
            dist, idx = tree.query(yx[start:stop], k=k, workers=workers)
            nearest[start:stop] = dist[:, 1]
            nbr = d[idx[:, 1:]]
            nbr_d[start:stop] = nbr.mean(1)
            small[start:stop] = (nbr < _SMALL_UM).mean(1)
    major = nuclei["major_axis_um"].to_numpy(float)
    minor = nuclei["minor_axis_um"].to_numpy(float)
    out = pd.DataFrame({
        "tumour_context": context,
        "context_max": nuclei["tumour_context_max"].to_numpy(float) if "tumour_context_max" in nuclei
        else context,
        "diameter_um": d,
        "minor_axis_um": minor,
        "elongation": major / np.maximum(minor, 1e-6),
        "solidity": nuclei["solidity"].to_numpy(float),
        "hematoxylin": h,
        "hematoxylin_rel": h / max(h_med, 1e-6),
        "chromatin_cv": nuclei["hematoxylin_std"].to_numpy(float) / np.maximum(h, 1e-6),
        "eosin_ring_rel": ring / max(ring_med, 1e-6),
        "neighbours_20um": count,
        "neighbour_diameter_um": nbr_d,
        "neighbour_small_fraction": small,
        "nearest_um": nearest,
    }, index=nuclei.index)
    return out


#: Features of the nucleus-appearance gate (everything but the tumour map).
GATE_FEATURES = tuple(f for f in HE_CELL_FEATURES if f not in ("tumour_context", "context_max", "hematoxylin"))


def logit(p):
    """Log-odds of probabilities (clipped to [1e-6, 1 - 1e-6]).

    Examples
    --------
    >>> float(logit(0.5))
    0.0
    """
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass(frozen=True, eq=False)
class HeCellModel:
    """The nucleus-level H&E tumour-cell model and what it was trained for.

    A nucleus' tumour probability is the tissue-level tumour probability around
    it (``tumour_context``, from the tumour map), discounted when the nucleus
    itself does not look like a carcinoma cell:
    ``p = tumour_context * min(1, g / gate_threshold)``, where ``g`` comes from
    a gradient-boosted tree model (LightGBM) of the nucleus' size, shape,
    chromatin, eosin and neighbourhood (:data:`GATE_FEATURES`). The map finds
    the tumour; the gate keeps lymphocytes, stroma and histiocytes inside and
    beside it out of the deposits. A model fine-tuned on a user's labels adds
    correction trees on the log-odds of that probability (``corrections``).

    Attributes
    ----------
    gate : lightgbm.Booster
    gate_threshold : float
        ``g`` at or above which a nucleus keeps the map's probability undiscounted.
    threshold : float
        Default operating point: a nucleus is a tumour cell (a candidate) at this
        probability or above.
    seed_threshold : float
        A deposit of candidate cells counts only when ``seed_cells`` of its cells
        reach this probability (hysteresis: it sets the specificity, ``threshold``
        how far a deposit reaches).
    seed_cells : int
        How many cells of a deposit must reach ``seed_threshold`` (1 in model files
        that do not say).
    corrections : tuple of lightgbm.Booster
        Fine-tunes (each on :data:`HE_CELL_FEATURES` plus the previous probability).
    meta : dict
        Training data, metrics, input pixel-size range, versions (the model card's figures).
    path : pathlib.Path or None
    """

    gate: object = field(repr=False)
    gate_threshold: float
    threshold: float
    seed_threshold: float
    seed_cells: int = 1
    corrections: tuple = field(default=(), repr=False)
    meta: dict = field(default_factory=dict, repr=False)
    path: Path | None = None

    features = HE_CELL_FEATURES

    def base_probability(self, features: pd.DataFrame) -> np.ndarray:
        """The shipped rule: map probability discounted by the appearance gate."""
        x = features[list(GATE_FEATURES)].to_numpy(np.float64)
        threads = 1 if len(x) < 20_000 else 0  # small tables: threads only add contention
        g = np.asarray(self.gate.predict(x, num_threads=threads), float)
        return features["tumour_context"].to_numpy(float) * np.minimum(1.0, g / self.gate_threshold)

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        """Tumour probability of each row of :func:`he_cell_features`."""
        missing = [f for f in HE_CELL_FEATURES if f not in features.columns]
        if missing:
            raise ValueError(f"features is missing column(s) {missing} required by the model")
        if not len(features):
            return np.zeros(0)
        p = self.base_probability(features)
        for booster in self.corrections:
            x = correction_inputs(features, p)
            p = 1.0 / (1.0 + np.exp(-(logit(p) + booster.predict(x, raw_score=True, num_threads=1))))
        return p

    @property
    def digest(self) -> str:
        """SHA-256 of the trees and thresholds (identifies the model in results)."""
        h = hashlib.sha256(self.gate.model_to_string().encode())
        h.update(f"{self.gate_threshold}:{self.threshold}:{self.seed_threshold}".encode())
        if self.seed_cells != 1:  # models of one seed cell keep the digest they had before
            h.update(f":{self.seed_cells}".encode())
        for b in self.corrections:
            h.update(b.model_to_string().encode())
        return h.hexdigest()[:16]

    def replace(self, **changes) -> HeCellModel:
        import dataclasses

        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = {"format": MODEL_FORMAT, "threshold": float(self.threshold),
               "seed_threshold": float(self.seed_threshold), "seed_cells": int(self.seed_cells),
               "gate_threshold": float(self.gate_threshold), "gate_features": list(GATE_FEATURES),
               "meta": self.meta, "gate": self.gate.model_to_string(),
               "corrections": [b.model_to_string() for b in self.corrections]}
        onnx_bytes = getattr(self.gate, "onnx_bytes", None)
        if onnx_bytes is not None:
            out["gate_onnx"] = base64.b64encode(onnx_bytes).decode("ascii")
        return out

    def save(self, path) -> Path:
        """Write the model as one JSON file (atomically)."""
        from .export import atomic_write

        path = Path(path)
        with atomic_write(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")
        return path


def correction_inputs(features: pd.DataFrame, probability) -> np.ndarray:
    """Inputs of a fine-tune's correction trees: the features and the current log-odds."""
    x = features[list(HE_CELL_FEATURES)].to_numpy(np.float64)
    return np.column_stack([x, logit(probability)])


#: Fewest rows per block when the gate runs on several threads.
_GATE_BLOCK_MIN = 10_000


class OnnxGate:
    """A LightGBM binary gate run through ONNX Runtime (no LightGBM import at analysis time).

    ``predict`` returns the same probabilities as the LightGBM booster it was converted
    from (:func:`gate_to_onnx`; float32 inputs, differences < 1e-6 on the shipped
    gate); ``model_to_string`` returns that booster's text, which stays the model's
    identity (:attr:`HeCellModel.digest`).
    """

    def __init__(self, text: str, onnx_bytes: bytes):
        import onnxruntime as ort

        self._text = text
        self.onnx_bytes = bytes(onnx_bytes)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.enable_cpu_mem_arena = False
        self._session = ort.InferenceSession(self.onnx_bytes, sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def predict(self, x, num_threads=None):
        """Tumour-gate probability of each row of ``x``; ``num_threads`` > 1 or 0 (the cores
        available, at most 4) runs blocks of rows side by side, each on one thread (the same
        values: rows are independent)."""
        x = np.asarray(x, np.float32)
        n = int(num_threads) if num_threads else 0
        if n == 0:
            n = default_threads()
        n = max(1, min(n, len(x) // _GATE_BLOCK_MIN))
        if n == 1:
            return self._run(x)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n) as pool:
            return np.concatenate(list(pool.map(self._run, np.array_split(x, n))))

    def _run(self, x):
        out = self._session.run(["probabilities"], {self._input: x})[0]
        return np.asarray(out[:, 1], np.float64)

    def model_to_string(self) -> str:
        return self._text


def gate_to_onnx(booster) -> OnnxGate:
    """Convert a trained LightGBM gate to an :class:`OnnxGate` (needs ``onnxmltools``:
    ``pip install ".[train]"``)."""
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    onx = convert_lightgbm(booster, initial_types=[("x", FloatTensorType([None, booster.num_feature()]))],
                           zipmap=False, target_opset=15)
    return OnnxGate(booster.model_to_string(), onx.SerializeToString())


def _from_text(text: str, path) -> HeCellModel:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not a NodeScope H&E model (not JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise ValueError(f"{path}: not a NodeScope H&E model (format {found!r}, expected {MODEL_FORMAT!r}); "
                         "train one with `nodescope train`")
    if tuple(data.get("gate_features", ())) != GATE_FEATURES:
        raise ValueError(f"{path}: the model's gate uses features {data.get('gate_features')}, "
                         f"this NodeScope computes {list(GATE_FEATURES)}")
    # the gate runs through ONNX Runtime when the file carries its conversion; LightGBM
    # (whose import pulls scikit-learn, ~1 s) only for unconverted gates and fine-tunes
    if data.get("gate_onnx"):
        gate = OnnxGate(data["gate"], base64.b64decode(data["gate_onnx"]))
    else:
        import lightgbm as lgb

        gate = lgb.Booster(model_str=data["gate"])
    corrections = ()
    if data.get("corrections"):
        import lightgbm as lgb

        corrections = tuple(lgb.Booster(model_str=t) for t in data["corrections"])
    return HeCellModel(gate=gate, gate_threshold=float(data["gate_threshold"]),
                       threshold=float(data["threshold"]), seed_threshold=float(data["seed_threshold"]),
                       seed_cells=_seed_cells(data.get("seed_cells", 1), path), corrections=corrections,
                       meta=data.get("meta", {}), path=Path(path) if path else None)


def _seed_cells(value, path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{path}: seed_cells must be a whole number >= 1, got {value!r}")
    return value


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> HeCellModel:
    return _from_text(Path(path).read_text(encoding="utf-8"), path)


def load_he_cell_model(path=None) -> HeCellModel:
    """Load an H&E tumour-cell model file (default: the shipped one); cached per file version.

    Raises
    ------
    FileNotFoundError, ValueError
        For a missing file or one that is not a NodeScope H&E model.
    """
    p = Path(path) if path is not None else DEFAULT_HE_CELL_MODEL
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such model file")
    return _load(str(p.resolve()), p.stat().st_mtime)
