"""Tumour / not-tumour labels for training an H&E model, from the files people already have.

Three sources, all read into one :class:`Labels` table (µm, the image's coordinates):

- **QuPath GeoJSON** (File > Export objects, or any GeoJSON FeatureCollection):
  annotations or detections with a classification; a polygon labels every
  nucleus inside it, a point labels the nearest nucleus. Coordinates are
  full-resolution pixels, as QuPath writes them.
- **CSV of points in µm**: columns ``x_um``, ``y_um`` and ``label`` (a class name,
  or 1 / 0), optionally ``image`` (the image file name, when one CSV covers
  several images).
- **NodeScope review records** (``review_labels.csv``, written by the napari
  review's Export): cells the reviewer added are tumour, cells they deleted are
  not.

Class names are matched case-insensitively against :data:`TUMOUR_NAMES` and
:data:`OTHER_NAMES` (QuPath's defaults included); anything else is refused with
the list of names known, unless a ``class_map`` says what it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Labels", "read_labels", "TUMOUR_NAMES", "OTHER_NAMES", "LABEL_SUFFIXES", "REVIEW_LABELS_FILE"]

#: Class names read as tumour (lower case).
TUMOUR_NAMES = ("tumor", "tumour", "tumor cell", "tumour cell", "tumor cells", "tumour cells", "tumor deposit",
                "tumour deposit", "carcinoma", "metastasis", "neoplastic", "malignant", "positive",
                "cancer", "1", "true", "yes")
#: Class names read as not tumour (lower case).
OTHER_NAMES = ("stroma", "immune cells", "immune cell", "lymphocyte", "lymphocytes", "other", "non-tumor",
               "non-tumour", "nontumor", "normal", "negative", "necrosis", "histiocyte", "histiocytes",
               "germinal centre", "germinal center", "plasma cell", "plasma cells", "endothelium",
               "fibroblast", "fibroblasts", "benign", "ignore*", "region*", "not tumour", "not tumor",
               "0", "false", "no")

#: File endings read as label files.
LABEL_SUFFIXES = (".geojson", ".json", ".csv")

#: The file a napari review's Export writes with the reviewer's edits as labels.
REVIEW_LABELS_FILE = "review_labels.csv"


@dataclass(frozen=True, eq=False)
class Labels:
    """Labelled places on one image, in µm.

    Attributes
    ----------
    source : str
        The label file.
    points : pandas.DataFrame
        ``y_um``, ``x_um``, ``tumour`` (bool): each labels the nearest nucleus.
    polygons : list of ((K, 2) ndarray, bool)
        (y, x) outlines in µm and whether they are tumour: each labels every
        nucleus inside.
    image : str or None
        The image file name the labels belong to, when the file says.
    """

    source: str
    points: pd.DataFrame
    polygons: list = field(default_factory=list)
    image: str | None = None

    @property
    def counts(self) -> dict:
        """Labelled places per class (polygons counted once each)."""
        t = int(self.points["tumour"].sum()) + sum(1 for _, k in self.polygons if k)
        o = int((~self.points["tumour"]).sum()) + sum(1 for _, k in self.polygons if not k)
        return {"tumour": t, "other": o}


def _classify(name, *, class_map, where) -> bool | None:
    """True (tumour), False (other) or None (QuPath's 'Ignore*' / 'Region*': skip)."""
    key = str(name).strip().lower()
    mapped = {str(k).strip().lower(): v for k, v in (class_map or {}).items()}
    if key in mapped:
        value = str(mapped[key]).strip().lower()
        if value in ("tumour", "tumor", "1", "true"):
            return True
        if value in ("other", "not tumour", "not tumor", "0", "false"):
            return False
        if value in ("ignore", "skip"):
            return None
        raise ValueError(f"class_map gives {name!r} the value {mapped[key]!r}; use 'tumour', 'other' or 'ignore'")
    if key in ("ignore*", "region*", "ignore", "region"):
        return None
    if key in TUMOUR_NAMES:
        return True
    if key in OTHER_NAMES:
        return False
    raise ValueError(f"{where}: unknown class {name!r}; known tumour classes: {', '.join(TUMOUR_NAMES[:8])}, ...; "
                     f"other classes: {', '.join(OTHER_NAMES[:8])}, ... (give --class-map {name}=tumour|other)")


def _class_name(props: dict):
    cls = props.get("classification")
    if isinstance(cls, dict):
        return cls.get("name")
    if isinstance(cls, str):
        return cls
    for key in ("class", "label", "name"):
        if key in props:
            return props[key]
    return None


def _geojson(path: Path, text: str, *, pixel_size_um, class_map) -> Labels:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path.name}: not valid JSON ({exc})") from None
    features = data.get("features") if isinstance(data, dict) else data
    if isinstance(data, dict) and data.get("type") == "Feature":
        features = [data]
    if not isinstance(features, list):
        raise ValueError(f"{path.name}: not a GeoJSON FeatureCollection or list of features")
    px = float(pixel_size_um)
    points, polygons = [], []
    for i, feat in enumerate(features):
        if not isinstance(feat, dict):
            continue
        geom = feat.get("geometry") or {}
        props = feat.get("properties") or {}
        name = _class_name(props)
        if name is None:
            raise ValueError(f"{path.name}: feature {i} has no classification; classify the objects in QuPath "
                             "(or give them a 'classification' property) before exporting")
        tumour = _classify(name, class_map=class_map, where=f"{path.name} feature {i}")
        if tumour is None:
            continue
        kind, coords = geom.get("type"), geom.get("coordinates")
        if kind == "Point":
            points.append((coords[1] * px, coords[0] * px, tumour))
        elif kind == "MultiPoint":
            points.extend((c[1] * px, c[0] * px, tumour) for c in coords)
        elif kind == "Polygon":
            polygons.append((np.asarray(coords[0], float)[:, ::-1] * px, tumour))
        elif kind == "MultiPolygon":
            polygons.extend((np.asarray(p[0], float)[:, ::-1] * px, tumour) for p in coords)
        else:
            raise ValueError(f"{path.name}: feature {i} is a {kind}; labels are points or polygons")
    table = pd.DataFrame(points, columns=["y_um", "x_um", "tumour"]).astype({"tumour": bool})
    return Labels(source=str(path), points=table, polygons=polygons)


def _csv(path: Path, *, class_map) -> Labels:
    table = pd.read_csv(path)
    cols = {c.lower().strip(): c for c in table.columns}
    missing = [c for c in ("x_um", "y_um", "label") if c not in cols]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {missing}; a label CSV has x_um, y_um (µm) and label "
                         "(and optionally image)")
    labels = [_classify(v, class_map=class_map, where=f"{path.name} row {i + 2}")
              for i, v in enumerate(table[cols["label"]])]
    keep = np.array([v is not None for v in labels], bool)
    out = pd.DataFrame({"y_um": table[cols["y_um"]].to_numpy(float)[keep],
                        "x_um": table[cols["x_um"]].to_numpy(float)[keep],
                        "tumour": np.array([bool(v) for v in labels if v is not None], bool)})
    if not np.isfinite(out[["y_um", "x_um"]].to_numpy()).all():
        raise ValueError(f"{path.name}: x_um / y_um must be numbers (µm)")
    if "image" in cols:
        images = table[cols["image"]].astype(str).to_numpy()[keep]
        out["image"] = images
    return Labels(source=str(path), points=out)


def read_labels(path, *, pixel_size_um=None, class_map=None) -> list[Labels]:
    """Read one label file into :class:`Labels` (one per image it covers).

    Parameters
    ----------
    path : path-like
        A QuPath GeoJSON export (``.geojson`` / ``.json``), a CSV of points in µm,
        or a NodeScope ``review_labels.csv``.
    pixel_size_um : float, optional, keyword-only
        µm per pixel of the image; required for GeoJSON (pixel coordinates).
    class_map : dict, optional, keyword-only
        Extra class names: ``{"Tumor-budding": "tumour", "Artefact": "ignore"}``.

    Returns
    -------
    list of Labels
        One per image named in the file (a CSV with an ``image`` column), else one.

    Raises
    ------
    ValueError
        For an unreadable file, an unknown class or a file without usable labels.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "node.geojson"
    >>> _ = p.write_text(json.dumps({"type": "FeatureCollection", "features": [
    ...     {"type": "Feature", "geometry": {"type": "Point", "coordinates": [20, 10]},
    ...      "properties": {"classification": {"name": "Tumor"}}}]}))
    >>> lab = read_labels(p, pixel_size_um=0.5)[0]
    >>> lab.points.values.tolist(), lab.counts
    ([[5.0, 10.0, True]], {'tumour': 1, 'other': 0})
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such label file")
    suffix = p.suffix.lower()
    if suffix in (".geojson", ".json"):
        if pixel_size_um is None:
            raise ValueError(f"{p.name}: GeoJSON coordinates are pixels; give the image's pixel size")
        labels = [_geojson(p, p.read_text(encoding="utf-8"), pixel_size_um=pixel_size_um, class_map=class_map)]
    elif suffix == ".csv":
        labels = [_csv(p, class_map=class_map)]
        if "image" in labels[0].points.columns:
            table = labels[0].points
            labels = [Labels(source=str(p), points=part.drop(columns="image").reset_index(drop=True), image=img)
                      for img, part in table.groupby("image", sort=True)]
    else:
        raise ValueError(f"{p.name}: unknown label format {suffix!r}; use a QuPath .geojson, a .csv of points "
                         f"(x_um, y_um, label) or a NodeScope {REVIEW_LABELS_FILE}")
    if not any(len(lab.points) or lab.polygons for lab in labels):
        raise ValueError(f"{p.name}: no tumour or non-tumour labels in the file")
    return labels
