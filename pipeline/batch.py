"""Batches: many images in, one folder of results out; one bad file never stops the rest.

Images run in parallel on Dask (:mod:`pipeline.parallel`): local threads by
default, or an existing ``dask.distributed`` cluster. Each image's folder is
written by whichever worker analysed it (every file atomically, ``summary.json``
last; :mod:`pipeline.node_folder`); the calling process writes ``summary.csv``,
``errors.csv`` and ``report.html`` in input order, rewriting the tables as
results arrive. A finished folder whose ``summary.json`` records the same input
hash, resume key and version is skipped on the next run, so an interrupted
batch resumes.

The library logs to the ``pipeline.batch`` logger and never configures logging.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import local_runs
from ._version import __version__
from .analysis import analyze_file
from .export import cells_for_table, deposits_for_csv, write_node_outputs, write_table
from .inputs import check_patients, file_sha256, find_images, input_root, output_names, relative_path
from .io import DEFAULT_MAX_PIXELS
from .node_folder import (
    ALL_NODE_FILES,
    canonical_json,
    clear_node_folder,
    discard_partial,
    error_text,
    finished_summary,
    node_files,
    one_line,
    remove_stray_temps,
    summary_row,
)
from .options import AnalysisOptions
from .patients import node_frame, stage_patients
from .parallel import available_cores, check_scheduler_address, check_workers, run_tasks

__all__ = [
    "find_images", "output_names", "run_batch", "BatchReport", "BatchInterrupted", "ImageJob",
    "one_line", "file_sha256", "node_files", "process_image", "check_patients", "run_parameters",
]

logger = logging.getLogger(__name__)



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
    #: Of those, the images a second Ctrl-C stopped while they ran (nothing of them written).
    abandoned: list = field(default_factory=list)
    #: Output folders of earlier runs kept in summary.csv and report.html (not in this run).
    earlier: list = field(default_factory=list)

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


@dataclass(frozen=True)
class ImageJob:
    """One image of a batch: what to analyse, with which options, into which folder.

    Built by :func:`run_batch` and run by :func:`process_image` on a worker
    (a local thread or a process of a Dask cluster: every field pickles, except
    ``on_tile`` and ``on_map``, which are set for local runs only).
    """

    path: str
    folder: str
    name: str
    options: AnalysisOptions
    run_parameters: dict
    pixel_size_um: float | None = None
    overwrite: bool = False
    geojson: bool = True
    parquet: bool = False
    tile_workers: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    token: str = ""
    index: int = 0
    rel_path: str = ""
    input_root: str = ""
    on_tile: Callable[[str, int, int], None] | None = None
    on_map: Callable[[str, int, int], None] | None = None


def run_parameters(options: AnalysisOptions, pixel_size_um=None) -> dict:
    """The resume key of a batch: every analysis option and the given pixel size (JSON form).

    An image folder whose ``summary.json`` records the same key, input hash and
    NodeScope version is complete and up to date.

    Examples
    --------
    >>> from pipeline.options import AnalysisOptions
    >>> key = run_parameters(AnalysisOptions(link_um=60))
    >>> key["link_um"], key["pixel_size_um"]
    (60.0, None)
    """
    return canonical_json({"pixel_size_um": pixel_size_um, **options.as_dict()})


def process_image(job: ImageJob) -> dict:
    """Analyse one image into its folder, or skip it when its folder is already complete.

    Runs on a worker (thread, or process of a Dask cluster). Never raises for a
    bad image: the error comes back in the outcome.

    Parameters
    ----------
    job : ImageJob

    Returns
    -------
    dict
        ``status`` (``"analysed"``, ``"skipped"``, ``"error"``, or after Ctrl-C
        ``"cancelled"`` (not started) / ``"stopped"`` (analysed, nothing
        written)), ``row`` (the summary.csv row, read back from the written
        summary.json), ``error``, ``seconds``, ``worker``.
    """
    t0 = time.perf_counter()
    path, folder, name = Path(job.path), Path(job.folder), job.name
    files = node_files(geojson=job.geojson, parquet=job.parquet, nuclei=job.options.all_nuclei)
    outcome = {"status": "error", "row": None, "error": None, "traceback": None,
               "worker": f"{socket.gethostname()}:{os.getpid()}"}
    run = local_runs.current(job.token)
    if run is not None and not run.begin(job.index):
        return dict(outcome, status="cancelled", seconds=0.0)
    writing, keep = False, None
    try:
        digest = file_sha256(path)
        done = None if job.overwrite else finished_summary(folder, digest, job.run_parameters, files)
        if done is not None:
            remove_stray_temps(folder, ALL_NODE_FILES)
            outcome.update(status="skipped", row=summary_row(done, name, path=job.rel_path or None))
            keep = outcome
        else:
            clear_node_folder(folder)
            on_tile = None if job.on_tile is None else (lambda d, t: job.on_tile(path.name, d, t))
            on_map = None if job.on_map is None else (lambda d, t: job.on_map(path.name, d, t))
            result, rgb = analyze_file(path, pixel_size_um=job.pixel_size_um, options=job.options,
                                       workers=job.tile_workers, on_tile=on_tile, on_map=on_map,
                                       max_pixels=job.max_pixels)
            result = result.replace(input_sha256=digest, run_parameters=job.run_parameters,
                                    path=job.rel_path or None, input_root=job.input_root or None)
            with (run.writing(job.index) if run is not None else nullcontext(True)) as allowed:
                if not allowed:  # a second Ctrl-C: the batch said it stopped, so nothing is written
                    outcome["status"] = "stopped"
                    return outcome
                writing = True
                folder.mkdir(parents=True, exist_ok=True)
                if job.parquet:
                    write_table(folder / "cells.parquet", cells_for_table(result.cells))
                    write_table(folder / "deposits.parquet", deposits_for_csv(result.deposits))
                write_node_outputs(folder, result, rgb, geojson=job.geojson)
                del rgb, result
                summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
                writing = False
                outcome.update(status="analysed", row=summary_row(summary, name),
                               seconds=round(time.perf_counter() - t0, 3))
                if run is not None:  # counted before a stop can look
                    run.end(job.index, outcome)
    except (KeyboardInterrupt, SystemExit):
        summary_file = folder / "summary.json"
        if writing and summary_file.is_file():
            # interrupted just after the last file (summary.json) was written: the
            # image is complete, so it is kept and counted
            try:
                row = summary_row(json.loads(summary_file.read_text(encoding="utf-8")), name)
                outcome.update(status="analysed", row=row, seconds=round(time.perf_counter() - t0, 3))
                if run is not None:
                    run.end(job.index, outcome)
            except (OSError, ValueError):
                discard_partial(folder)
        elif writing:  # abandoned mid-write: leave no incomplete folder behind
            discard_partial(folder)
        raise
    except Exception as exc:  # noqa: BLE001 - MemoryError included: one bad file never stops the batch
        if writing:  # e.g. disk full: the files already written are removed, not left incomplete
            discard_partial(folder)
        outcome["error"] = error_text(path, exc, writing=writing)
        outcome["traceback"] = traceback.format_exc()
        keep = outcome
    finally:
        outcome.setdefault("seconds", round(time.perf_counter() - t0, 3))
        if run is not None:  # stored before the image stops counting as running
            run.end(job.index, keep)
    return outcome


def earlier_results(out_dir, *, exclude=()) -> list[tuple[str, dict]]:
    """``(folder name, summary)`` of every finished image folder in ``out_dir``, by name.

    Folders named in ``exclude`` (this run's images) are left out; a folder
    counts when its ``summary.json`` is a NodeScope summary. Re-running part
    of a batch keeps the others in ``summary.csv`` and ``report.html``.
    """
    found, skip = [], set(exclude)
    for folder in sorted(Path(out_dir).iterdir()):
        summary_file = folder / "summary.json"
        if folder.name in skip or folder.name.startswith(".") or not summary_file.is_file():
            continue
        try:
            summary = json.loads(summary_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and "category" in summary and "image" in summary:
            found.append((folder.name, summary))
    return found


def _same_folders(out, paths, names, root, rel_paths):
    """An image analysed before into this folder keeps its folder name and recorded path.

    (Re-running one image of a batch must not give it a second folder.)
    Returns names, root, relative paths and the earlier results not in this run.
    """
    found = earlier_results(out)
    before = {}
    for name, summary in found:
        if summary.get("input_root") and summary.get("path"):
            before[os.path.normpath(os.path.join(summary["input_root"], summary["path"]))] = (name, summary)
    names, roots = list(names), set()
    for k, p in enumerate(paths):
        hit = before.get(os.path.abspath(p))
        if hit is not None and hit[0] not in names:
            names[k] = hit[0]
            roots.add(hit[1]["input_root"])
    if len(roots) == 1:  # paths stay relative to the folder the earlier run recorded
        root = Path(roots.pop())
        rel_paths = [relative_path(p, root) for p in paths]
    return names, root, rel_paths, [(n, s) for n, s in found if n not in set(names)]


def _finish_running(run, names, on_interrupt) -> list[int]:
    """After Ctrl-C: wait for the running images; on a second Ctrl-C stop them. Returns those stopped."""
    run.close()
    running = run.running()
    if not running:
        return []
    logger.warning("interrupted: finishing %d running image(s) (%s)", len(running),
                   ", ".join(names[i] for i in running))
    if on_interrupt is not None:
        on_interrupt(len(running))
    try:
        while not run.wait(0.1):
            pass
        return []
    except KeyboardInterrupt:
        run.stop()  # waits for writes in progress: afterwards nothing more is written
        stopped = [i for i in run.running() if i not in run.outcomes]
        logger.warning("stopped: %d running image(s) abandoned (%s); nothing of them is written",
                       len(stopped), ", ".join(names[i] for i in stopped))
        return stopped


def _fill(result: BatchReport, rows, errors, statuses, names) -> None:
    result.rows = [rows[i] for i in sorted(rows)]
    result.errors = [errors[i] for i in sorted(errors)]
    result.analysed = [names[i] for i in sorted(statuses) if statuses[i] == "analysed"]
    result.skipped = [names[i] for i in sorted(statuses) if statuses[i] == "skipped"]


def run_batch(
    inputs,
    out_dir,
    *,
    options: AnalysisOptions | None = None,
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
    on_map: Callable[[str, int, int], None] | None = None,
    on_interrupt: Callable[[int], None] | None = None,
    error_wording: Callable[[str], str] | None = None,
    **option_overrides,
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
    options : AnalysisOptions, optional, keyword-only
        Every analysis choice (default: all defaults).
    pixel_size_um : float, optional, keyword-only
        Overrides the files' pixel size.
    on_tile : callable, optional, keyword-only
        For images analysed on this machine (not on a cluster), called as
        ``on_tile(file_name, tiles_done, tiles_total)`` after each tile, from
        the thread that analyses the image.
    on_map : callable, optional, keyword-only
        For H&E images analysed on this machine, called as
        ``on_map(file_name, chunks_done, chunks_total)`` while the tumour map
        is made (before the tiles), from the thread that analyses the image.
    on_interrupt : callable, optional, keyword-only
        Called as ``on_interrupt(running)`` at once on Ctrl-C when local
        images are still running (they are finished first; a second Ctrl-C
        stops them and nothing of them is written).
    on_progress : callable, optional, keyword-only
        Called as ``on_progress(done, total, file_name, error_or_None)`` after
        each image (analysed, skipped or failed), in the calling thread.
    error_wording : callable, optional, keyword-only
        Rewrites each failure's one-line message before it is recorded
        (``errors.csv``, the log, ``report.html``, ``on_progress``,
        :attr:`BatchReport.errors`). The command line passes
        :func:`pipeline.cli.cli_wording`, so that its files say
        ``--pixel-size UM`` where the library says ``pixel_size_um=...``.
        Default: the library's wording.
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
    **option_overrides
        :class:`~pipeline.options.AnalysisOptions` fields by name (``stain``,
        ``rule``, ``link_um``, ...), applied over ``options``.

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
    if error_wording is not None and not callable(error_wording):
        raise TypeError(f"error_wording must be a callable taking and returning a message, got {error_wording!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stray_temps(out, ("summary.csv", "errors.csv", "report.html"))
    paths = find_images(inputs, exclude=out)
    names = output_names(paths)
    n = len(paths)
    root = input_root(inputs)
    rel_paths = [relative_path(p, root) for p in paths]
    names, root, rel_paths, earlier = _same_folders(out, paths, names, root, rel_paths)
    if patients is not None:
        patients = check_patients(patients, paths, root=root,
                                  earlier=node_frame([s for _, s in earlier]))
    options = AnalysisOptions.from_kwargs(options, **option_overrides)
    key = run_parameters(options, pixel_size_um)
    # Local threads: split the cores between images and each image's tiles
    # (one slide alone gets them all). On a cluster each task gets one thread.
    if scheduler is None:
        cores = workers or available_cores()
        tile_workers = max(1, cores // max(1, min(cores, n)))
    else:
        tile_workers = 1
    # absolute paths: cluster workers need not share this process's working directory
    token = uuid.uuid4().hex
    jobs = [
        ImageJob(path=str(p.resolve()), folder=str((out / name).resolve()), name=name, options=options,
                 run_parameters=key, pixel_size_um=pixel_size_um, overwrite=bool(overwrite),
                 geojson=bool(geojson), parquet=bool(parquet), tile_workers=tile_workers,
                 max_pixels=int(max_pixels), token=token, index=k, rel_path=rel, input_root=str(root),
                 on_tile=on_tile if scheduler is None else None,  # callables stay in this process
                 on_map=on_map if scheduler is None else None)
        for k, (p, name, rel) in enumerate(zip(paths, names, rel_paths))
    ]
    logger.info("nodescope %s: %d image(s) into %s; parameters %s; overwrite=%s geojson=%s parquet=%s",
                __version__, n, out.resolve(), json.dumps(key, sort_keys=True),
                bool(overwrite), bool(geojson), bool(parquet))

    rows: dict[int, dict] = {}
    errors: dict[int, dict] = {}
    statuses: dict[int, str] = {}
    result = BatchReport()
    done = 0

    table_error: list[OSError] = []  # the last failure to write summary.csv / errors.csv

    def write_tables():
        # this run's images in input order, then the finished images of earlier runs
        ordered = [rows[i] for i in sorted(rows)] + [summary_row(s, name) for name, s in earlier]
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
        ctrl_c.check()  # a Ctrl-C lost on its way (see local_runs.CtrlC.check) starts nothing new
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
            if error_wording is not None:
                error = error_wording(error)
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
        ctrl_c.check()

    def on_engine(text):
        result.engine = text
        logger.info("engine: %s", text)

    run_started = time.time() - 1.0
    run = local_runs.register(token)
    try:
        with local_runs.ctrl_c_watch() as ctrl_c:
            run_tasks(process_image, jobs, workers=workers, scheduler=scheduler, retries=1,
                      labels=names, on_start=on_start, on_result=on_result, on_engine=on_engine)
    except KeyboardInterrupt:
        # Ctrl-C. Start no new image; say at once what is still running, wait for
        # it (a second Ctrl-C stops it writing anything); count what was kept.
        stopped = _finish_running(run, names, on_interrupt)
        for i, outcome in sorted(run.outcomes.items()):
            if i not in statuses and outcome["status"] in ("analysed", "skipped", "error"):
                record(i, outcome, None)
        # an image whose last file landed as the interrupt arrived is complete: keep it
        for i, job in enumerate(jobs):
            summary_file = Path(job.folder) / "summary.json"
            if i not in statuses and summary_file.is_file() and summary_file.stat().st_mtime >= run_started:
                try:
                    row = summary_row(json.loads(summary_file.read_text(encoding="utf-8")), names[i])
                except (OSError, ValueError):
                    continue
                record(i, {"status": "analysed", "row": row, "error": None, "traceback": None,
                           "worker": "", "seconds": 0.0}, None)
        write_tables()
        # a table write the interrupt cut short leaves its temporary file behind
        remove_stray_temps(out, ("summary.csv", "errors.csv", "report.html"))
        _fill(result, rows, errors, statuses, names)
        result.unfinished = [names[i] for i in range(n) if i not in statuses]
        result.abandoned = [names[i] for i in stopped]
        logger.warning("interrupted: %d analysed, %d skipped, %d failed, %d not finished%s; "
                       "run the same command again to resume", len(result.analysed),
                       len(result.skipped), len(result.errors), len(result.unfinished),
                       f" ({len(stopped)} stopped while running, nothing of them written)"
                       if stopped else "")
        raise BatchInterrupted(result, out) from None
    finally:
        local_runs.unregister(token)
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
    summaries = []
    for i in sorted(rows):
        try:
            summaries.append(json.loads((out / names[i] / "summary.json").read_text(encoding="utf-8")))
            summaries[-1]["output"] = names[i]
        except (OSError, ValueError):
            summaries.append(dict(rows[i]))
    summaries += [dict(s, output=name) for name, s in earlier]
    result.earlier = [name for name, _ in earlier]
    if patients is not None and summaries:
        write_table(out / "patient_stages.csv",
                    stage_patients(node_frame(summaries), patients=patients, unmatched="skip"))
    if report and summaries + result.errors:
        from .report import write_report

        write_report(out, summaries, patients=patients, errors=result.errors)
    logger.info("done: %d analysed, %d skipped, %d failed", len(result.analysed),
                len(result.skipped), len(result.errors))
    return result
