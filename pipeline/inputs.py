"""The inputs of a batch: which image files, their output folder names, their hashes, their patients."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .io import SUPPORTED_SUFFIXES, is_supported

__all__ = ["find_images", "skipped_suffixes", "no_images_message", "output_names", "file_sha256", "check_patients",
           "input_root", "relative_path"]


def _folder_files(folder: Path, exclude=None):
    """The visible files under ``folder`` (nothing hidden on the way), outside ``exclude``."""
    skip = Path(exclude).resolve() if exclude is not None else None
    for p in folder.rglob("*"):
        if (p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                and (skip is None or skip not in p.resolve().parents)):
            yield p


def find_images(inputs: Iterable, *, exclude=None) -> list[Path]:
    """Image files named by ``inputs``: files as given, folders searched recursively.

    ``inputs`` is one path or an iterable of paths. Folder searches skip
    anything under ``exclude`` (the output folder, whose overlays are PNGs).

    Folders contribute files with a supported suffix (hidden files skipped), in
    sorted order; explicitly named files are kept whatever their suffix, so that
    the reader can say what is wrong with them. Duplicates are dropped.

    Raises
    ------
    FileNotFoundError
        For an input that does not exist.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(p for p in sorted(_folder_files(path, exclude)) if is_supported(p))
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    unique, seen = [], set()
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def skipped_suffixes(inputs: Iterable, *, exclude=None) -> dict[str, int]:
    """Files that :func:`find_images` leaves out of the folders of ``inputs``, by suffix.

    Counts the visible files under each folder (outside ``exclude``) whose
    suffix NodeScope does not read, so that a folder of, say, ``.ndpi`` or
    ``.mrxs`` slides can be reported as such instead of as empty. Explicitly
    named files are never skipped and are not counted.

    Returns
    -------
    dict
        Lower-case suffix (``"(none)"`` for a file without one) -> number of
        files, most frequent first.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for name in ("a.ndpi", "b.NDPI", "c.tif", "notes"):
    ...         _ = (pathlib.Path(tmp) / name).write_bytes(b"")
    ...     skipped_suffixes([tmp])
    {'.ndpi': 2, '(none)': 1}
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    counts: dict[str, int] = {}
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            continue
        for p in _folder_files(path, exclude):
            if not is_supported(p):
                suffix = p.suffix.lower() or "(none)"
                counts[suffix] = counts.get(suffix, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def no_images_message(inputs, *, exclude=None) -> str:
    """The one-line message for inputs that hold no image NodeScope reads (see :func:`skipped_suffixes`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = (pathlib.Path(tmp) / "s.mrxs").write_bytes(b"")
    ...     no_images_message([tmp]).split(": ", 1)[1][:59]
    'no supported images; skipped 1 file of another kind (.mrxs)'
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    where = ", ".join(map(str, inputs))
    counts = skipped_suffixes(inputs, exclude=exclude)
    if not counts:
        return f"{where}: no supported images (no files found)"
    n = sum(counts.values())
    kinds = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in list(counts.items())[:6])
    kinds += ", ..." if len(counts) > 6 else ""
    return (f"{where}: no supported images; skipped {n} file{'s' if n > 1 else ''} of another kind "
            f"({kinds}). NodeScope reads {', '.join(SUPPORTED_SUFFIXES)}: convert other "
            "slide formats to OME-TIFF (e.g. QuPath's File > Export images, or bfconvert)")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def output_names(paths: list[Path]) -> list[str]:
    """Output folder name per image: its stem, made unique when stems repeat.

    Examples
    --------
    >>> from pathlib import Path
    >>> output_names([Path("a/x.tif"), Path("b/x.tif"), Path("c/y.svs")])[2]
    'y'
    """
    stems = [_stem(p) for p in paths]
    counts = pd.Series(stems).value_counts()
    names = []
    for p, s in zip(paths, stems):
        if counts[s] > 1:
            digest = hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]
            s = f"{s}-{digest}"
        names.append(s)
    return names


def file_sha256(path, *, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks (memory does not grow with the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def input_root(inputs) -> Path:
    """The folder image paths are recorded relative to: the common folder of the inputs.

    A folder input counts itself, a file input its folder (absolute, not
    resolving symbolic links).

    Examples
    --------
    >>> import os
    >>> input_root([os.path.join("data", "a"), os.path.join("data", "b", "x.tif")]) == Path(os.path.abspath("data"))
    True
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    folders = [os.path.abspath(p) if Path(p).is_dir() else os.path.dirname(os.path.abspath(p))
               for p in inputs]
    try:
        return Path(os.path.commonpath(folders)) if folders else Path(os.path.abspath("."))
    except ValueError:  # different drives (Windows)
        return Path(folders[0])


def relative_path(path, root) -> str:
    """``path`` relative to ``root`` in POSIX form (absolute when it is not below ``root``)."""
    full = os.path.abspath(path)
    try:
        rel = os.path.relpath(full, root)
    except ValueError:
        return Path(full).as_posix()
    return Path(full).as_posix() if rel.startswith("..") else Path(rel).as_posix()


def check_patients(patients, paths, *, root=None, earlier=None) -> pd.DataFrame:
    """The patients mapping, checked before any work to name every image exactly once.

    Parameters
    ----------
    patients : path-like or DataFrame
    paths : list of Path
        The images of the batch.
    root : path-like, optional, keyword-only
        Their input folder (default: :func:`input_root` of ``paths``).
    earlier : pandas.DataFrame, optional, keyword-only
        Summaries of results already in the output folder: an entry must not
        match one of them as well (an ambiguous name).

    Raises
    ------
    ValueError
        For an image without a patient or an ambiguous entry.
    """
    from .patients import load_patients, match_patients

    mapping = load_patients(patients)
    label = mapping.attrs.get("label", str(patients) if not isinstance(patients, pd.DataFrame)
                              else "patients table")
    root = input_root(paths) if root is None else Path(root)
    nodes = pd.DataFrame({"image": [p.name for p in paths],
                          "path": [relative_path(p, root) for p in paths],
                          "input_root": str(root)})
    if earlier is not None and len(earlier):
        nodes = pd.concat([nodes, earlier.reindex(columns=["image", "path", "input_root"])],
                          ignore_index=True)
    found = match_patients(nodes, mapping, label=label)
    missing = [nodes["path"][i] for i in range(len(paths)) if found[i] is None]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(f"{label}: no patient for image(s) {', '.join(missing[:5])}{more}; "
                         "add them to the 'image' column")
    return mapping
