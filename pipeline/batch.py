"""Batches: many images in, one folder of results out; one bad file never stops the rest.

Images run in parallel on Dask (:mod:`pipeline.parallel`): local threads by
default, or an existing ``dask.distributed`` cluster. Each image's folder is
written by whichever worker analysed it (every file atomically, ``summary.json``
last); the calling process writes ``summary.csv``, ``errors.csv`` and
``report.html`` in input order, rewriting the tables as results arrive. A
finished folder whose ``summary.json`` records the same input hash, parameters
and version is skipped on the next run, so an interrupted batch resumes.

The library logs to the ``pipeline.batch`` logger and never configures logging.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import numbers
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._version import __version__
from .analysis import analyze
from .export import NODE_FILES, deposits_for_csv, write_node_outputs, write_table
from .io import DEFAULT_MAX_PIXELS, image_info, is_supported, read_image
from .parallel import available_cores, check_scheduler_address, check_workers, run_tasks

__all__ = [
    "find_images", "output_names", "analyze_file", "run_batch", "BatchReport", "BatchInterrupted",
    "one_line", "file_sha256", "node_files", "process_image", "check_patients",
]

logger = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """An exception as one clear line (its type when the message is empty)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


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


# tifffile / warnings capture in pipeline.io is not thread-safe (warnings.catch_warnings
# swaps process-wide state), so images are *read* one at a time; the analysis,
# which dominates, runs in parallel.
_READ_LOCK = threading.Lock()


#: Images with more pixels than this (megapixels) are analysed in whole-slide mode.
DEFAULT_WSI_THRESHOLD_MP = 64.0


def _tiff_pixels(path) -> int | None:
    """Base-level pixel count of a TIFF-family file from its header, or None.

    None for other formats and for files that cannot be opened (``read_image``
    then reports what is wrong). Decoder warnings are not shown.
    """
    try:
        info = image_info(path)
    except Exception:  # noqa: BLE001 - unreadable: read_image reports what is wrong
        return None
    if info.format not in ("tiff", "ome-tiff", "svs"):
        return None
    return info.shape[0] * info.shape[1]


def analyze_file(path, *, pixel_size_um=None, tile_workers=None, wsi_threshold_mp=DEFAULT_WSI_THRESHOLD_MP,
                 on_tile=None,
                 max_pixels=DEFAULT_MAX_PIXELS, **params):
    """Read one image and analyse it; returns ``(result, image for the overlay)``.

    TIFF-family files larger than ``wsi_threshold_mp`` megapixels are analysed
    in whole-slide mode (:func:`pipeline.analysis.analyze_slide`: tile by tile
    from the file, never loaded whole); the image returned is then the slide's
    low-resolution overview, and ``on_tile(file_name, done, total)`` (if given)
    follows its tiles. ``tile_workers`` (threads for the image's tiles;
    default: the analysis' own) does not change the result.

    ``max_pixels`` is the largest image :func:`pipeline.io.read_image` loads
    whole (it refuses bigger ones before allocating). Whole-slide mode is
    exempt: it never holds the slide in memory; a file whose header declares
    more data than it holds is refused when opened instead
    (:func:`pipeline.io.verify_pixel_data`).
    """
    if tile_workers is not None:
        params.setdefault("workers", tile_workers)
    with _READ_LOCK:
        pixels = _tiff_pixels(path)
    if pixels is not None and pixels > float(wsi_threshold_mp) * 1e6:
        from .analysis import _overview_um, _thumbnail, analyze_slide
        from .slide import Slide

        with _READ_LOCK:
            slide = Slide(path, pixel_size_um=pixel_size_um)
        with slide:
            params.pop("tile_px", None)
            tile_cb = None if on_tile is None else (lambda d, t: on_tile(Path(path).name, d, t))
            result = analyze_slide(slide, image_name=Path(path).name, on_tile=tile_cb, **params)
            thumb, thumb_um = _thumbnail(slide, _overview_um(slide.shape, slide.pixel_size_um))
        result.extra["pixel_size_source"] = slide.pixel_size_source
        result.extra["overlay_pixel_size_um"] = thumb_um
        return result, thumb
    with _READ_LOCK:
        rgb, px, meta = read_image(path, pixel_size_um=pixel_size_um, max_pixels=max_pixels)
    result = analyze(rgb, pixel_size_um=px, image_name=Path(path).name, **params)
    result.extra["pixel_size_source"] = meta.get("pixel_size_source")
    return result, rgb


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


def node_files(*, geojson=True, parquet=False) -> tuple[str, ...]:
    """The files a finished image folder holds for these export options (summary.json last).

    Examples
    --------
    >>> node_files(geojson=False)
    ('cells.csv', 'deposits.csv', 'overlay.png', 'summary.json')
    >>> node_files(parquet=True)[:3]
    ('cells.parquet', 'deposits.parquet', 'cells.csv')
    """
    extra = ("cells.parquet", "deposits.parquet") if parquet else ()
    middle = ("objects.geojson",) if geojson else ()
    return extra + NODE_FILES[:-1] + middle + NODE_FILES[-1:]


#: Every file the batch may write into an image folder (removed before a redo).
_ALL_NODE_FILES = node_files(geojson=True, parquet=True)


@dataclass
class BatchReport:
    """What a batch did.

    ``rows`` holds one summary row per image with results (analysed now or
    skipped as already done), in input order, exactly as in ``summary.csv``;
    ``errors`` one row per failure; ``analysed`` and ``skipped`` the output
    folder names of each kind.
    """

    rows: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    analysed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    engine: str = ""
    #: Full traceback per failed file (``str(path)``), for ``--debug``; never in errors.csv.
    tracebacks: dict = field(default_factory=dict)
    #: Images not finished because the batch was interrupted.
    unfinished: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class BatchInterrupted(KeyboardInterrupt):
    """The batch was interrupted (Ctrl-C); ``report`` holds what was finished and kept.

    Raised by :func:`run_batch` after ``summary.csv`` and ``errors.csv`` were
    rewritten for the finished images. Running the same batch again resumes it.
    """

    def __init__(self, report: BatchReport, out_dir):
        super().__init__(f"interrupted: {len(report.rows)} image(s) done, "
                         f"{len(report.unfinished)} not finished, in {out_dir}")
        self.report = report
        self.out_dir = Path(out_dir)


_SUMMARY_SCALARS = (
    "image", "output", "pixel_size_um", "stain", "rule", "category", "category_reason",
    "pn_category", "largest_deposit_um", "largest_deposit_cells", "deposit_count",
    "tumor_cell_count", "nucleus_count", "tissue_area_mm2", "growth_pattern", "discohesion_index",
    "flags",
)


def _summary_row(summary: dict, name: str) -> dict:
    """The summary.csv row of a node, from its summary.json contents."""
    summary = dict(summary, output=name)
    flags = summary.get("flags")
    if isinstance(flags, list):
        summary["flags"] = ";".join(map(str, flags))
    return {k: summary.get(k) for k in _SUMMARY_SCALARS if k in summary}


def _plain(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _canonical(value):
    """JSON round trip: what a value looks like once read back from summary.json."""
    return json.loads(json.dumps(value, sort_keys=True, default=_plain))


def _finished_summary(folder: Path, digest: str, run_parameters: dict, files) -> dict | None:
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


def _remove_stray_temps(folder: Path, names) -> None:
    """Delete temporary files an interrupted atomic write left behind (``.<name>.*.tmp``)."""
    if not folder.is_dir():
        return
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _clear_node_folder(folder: Path) -> None:
    """Before a redo: summary.json first (the completeness mark), then the other outputs."""
    if not folder.is_dir():
        return
    for name in (NODE_FILES[-1],) + _ALL_NODE_FILES:
        (folder / name).unlink(missing_ok=True)
    _remove_stray_temps(folder, _ALL_NODE_FILES)


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM, errno.EROFS}


def _error_text(path: Path, exc: BaseException, *, writing: bool = False) -> str:
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


def _discard_partial(folder: Path) -> None:
    """Remove what an unfinished write left in an image folder (and the folder, if empty)."""
    try:
        _clear_node_folder(folder)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    except OSError:  # best effort: summary.json is absent, so the image is redone anyway
        pass


# Outcomes of the current local runs, by run token then job index: process_image
# stores each outcome here too, so that after an interrupt the caller can still
# count the images its worker threads finished (their results never reach the
# interrupted scheduler loop). Cluster workers have no entry and store nothing.
_LOCAL_OUTCOMES: dict[str, dict[int, dict]] = {}


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


def process_image(job: dict) -> dict:
    """Analyse one image into its folder, or skip it when its folder is already complete.

    Runs on a worker (thread, or process of a Dask cluster). Never raises for a
    bad image: the error comes back in the outcome.

    Parameters
    ----------
    job : dict
        ``path``, ``folder``, ``name``, ``pixel_size_um``, ``params`` (for
        :func:`pipeline.analysis.analyze`), ``run_parameters`` (recorded in
        summary.json and compared on resume), ``overwrite``, ``geojson``,
        ``parquet``, ``tile_workers``.

    Returns
    -------
    dict
        ``status`` (``"analysed"``, ``"skipped"`` or ``"error"``), ``row`` (the
        summary.csv row, read back from the written summary.json), ``error``,
        ``seconds``, ``worker``.
    """
    t0 = time.perf_counter()
    path, folder, name = Path(job["path"]), Path(job["folder"]), job["name"]
    files = node_files(geojson=job["geojson"], parquet=job["parquet"])
    outcome = {"status": "error", "row": None, "error": None, "traceback": None,
               "worker": f"{socket.gethostname()}:{os.getpid()}"}
    writing = False
    try:
        digest = file_sha256(path)
        done = None if job["overwrite"] else _finished_summary(folder, digest, job["run_parameters"], files)
        if done is not None:
            _remove_stray_temps(folder, _ALL_NODE_FILES)
            outcome.update(status="skipped", row=_summary_row(done, name))
        else:
            _clear_node_folder(folder)
            result, rgb = analyze_file(path, pixel_size_um=job["pixel_size_um"],
                                       tile_workers=job["tile_workers"], on_tile=job.get("on_tile"),
                                       max_pixels=job.get("max_pixels", DEFAULT_MAX_PIXELS), **job["params"])
            result.extra["input_sha256"] = digest
            result.extra["run_parameters"] = job["run_parameters"]
            writing = True
            folder.mkdir(parents=True, exist_ok=True)
            if job["parquet"]:
                write_table(folder / "cells.parquet", result.cells)
                write_table(folder / "deposits.parquet", deposits_for_csv(result.deposits))
            write_node_outputs(folder, result, rgb, geojson=job["geojson"])
            del rgb
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
            writing = False
            outcome.update(status="analysed", row=_summary_row(summary, name))
    except (KeyboardInterrupt, SystemExit):
        summary_file = folder / "summary.json"
        if writing and summary_file.is_file():
            # interrupted just after the last file (summary.json) was written: the
            # image is complete, so it is kept and counted
            try:
                row = _summary_row(json.loads(summary_file.read_text(encoding="utf-8")), name)
                outcome.update(status="analysed", row=row, seconds=round(time.perf_counter() - t0, 3))
                outcomes = _LOCAL_OUTCOMES.get(job.get("token"))
                if outcomes is not None:
                    outcomes[job.get("index")] = outcome
            except (OSError, ValueError):
                _discard_partial(folder)
        elif writing:  # abandoned mid-write: leave no incomplete folder behind
            _discard_partial(folder)
        raise
    except Exception as exc:  # noqa: BLE001 - MemoryError included: one bad file never stops the batch
        if writing:  # e.g. disk full: the files already written are removed, not left incomplete
            _discard_partial(folder)
        outcome["error"] = _error_text(path, exc, writing=writing)
        outcome["traceback"] = traceback.format_exc()
    outcome["seconds"] = round(time.perf_counter() - t0, 3)
    outcomes = _LOCAL_OUTCOMES.get(job.get("token"))
    if outcomes is not None:
        outcomes[job.get("index")] = outcome
    return outcome


def _fill(result: BatchReport, rows, errors, statuses, names) -> None:
    result.rows = [rows[i] for i in sorted(rows)]
    result.errors = [errors[i] for i in sorted(errors)]
    result.analysed = [names[i] for i in sorted(statuses) if statuses[i] == "analysed"]
    result.skipped = [names[i] for i in sorted(statuses) if statuses[i] == "skipped"]


def run_batch(
    inputs,
    out_dir,
    *,
    pixel_size_um=None,
    on_progress: Callable[[int, int, str, str | None], None] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    geojson: bool = True,
    parquet: bool = False,
    report: bool = True,
    patients=None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_tile: Callable[[str, int, int], None] | None = None,
    **params,
) -> BatchReport:
    """Analyse every image of ``inputs`` and write results into ``out_dir``.

    Writes ``out_dir/<image stem>/`` per image (see
    :func:`pipeline.export.write_node_outputs`; plus ``objects.geojson`` and
    ``cells.parquet`` / ``deposits.parquet`` when asked), ``out_dir/summary.csv``
    (one row per image with results, in input order), ``out_dir/errors.csv``
    (``file``, ``error``) when anything failed, and ``out_dir/report.html``.
    A failing image is recorded and the batch goes on.

    Each image's ``summary.json`` records ``input_sha256`` (of the file's bytes)
    and ``run_parameters``. An image whose folder is complete, with the same
    hash, parameters and NodeScope version, is skipped unless ``overwrite``.

    Parameters
    ----------
    inputs : iterable of path-like
        Files and/or folders.
    out_dir : path-like
    pixel_size_um : float, optional, keyword-only
        Overrides the files' pixel size.
    on_tile : callable, optional, keyword-only
        For slides analysed in whole-slide mode on this machine, called as
        ``on_tile(file_name, tiles_done, tiles_total)`` after each tile.
    on_progress : callable, optional, keyword-only
        Called as ``on_progress(done, total, file_name, error_or_None)`` after
        each image (analysed, skipped or failed), in the calling thread.
    workers : int, optional, keyword-only
        Local: cores to use (default: all available). With ``scheduler``: the
        most images in flight on the cluster.
    scheduler : str, optional, keyword-only
        Address of a running ``dask.distributed`` scheduler
        (``tcp://host:8786``). Its workers must see the same paths.
    overwrite : bool, keyword-only
        Redo images even when their folder is complete and up to date.
    geojson : bool, keyword-only
        Also write ``objects.geojson`` (QuPath) per image.
    parquet : bool, keyword-only
        Also write ``cells.parquet`` and ``deposits.parquet`` per image.
    report : bool, keyword-only
        Write ``report.html`` at the end (see :func:`pipeline.report.write_report`).
    patients : path-like or DataFrame, optional, keyword-only
        ``patient``, ``image`` mapping; adds the patient pN table to the report.
    max_pixels : int, keyword-only
        Largest image (height * width) loaded whole; bigger ones fail with a
        one-line error before anything is allocated (see
        :func:`pipeline.io.read_image`). TIFFs analysed in whole-slide mode
        (above ``wsi_threshold_mp``) are read tile by tile and are exempt. Not
        a run parameter: changing it does not redo finished images.
    **params
        Passed to :func:`pipeline.analysis.analyze` (stain, rule, link_um, ...).

    Returns
    -------
    BatchReport

    Raises
    ------
    FileNotFoundError
        For an input that does not exist.
    ValueError, TypeError
        For a bad ``workers``, ``scheduler`` or ``max_pixels``.
    ConnectionError
        When the scheduler cannot be reached.
    OSError
        When ``summary.csv`` or ``errors.csv`` cannot be written (e.g. the disk
        is full), after every image was tried; the image folders are complete.
    BatchInterrupted
        On Ctrl-C (a :class:`KeyboardInterrupt`), after the tables were
        rewritten for the images finished so far. Images whose worker thread
        was analysing them are finished first; with one worker the image in
        progress is abandoned and its partial outputs removed.

    Notes
    -----
    A failing image never stops the batch: unreadable files, pixel-size
    problems and write errors (disk full, read-only folder) become one-line
    rows of ``errors.csv`` naming the file; an image whose outputs could not
    all be written leaves no partial folder behind.
    """
    workers = check_workers(workers)
    scheduler = check_scheduler_address(scheduler)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be an int > 0 (pixels), got {max_pixels!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stray_temps(out, ("summary.csv", "errors.csv", "report.html"))
    paths = find_images(inputs, exclude=out)
    names = output_names(paths)
    n = len(paths)
    if patients is not None:
        patients = check_patients(patients, paths)
    params.setdefault("wsi_threshold_mp", DEFAULT_WSI_THRESHOLD_MP)
    run_parameters = _canonical({"pixel_size_um": pixel_size_um, **params})
    # Local threads: split the cores between images and each image's tiles
    # (one slide alone gets them all). On a cluster each task gets one thread.
    if scheduler is None:
        cores = workers or available_cores()
        tile_workers = max(1, cores // max(1, min(cores, n)))
    else:
        tile_workers = 1
    # absolute paths: cluster workers need not share this process's working directory
    jobs = [
        {"path": str(p.resolve()), "folder": str((out / name).resolve()), "name": name,
         "pixel_size_um": pixel_size_um, "params": dict(params), "run_parameters": run_parameters,
         "overwrite": bool(overwrite), "geojson": bool(geojson), "parquet": bool(parquet),
         "tile_workers": tile_workers}
        for p, name in zip(paths, names)
    ]
    if on_tile is not None and scheduler is None:  # callables stay in this process
        for job in jobs:
            job["on_tile"] = on_tile
    logger.info("nodescope %s: %d image(s) into %s; parameters %s; overwrite=%s geojson=%s parquet=%s",
                __version__, n, out.resolve(), json.dumps(run_parameters, sort_keys=True),
                bool(overwrite), bool(geojson), bool(parquet))

    rows: dict[int, dict] = {}
    errors: dict[int, dict] = {}
    statuses: dict[int, str] = {}
    result = BatchReport()
    done = 0

    table_error: list[OSError] = []  # the last failure to write summary.csv / errors.csv

    def write_tables():
        ordered = [rows[i] for i in sorted(rows)]
        try:
            if ordered:
                write_table(out / "summary.csv", pd.DataFrame(ordered))
            if errors:
                write_table(out / "errors.csv",
                            pd.DataFrame([errors[i] for i in sorted(errors)], columns=["file", "error"]))
        except OSError as exc:  # e.g. disk full: the image folders are complete; retried after each image
            logger.error("cannot write the batch tables: %s", one_line(exc))
            table_error[:] = [exc]
        else:
            table_error.clear()

    def on_start(i):
        logger.info("start %s -> %s/", paths[i].name, names[i])

    def record(i, outcome, exc):
        nonlocal done
        done += 1
        if exc is not None:  # the task failed outside process_image: e.g. its Dask worker died
            outcome = {"status": "error", "row": None, "seconds": None, "worker": "?",
                       "error": f"{paths[i].name}: the worker failed while analysing it "
                                f"({type(exc).__name__}: {one_line(exc)})",
                       "traceback": "".join(traceback.format_exception(exc))}
        status, error = outcome["status"], outcome.get("error")
        statuses[i] = status
        if status == "error":
            errors[i] = {"file": str(paths[i]), "error": error}
            if outcome.get("traceback"):
                result.tracebacks[str(paths[i])] = outcome["traceback"]
                logger.debug("traceback of %s:\n%s", paths[i].name, outcome["traceback"].rstrip())
            logger.error("error %s: %s", paths[i].name, error)
        else:
            rows[i] = outcome["row"]
            if status == "skipped":
                logger.info("skip %s: %s/ is complete with the same input and parameters",
                            paths[i].name, names[i])
            else:
                row = outcome["row"]
                logger.info("finish %s in %.1f s on %s: %s, largest deposit %.1f um",
                            paths[i].name, outcome["seconds"], outcome["worker"], row.get("category"),
                            float(row.get("largest_deposit_um") or 0.0))
        return error

    def on_result(i, outcome, exc):
        error = record(i, outcome, exc)
        # tables are rewritten after every image, so finished results are never lost
        write_tables()
        if on_progress is not None:
            on_progress(done, n, paths[i].name, error)

    def on_engine(text):
        result.engine = text
        logger.info("engine: %s", text)

    token = uuid.uuid4().hex
    run_started = time.time() - 1.0
    for k, job in enumerate(jobs):
        job.update(token=token, index=k, max_pixels=max_pixels)
    _LOCAL_OUTCOMES[token] = {}
    try:
        run_tasks(process_image, jobs, workers=workers, scheduler=scheduler, retries=1,
                  labels=names, on_start=on_start, on_result=on_result, on_engine=on_engine)
    except KeyboardInterrupt:
        # Ctrl-C. Local worker threads finished their image before the scheduler
        # returned (the pool waits for them): count those too, then keep the tables.
        for i, outcome in sorted(_LOCAL_OUTCOMES.get(token, {}).items()):
            if i not in statuses:
                record(i, outcome, None)
        # an image whose last file landed as the interrupt arrived is complete: keep it
        for i, job in enumerate(jobs):
            summary_file = Path(job["folder"]) / "summary.json"
            if i not in statuses and summary_file.is_file() and summary_file.stat().st_mtime >= run_started:
                try:
                    row = _summary_row(json.loads(summary_file.read_text(encoding="utf-8")), names[i])
                except (OSError, ValueError):
                    continue
                record(i, {"status": "analysed", "row": row, "error": None, "traceback": None,
                           "worker": "", "seconds": 0.0}, None)
        write_tables()
        _fill(result, rows, errors, statuses, names)
        result.unfinished = [names[i] for i in range(n) if i not in statuses]
        logger.warning("interrupted: %d analysed, %d skipped, %d failed, %d not finished; "
                       "run the same command again to resume", len(result.analysed),
                       len(result.skipped), len(result.errors), len(result.unfinished))
        raise BatchInterrupted(result, out) from None
    finally:
        _LOCAL_OUTCOMES.pop(token, None)
    if table_error:
        write_tables()  # one last try (space may have been freed)
    if table_error:
        exc = table_error[0]
        reason = exc.strerror or one_line(exc)
        failure = OSError(f"cannot write {exc.filename or 'the batch tables'}: "
                          f"{reason[:1].lower() + reason[1:]}; the image folders are complete - "
                          "free some space and re-run the same command to rebuild the tables")
        failure.errno = exc.errno
        raise failure from exc

    _fill(result, rows, errors, statuses, names)
    if not result.errors and (out / "errors.csv").exists():
        (out / "errors.csv").unlink()
    if report and result.rows + result.errors:
        from .report import write_report

        summaries = []
        for i in sorted(rows):
            try:
                summaries.append(json.loads((out / names[i] / "summary.json").read_text(encoding="utf-8")))
                summaries[-1]["output"] = names[i]
            except (OSError, ValueError):
                summaries.append(dict(rows[i]))
        write_report(out, summaries, patients=patients, errors=result.errors)
    logger.info("done: %d analysed, %d skipped, %d failed", len(result.analysed),
                len(result.skipped), len(result.errors))
    return result
