"""Patient-level staging from node summaries (the ``nodescope stage`` command)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .staging import camelyon17_label, patient_pn_stage

__all__ = ["load_summaries", "stage_patients"]

_CAMELYON_NAME = re.compile(r"^(patient_\d+)_node_\d+", re.IGNORECASE)


def load_summaries(inputs) -> pd.DataFrame:
    """Node summaries from ``summary.json`` files or result folders.

    A folder contributes every ``summary.json`` below it. Returns a table with
    ``image`` and ``category`` (and the other summary scalars).

    Raises
    ------
    ValueError
        When an input holds no summary or a summary lacks ``image``/``category``.
    """
    rows = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(path.rglob("summary.json"))
            if not files:
                raise ValueError(f"{path}: no summary.json found in this folder")
        elif path.is_file():
            files = [path]
        else:
            raise ValueError(f"{path}: no such file or folder")
        for f in files:
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"{f}: not a readable summary.json ({exc})") from None
            if not isinstance(data, dict) or "category" not in data or "image" not in data:
                raise ValueError(f"{f}: not a NodeScope summary (needs 'image' and 'category')")
            rows.append({k: v for k, v in data.items() if not isinstance(v, (dict, list))})
    return pd.DataFrame(rows)


def stage_patients(nodes: pd.DataFrame, *, patients=None, sentinel=False) -> pd.DataFrame:
    """One pN stage per patient.

    Parameters
    ----------
    nodes : pandas.DataFrame
        Node summaries with ``image`` and ``category``.
    patients : path-like or DataFrame, optional, keyword-only
        Mapping with columns ``patient`` and ``image`` (file name, with or without
        suffix). Without it, CAMELYON17 names (``patient_004_node_1.tif``) give the
        patient, and any other image counts as one patient of its own folder's
        batch (all nodes together).
    sentinel : bool, keyword-only

    Returns
    -------
    pandas.DataFrame
        ``patient``, ``pn_stage``, ``camelyon17_label``, ``nodes``,
        ``positive_nodes``, ``categories`` (``image:category`` pairs).

    Examples
    --------
    >>> import pandas as pd
    >>> nodes = pd.DataFrame({"image": ["patient_001_node_0.tif", "patient_001_node_1.tif"],
    ...                       "category": ["itc", "macrometastasis"]})
    >>> stage_patients(nodes)["pn_stage"].tolist()
    ['pN1']
    """
    nodes = nodes.copy()
    if patients is not None:
        mapping = patients if isinstance(patients, pd.DataFrame) else pd.read_csv(patients)
        if not {"patient", "image"} <= set(mapping.columns):
            raise ValueError(f"{patients}: the patients table needs columns 'patient' and 'image'")
        lookup = {}
        for _, row in mapping.iterrows():
            name = str(row["image"])
            lookup[name] = str(row["patient"])
            lookup[Path(name).stem] = str(row["patient"])
        nodes["patient"] = [lookup.get(str(i), lookup.get(Path(str(i)).stem)) for i in nodes["image"]]
        missing = nodes.loc[nodes["patient"].isna(), "image"].tolist()
        if missing:
            raise ValueError(f"{patients}: no patient for image(s) {', '.join(map(str, missing[:5]))}")
    else:
        def guess(name):
            m = _CAMELYON_NAME.match(Path(str(name)).name)
            return m.group(1).lower() if m else "all"

        nodes["patient"] = [guess(i) for i in nodes["image"]]
    rows = []
    for patient, group in nodes.groupby("patient", sort=True):
        cats = group["category"].tolist()
        stage = patient_pn_stage(cats, sentinel=sentinel)
        rows.append({
            "patient": patient,
            "pn_stage": stage,
            "camelyon17_label": camelyon17_label(stage),
            "nodes": len(cats),
            "positive_nodes": sum(c in ("micrometastasis", "macrometastasis") for c in cats),
            "categories": ";".join(f"{i}:{c}" for i, c in zip(group["image"], cats)),
        })
    return pd.DataFrame(rows)
