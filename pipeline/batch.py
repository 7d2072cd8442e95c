"""Batches: many images in, one folder of results out; one bad file never stops the rest."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .analysis import analyze
from .export import write_node_outputs, write_table
from .io import is_supported, read_image

__all__ = ["find_images", "output_names", "analyze_file", "run_batch", "BatchReport", "one_line"]


def one_line(exc: BaseException) -> str:
    """An exception as one clear line (its type when the message is empty)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def find_images(inputs: Iterable) -> list[Path]:
    """Image files named by ``inputs``: files as given, folders searched recursively.

    Folders contribute files with a supported suffix (hidden files skipped), in
    sorted order; explicitly named files are kept whatever their suffix, so that
    the reader can say what is wrong with them. Duplicates are dropped.

    Raises
    ------
    FileNotFoundError
        For an input that does not exist.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and is_supported(p) and not any(part.startswith(".") for part in p.relative_to(path).parts)
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


def analyze_file(path, *, pixel_size_um=None, **params):
    """Read one image and analyse it; returns ``(result, rgb)``."""
    rgb, px, meta = read_image(path, pixel_size_um=pixel_size_um)
    result = analyze(rgb, pixel_size_um=px, image_name=Path(path).name, **params)
    result.extra["pixel_size_source"] = meta.get("pixel_size_source")
    return result, rgb


@dataclass
class BatchReport:
    """What a batch did: one summary row per analysed image and one row per failure."""

    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


_SUMMARY_SCALARS = (
    "image", "output", "pixel_size_um", "stain", "rule", "category", "category_reason",
    "pn_category", "largest_deposit_um", "largest_deposit_cells", "deposit_count",
    "tumor_cell_count", "nucleus_count", "tissue_area_mm2", "growth_pattern", "discohesion_index",
    "flags",
)


def run_batch(
    inputs,
    out_dir,
    *,
    pixel_size_um=None,
    on_progress: Callable[[int, int, str, str | None], None] | None = None,
    **params,
) -> BatchReport:
    """Analyse every image of ``inputs`` and write results into ``out_dir``.

    Writes ``out_dir/<image stem>/`` per image (see
    :func:`pipeline.export.write_node_outputs`), ``out_dir/summary.csv`` (one row
    per analysed image) and, when anything failed, ``out_dir/errors.csv``
    (``file``, ``error``). A failing image is recorded and the batch goes on.

    Parameters
    ----------
    inputs : iterable of path-like
        Files and/or folders.
    out_dir : path-like
    pixel_size_um : float, optional, keyword-only
        Overrides the files' pixel size.
    on_progress : callable, optional, keyword-only
        Called as ``on_progress(done, total, file_name, error_or_None)`` after each image.
    **params
        Passed to :func:`pipeline.analysis.analyze` (stain, rule, link_um, ...).

    Returns
    -------
    BatchReport
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = find_images(inputs)
    names = output_names(paths)
    report = BatchReport()
    for i, (path, name) in enumerate(zip(paths, names), start=1):
        error = None
        try:
            result, rgb = analyze_file(path, pixel_size_um=pixel_size_um, **params)
            write_node_outputs(out / name, result, rgb)
            summary = result.summary()
            summary["output"] = name
            summary["flags"] = ";".join(summary.get("flags", []))
            report.rows.append({k: summary.get(k) for k in _SUMMARY_SCALARS if k in summary})
        except (KeyboardInterrupt, SystemExit):
            raise
        except MemoryError:
            error = f"{path.name}: out of memory while analysing; try a smaller tile or more memory"
        except Exception as exc:  # one bad file never stops the batch
            msg = one_line(exc)
            error = msg if msg.startswith(path.name) or str(path) in msg else f"{path.name}: {msg}"
        if error is not None:
            report.errors.append({"file": str(path), "error": error})
        # tables are rewritten after every image, so finished results are never lost
        if report.rows:
            write_table(out / "summary.csv", pd.DataFrame(report.rows))
        if report.errors:
            write_table(out / "errors.csv", pd.DataFrame(report.errors, columns=["file", "error"]))
        if on_progress is not None:
            on_progress(i, len(paths), path.name, error)
    if not report.errors and (out / "errors.csv").exists():
        (out / "errors.csv").unlink()
    return report
