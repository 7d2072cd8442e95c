"""Patient-level staging from node summaries (the ``nodescope stage`` command).

Nodes are matched to patients by path, never by a file name that two results
share: a patients table's ``image`` may be an absolute path, a path relative
to the table's own folder, a path relative to the analysed input folder (the
``path`` column of ``summary.csv``), or a bare file name when that name is
unique. A name that matches two results is refused.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from pathlib import Path, PurePath

import pandas as pd

from .quality import CONFIRM_WITH_IHC
from .staging import NOT_ASSESSABLE, camelyon17_label, patient_pn_stage

__all__ = ["load_summaries", "load_patients", "match_patients", "stage_patients", "node_frame",
           "PATIENT_COLUMNS"]

_CAMELYON_NAME = re.compile(r"^(patient_\d+)_node_\d+", re.IGNORECASE)

#: Columns of the patient table (:func:`stage_patients`, ``patient_stages.csv``).
PATIENT_COLUMNS = ("patient", "pn_stage", "camelyon17_label", "nodes", "positive_nodes",
                   "categories", "nodes_not_assessable", "nodes_to_confirm")


def load_summaries(inputs) -> pd.DataFrame:
    """Node summaries from ``summary.json`` files or result folders.

    A folder contributes every ``summary.json`` below it. Returns a table with
    ``image`` and ``category`` (and the other summary scalars, ``path`` and
    ``input_root`` among them when the batch recorded them).

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
            row = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
            row["flags"] = _flag_text(data.get("flags"))
            rows.append(row)
    return pd.DataFrame(rows)


def load_patients(patients) -> pd.DataFrame:
    """The ``patient``, ``image`` mapping from a CSV path or a DataFrame.

    A table read from a file remembers its folder (``attrs["base"]``): relative
    paths in its ``image`` column are read from there.

    Raises
    ------
    ValueError
        When the file cannot be read or lacks the two columns.
    """
    label = "patients table" if isinstance(patients, pd.DataFrame) else str(patients)
    if isinstance(patients, pd.DataFrame):
        table = patients
    else:
        try:
            table = pd.read_csv(patients, dtype=str)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{patients}: cannot read the patients table ({exc})") from None
        table.attrs["base"] = os.path.abspath(Path(patients).parent)
        table.attrs["label"] = label
    if not {"patient", "image"} <= set(table.columns):
        raise ValueError(f"{label}: the patients table needs columns 'patient' and 'image', "
                         f"found {', '.join(map(str, table.columns)) or 'none'}")
    return table


def _flag_text(flags) -> str:
    """A node's flags as ``a;b`` (summary.json keeps a list, summary.csv the text)."""
    if isinstance(flags, (list, tuple)):
        return ";".join(map(str, flags))
    return "" if flags is None or (isinstance(flags, float) and flags != flags) else str(flags)  # NaN: none


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _node_name(row) -> str:
    return _text(row.get("path")) or _text(row.get("image")) or "?"


def match_patients(nodes: pd.DataFrame, mapping: pd.DataFrame, *, base=None,
                   label: str = "patients table") -> list:
    """The patient of every node (``None`` where the table names none).

    Each ``image`` entry of ``mapping`` is matched, in this order, as: an
    absolute path, or a path relative to ``base`` (the table's folder), against
    the node's input file; a path relative to the analysed input folder
    (``path``); a bare file name or stem against ``image`` (the file name).
    The first way that matches decides.

    Parameters
    ----------
    nodes : pandas.DataFrame
        ``image``; ``path`` and ``input_root`` when known.
    mapping : pandas.DataFrame
        ``patient``, ``image``.
    base : path-like, optional, keyword-only
        Folder that relative entries are read from (default: ``mapping.attrs["base"]``).
    label : str, keyword-only
        Names the table in messages.

    Raises
    ------
    ValueError
        When an entry matches more than one node (an ambiguous name), or a
        node is listed for two patients.

    Examples
    --------
    >>> nodes = pd.DataFrame({"image": ["n1.tif", "n1.tif"], "path": ["a/n1.tif", "b/n1.tif"]})
    >>> match_patients(nodes, pd.DataFrame({"patient": ["A", "B"], "image": ["a/n1.tif", "b/n1.tif"]}))
    ['A', 'B']
    >>> match_patients(nodes, pd.DataFrame({"patient": ["A"], "image": ["n1.tif"]}))
    Traceback (most recent call last):
    ...
    ValueError: patients table: image 'n1.tif' matches 2 results (a/n1.tif, b/n1.tif); give its path instead, relative to the patients table or as in the 'path' column of summary.csv
    """
    base = base if base is not None else mapping.attrs.get("base")
    records = nodes.to_dict("records")
    absolute, relative, names = [], [], []
    for r in records:
        path, root, image = _text(r.get("path")), _text(r.get("input_root")), _text(r.get("image"))
        absolute.append(os.path.normpath(os.path.join(root, path)) if path and root else None)
        relative.append(posixpath.normpath(path) if path else None)
        names.append({image, PurePath(image).stem} if image else set())
    found: list = [None] * len(records)
    for patient, entry in zip(mapping["patient"], mapping["image"]):
        entry = _text(entry)
        if entry is None or _text(patient) is None:
            continue
        entry = entry.strip()
        ways = []
        if os.path.isabs(entry):
            ways.append((absolute, os.path.normpath(entry)))
        else:
            if base is not None:
                ways.append((absolute, os.path.normpath(os.path.join(str(base), entry))))
            ways.append((relative, posixpath.normpath(entry.replace("\\", "/"))))
            if "/" not in entry and "\\" not in entry:
                keys = {entry, PurePath(entry).stem}
                ways.append(([keys if n & keys else None for n in names], keys))
        hits = []
        for column, key in ways:
            hits = [i for i, value in enumerate(column) if value is not None and value == key]
            if hits:
                break
        if len(hits) > 1:
            shown = ", ".join(sorted(_node_name(records[i]) for i in hits)[:4])
            raise ValueError(f"{label}: image {entry!r} matches {len(hits)} results ({shown}); give its "
                             "path instead, relative to the patients table or as in the 'path' column "
                             "of summary.csv")
        for i in hits:
            if found[i] is not None and found[i] != str(patient):
                raise ValueError(f"{label}: {_node_name(records[i])} is listed for patients "
                                 f"{found[i]!r} and {str(patient)!r}; keep one row per image")
            found[i] = str(patient)
    return found


def _guess_patients(nodes: pd.DataFrame) -> list:
    found, unknown = [], []
    for r in nodes.to_dict("records"):
        m = _CAMELYON_NAME.match(PurePath(str(r.get("image"))).name)
        found.append(m.group(1).lower() if m else None)
        if not m:
            unknown.append(_node_name(r))
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        unknown = sorted(unknown)
        raise ValueError(f"cannot tell the patient of {', '.join(unknown[:3])}{more} (not named like "
                         "patient_004_node_3.tif); give a patients table (--patients CSV with columns "
                         "'patient' and 'image') rather than staging unrelated nodes as one patient")
    return found


def stage_patients(nodes: pd.DataFrame, *, patients=None, sentinel=False,
                   unmatched: str = "error") -> pd.DataFrame:
    """One pN stage per patient.

    A node whose ``category`` is ``"not_assessable"`` is left out of its
    patient's stage (never counted as negative) and listed, with its
    ``category_reason``, in ``nodes_not_assessable``; a patient with no
    assessable node is ``pNX``.

    Parameters
    ----------
    nodes : pandas.DataFrame
        Node summaries with ``image`` and ``category`` (``path``,
        ``input_root`` and ``category_reason`` when known).
    patients : path-like or DataFrame, optional, keyword-only
        Mapping with columns ``patient`` and ``image`` (see
        :func:`match_patients`). Without it, the patient comes from CAMELYON17
        names (``patient_004_node_1.tif`` -> ``patient_004``); any other name
        is refused.
    sentinel : bool, keyword-only
    unmatched : {"error", "skip"}, keyword-only
        What to do with nodes the table names no patient for.

    Returns
    -------
    pandas.DataFrame
        :data:`PATIENT_COLUMNS`: ``patient``, ``pn_stage``,
        ``camelyon17_label`` (empty for pNX), ``nodes``, ``positive_nodes``,
        ``categories`` (``image:category`` pairs), ``nodes_not_assessable``
        (``image (reason)`` pairs).

    Raises
    ------
    ValueError
        For a node without a patient (no table and no CAMELYON name, or
        missing from the table), or an ambiguous table (:func:`match_patients`).

    Examples
    --------
    >>> nodes = pd.DataFrame({"image": ["patient_001_node_0.tif", "patient_001_node_1.tif"],
    ...                       "category": ["itc", "macrometastasis"]})
    >>> stage_patients(nodes)["pn_stage"].tolist()
    ['pN1']
    """
    if unmatched not in ("error", "skip"):
        raise ValueError(f"unmatched must be 'error' or 'skip', got {unmatched!r}")
    nodes = nodes.reset_index(drop=True).copy()
    if patients is not None:
        mapping = load_patients(patients)
        label = mapping.attrs.get("label", "patients table" if isinstance(patients, pd.DataFrame)
                                  else str(patients))
        nodes["patient"] = match_patients(nodes, mapping, label=label)
        missing = [_node_name(r) for r in nodes.to_dict("records") if r["patient"] is None]
        if missing and unmatched == "error":
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise ValueError(f"{label}: no patient for image(s) {', '.join(missing[:5])}{more}; "
                             "add them to the 'image' column")
        nodes = nodes[nodes["patient"].notna()]
    elif len(nodes):
        nodes["patient"] = _guess_patients(nodes)
    rows = []
    for patient, group in (nodes.groupby("patient", sort=True) if len(nodes) else ()):
        cats = group["category"].tolist()
        stage = patient_pn_stage(cats, sentinel=sentinel)
        names = [_node_name(r) for r in group.to_dict("records")]
        reasons = group["category_reason"].tolist() if "category_reason" in group else [None] * len(cats)
        left_out = [f"{n} ({_text(why) or 'no reason recorded'})"
                    for n, c, why in zip(names, cats, reasons) if c == NOT_ASSESSABLE]
        flags = group["flags"].map(_flag_text).tolist() if "flags" in group else [""] * len(cats)
        confirm = [n for n, f in zip(names, flags) if CONFIRM_WITH_IHC in f.split(";")]
        rows.append({
            "patient": patient,
            "pn_stage": stage,
            "camelyon17_label": "" if stage.startswith("pNX") else camelyon17_label(stage),
            "nodes": len(cats),
            "positive_nodes": sum(c in ("micrometastasis", "macrometastasis") for c in cats),
            "categories": ";".join(f"{n}:{c}" for n, c in zip(names, cats)),
            "nodes_not_assessable": "; ".join(left_out),
            "nodes_to_confirm": "; ".join(confirm),
        })
    return pd.DataFrame(rows, columns=list(PATIENT_COLUMNS))


def node_frame(summaries) -> pd.DataFrame:
    """The columns of node summaries (dicts) that patient staging reads.

    Examples
    --------
    >>> node_frame([{"image": "a.tif", "category": "itc"}]).columns.tolist()
    ['image', 'path', 'input_root', 'category', 'category_reason', 'flags']
    """
    keys = ("image", "path", "input_root", "category", "category_reason")
    table = pd.DataFrame({k: [s.get(k) for s in summaries] for k in keys})
    table["flags"] = [_flag_text(s.get("flags")) for s in summaries]
    return table
