"""One image's results folder: which files it holds, whether it is complete, how it is cleared.

A folder is complete when every file of :func:`node_files` is there and its
``summary.json`` (written last) records the same input hash, resume key and
NodeScope version (:func:`finished_summary`).
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

from ._version import __version__
from .export import NODE_FILES

__all__ = [
    "node_files", "ALL_NODE_FILES", "SUMMARY_CSV_COLUMNS", "summary_row", "canonical_json",
    "finished_summary", "remove_stray_temps", "clear_node_folder", "discard_partial", "one_line",
    "error_text",
]


def one_line(exc: BaseException) -> str:
    """An exception as one clear line (its type when the message is empty)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def node_files(*, geojson=True, parquet=False, nuclei=False) -> tuple[str, ...]:
    """The files a finished image folder holds for these export options (summary.json last).

    Examples
    --------
    >>> node_files(geojson=False)
    ('cells.csv', 'deposits.csv', 'overlay.png', 'summary.json')
    >>> node_files(parquet=True)[:3]
    ('cells.parquet', 'deposits.parquet', 'cells.csv')
    """
    extra = ("cells.parquet", "deposits.parquet") if parquet else ()
    middle = (("nuclei.csv",) if nuclei else ()) + (("objects.geojson",) if geojson else ())
    return extra + NODE_FILES[:-1] + middle + NODE_FILES[-1:]


#: Every file the batch may write into an image folder (removed before a redo).
ALL_NODE_FILES = node_files(geojson=True, parquet=True, nuclei=True)


SUMMARY_CSV_COLUMNS = (
    "image", "path", "output", "pixel_size_um", "stain", "rule", "category", "category_reason",
    "pn_category", "largest_deposit_um", "largest_deposit_cells", "deposit_count",
    "tumor_cell_count", "nucleus_count", "tissue_area_mm2", "growth_pattern", "discohesion_index",
    "pattern_borderline", "flags",
)


def summary_row(summary: dict, name: str, *, path: str | None = None) -> dict:
    """The summary.csv row of a node, from its summary.json contents.

    ``path`` (the image's path relative to the input folder) fills in for
    summaries written before NodeScope recorded it.
    """
    summary = dict(summary, output=name)
    if summary.get("path") is None and path is not None:
        summary["path"] = path
    flags = summary.get("flags")
    if isinstance(flags, list):
        summary["flags"] = ";".join(map(str, flags))
    return {k: summary.get(k) for k in SUMMARY_CSV_COLUMNS if k in summary}


def _plain(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def canonical_json(value):
    """JSON round trip: what a value looks like once read back from summary.json."""
    return json.loads(json.dumps(value, sort_keys=True, default=_plain))


def finished_summary(folder: Path, digest: str, run_parameters: dict, files) -> dict | None:
    """The folder's summary when it is complete and matches this input and these parameters."""
    if not all((folder / f).is_file() for f in files):
        return None
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict):
        return None
    same = (
        summary.get("input_sha256") == digest
        and summary.get("run_parameters") == run_parameters
        and summary.get("version") == __version__
    )
    return summary if same else None


def remove_stray_temps(folder: Path, names) -> None:
    """Delete temporary files an interrupted atomic write left behind (``.<name>.*.tmp``)."""
    if not folder.is_dir():
        return
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def clear_node_folder(folder: Path) -> None:
    """Before a redo: summary.json first (the completeness mark), then the other outputs."""
    if not folder.is_dir():
        return
    for name in (NODE_FILES[-1],) + ALL_NODE_FILES:
        (folder / name).unlink(missing_ok=True)
    remove_stray_temps(folder, ALL_NODE_FILES)


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}


def error_text(path: Path, exc: BaseException, *, writing: bool = False) -> str:
    """One line naming the input file and the problem (and the output file, for write errors)."""
    if isinstance(exc, MemoryError):
        return f"{path.name}: out of memory while analysing; try a smaller tile or more memory"
    if writing and isinstance(exc, OSError):
        target = exc.filename or "the results"
        if exc.errno in _NO_SPACE:
            return (f"{path.name}: no space left on device while writing {target}; free some space "
                    "and re-run the same command (finished images are kept)")
        if exc.errno in _NOT_ALLOWED:
            return (f"{path.name}: cannot write {target}: permission denied (read-only folder?); "
                    "choose another --out or fix its permissions")
        reason = exc.strerror or one_line(exc)
        return f"{path.name}: cannot write {target}: {reason[:1].lower() + reason[1:]}"
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        return f"{path.name}: cannot read {exc.filename}: {exc.strerror[:1].lower() + exc.strerror[1:]}"
    msg = one_line(exc)
    return msg if msg.startswith(path.name) or str(path) in msg else f"{path.name}: {msg}"


def discard_partial(folder: Path) -> None:
    """Remove what an unfinished write left in an image folder (and the folder, if empty)."""
    try:
        clear_node_folder(folder)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    except OSError:  # best effort: summary.json is absent, so the image is redone anyway
        pass
