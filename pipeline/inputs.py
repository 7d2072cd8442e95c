"""The inputs of a batch: which image files, their output folder names, their hashes, their patients."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .io import is_supported

__all__ = ["find_images", "output_names", "file_sha256", "check_patients"]


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
    skip = Path(exclude).resolve() if exclude is not None else None
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and is_supported(p)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and (skip is None or skip not in p.resolve().parents)
            )
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


def check_patients(patients, paths) -> pd.DataFrame:
    """The patients mapping, checked to name every image (before any work)."""
    from .report import load_patients

    mapping = load_patients(patients)
    known = set()
    for name in mapping["image"].astype(str):
        known.update((name, Path(name).stem))
    missing = [p.name for p in paths if p.name not in known and Path(p.name).stem not in known]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(f"{patients}: no patient for image(s) {', '.join(missing[:5])}{more}; "
                         "add them to the 'image' column")
    return mapping
