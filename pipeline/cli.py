"""The ``nodescope`` command line: a thin shell over :mod:`pipeline.batch`.

Heavy imports happen inside the commands, so ``nodescope --help`` is instant.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from pipeline.options import STAINS, option_help
from pipeline.defaults import RULES

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="NodeScope: measure breast-cancer metastases in lymph-node histology.",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: reads well at 80 columns, no <bool> placeholders
)


def _print_version(value: bool) -> None:
    if value:
        from pipeline._version import __version__

        typer.echo(f"nodescope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
) -> None:
    """NodeScope: measure breast-cancer metastases in lymph-node histology."""


def _pixel_size_option(help: str):
    """The shared --pixel-size UM option, checked before any work."""
    return typer.Option(None, "--pixel-size", metavar="UM", help=help, callback=_check_pixel_size_option)


#: Library wording (keyword arguments) -> command-line wording (options), for messages shown by the CLI.
_CLI_WORDING = (
    (re.compile(r"pass pixel_size_um=\.\.\. \(CLI: --pixel-size UM\)"), "pass --pixel-size UM"),
    (re.compile(r"more than max_pixels=([\d,]+); pass a larger max_pixels=\.\.\. \(CLI: --max-megapixels\)"),
     lambda m: f"more than --max-megapixels {int(m.group(1).replace(',', '')) / 1e6:g}; "
               "pass a larger --max-megapixels"),
)


def cli_wording(message: str) -> str:
    """A library message as the command line says it: options instead of keyword arguments.

    Examples
    --------
    >>> cli_wording("a.tif: no pixel size in the file; pass pixel_size_um=... (CLI: --pixel-size UM)")
    'a.tif: no pixel size in the file; pass --pixel-size UM'
    >>> cli_wording("more than max_pixels=100,000; pass a larger max_pixels=... (CLI: --max-megapixels) if")
    'more than --max-megapixels 0.1; pass a larger --max-megapixels if'
    """
    for pattern, replacement in _CLI_WORDING:
        message = pattern.sub(replacement, message)
    return message


# the choices of the options object, as typer enums
Stain = Enum("Stain", [(c, c) for c in STAINS], type=str)
Rule = Enum("Rule", [(c, c) for c in RULES], type=str)


def _analysis_option(name: str, **kwargs):
    """A typer option for an :class:`~pipeline.options.AnalysisOptions` field: its flag,
    default and help come from the options object."""
    doc = option_help(name)
    default = doc["default"]
    if doc["choices"]:
        default = (Stain if name == "stain" else Rule)(default)
    unit = f" ({doc['unit']})" if doc["unit"] else ""
    return typer.Option(default, doc["cli"], help=doc["help"] + unit, **kwargs)


def _err(message: str) -> None:
    typer.secho(cli_wording(message), fg=typer.colors.RED, err=True)


def _bad_option(message: str):
    """A bad option value: one line on stderr, exit code 2, before any work."""
    _err(message)
    raise typer.Exit(2)


def _check_pixel_size_option(value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    from pipeline._validate import PixelSizeError, check_pixel_size

    try:
        return check_pixel_size(value, name="--pixel-size")
    except PixelSizeError as exc:
        _bad_option(str(exc))


def _check_max_megapixels(value: float) -> float:
    import math

    if not math.isfinite(value) or value <= 0:
        _bad_option(f"--max-megapixels must be a number of megapixels > 0, got {value:g}; e.g. 2000")
    return value


def _check_scheduler_option(value: Optional[str]) -> Optional[str]:
    if value is None or not value.strip():
        return None
    from pipeline.parallel import check_scheduler_address

    try:
        return check_scheduler_address(value, name="--scheduler")
    except ValueError as exc:
        _bad_option(str(exc))


class _LogFile:
    """Append the library's log records (``pipeline.*``, INFO and up; DEBUG too with --debug) to a file."""

    def __init__(self, path: Path, *, debug: bool = False):
        self.path = path
        self.debug = debug

    def __enter__(self):
        import logging

        level = logging.DEBUG if self.debug else logging.INFO
        self.logger = logging.getLogger("pipeline")
        self.handler = logging.FileHandler(self.path, mode="a", encoding="utf-8")
        self.handler.setLevel(level)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
        self.old_level = self.logger.level
        if self.logger.getEffectiveLevel() > level:
            self.logger.setLevel(level)
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc_info):
        self.logger.removeHandler(self.handler)
        self.handler.close()
        self.logger.setLevel(self.old_level)
        return False


@app.command()
def analyze(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    pixel_size: Optional[float] = _pixel_size_option("Pixel size in µm per pixel; overrides the file's."),
    stain: Stain = _analysis_option("stain"),
    rule: Rule = _analysis_option("rule"),
    link_um: float = _analysis_option("link_um", min=0.0),
    contact_um: float = _analysis_option("contact_um", min=0.0),
    dab_threshold: float = _analysis_option("dab_threshold", min=0.0),
    dab_hysteresis: float = _analysis_option("dab_hysteresis", min=0.0, max=1.0),
    model: Optional[Path] = _analysis_option("model", dir_okay=False),
    tumour_threshold: Optional[float] = _analysis_option("tumour_threshold"),
    seed_probability: Optional[float] = _analysis_option("seed_probability"),
    seed_cells: Optional[int] = _analysis_option("seed_cells", min=1),
    wsi_threshold_mp: float = _analysis_option("wsi_threshold_mp", min=0.0),
    nucleus_pixel_size: float = _analysis_option("nucleus_pixel_size_um", min=0.0),
    max_megapixels: float = typer.Option(
        1000.0, "--max-megapixels", callback=_check_max_megapixels,
        help="Refuse images above this many megapixels that would be loaded whole (about 3 MB "
             "of memory per megapixel); whole-slide mode (--wsi-threshold-mp) is exempt.",
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-j", min=1,
        help="Cores to use on this machine (default: all). With --scheduler: the most images in flight.",
    ),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", envvar="NODESCOPE_SCHEDULER", callback=_check_scheduler_option,
        help="Run on a Dask cluster: address of its scheduler, e.g. tcp://HOST:8786 "
             "(workers must see the same paths). See docs/cluster.md.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Redo images whose results are already complete and up to date.",
    ),
    geojson: bool = typer.Option(True, "--geojson/--no-geojson", help="Write objects.geojson (QuPath) per image."),
    parquet: bool = typer.Option(False, "--parquet", help="Also write cells.parquet and deposits.parquet."),
    all_nuclei: bool = typer.Option(False, "--all-nuclei",
                                    help="Export every nucleus with its class and tumour probability."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html for the batch."),
    patients: Optional[Path] = typer.Option(
        None, "--patients", exists=True, dir_okay=False,
        help="CSV with columns 'patient' and 'image': adds patient pN stages to the report.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Analyse lymph-node images: tumour deposits, largest diameter, node category.

    Images run in parallel; finished images are skipped on a re-run (same file,
    same parameters), so an interrupted batch (Ctrl-C, a crash) resumes where it
    stopped. Each failing image gets one line here and in errors.csv; the exit
    code is 1 when any image failed, 2 for bad options, 130 after Ctrl-C.
    """
    from pipeline.options import AnalysisOptions

    try:
        options = AnalysisOptions(stain=stain.value, rule=rule.value, link_um=link_um,
                                  contact_um=contact_um, dab_threshold=dab_threshold,
                                  dab_hysteresis=dab_hysteresis, model=None if model is None else str(model),
                                  tumour_threshold=tumour_threshold, seed_probability=seed_probability,
                                  seed_cells=seed_cells, wsi_threshold_mp=wsi_threshold_mp,
                                  nucleus_pixel_size_um=nucleus_pixel_size, all_nuclei=all_nuclei)
    except (TypeError, ValueError) as exc:
        _bad_option(str(exc))
    if model is not None:  # a bad model file fails here, before any image is read
        from pipeline.he_cells import load_he_cell_model

        try:
            load_he_cell_model(model)
        except (OSError, ValueError) as exc:
            _bad_option(f"--model {model}: {exc}")
    try:
        _analyze(inputs, out, pixel_size, options, max_megapixels, workers, scheduler, overwrite,
                 geojson, parquet, report, patients, quiet, debug)
    except KeyboardInterrupt as exc:  # Ctrl-C outside the batch, or BatchInterrupted from it
        if debug:
            raise
        summary = getattr(exc, "report", None)
        done = f"{len(summary.rows)} finished image(s) kept in {out}; " if summary is not None else ""
        abandoned = summary.abandoned if summary is not None else []
        if abandoned:
            _err(f"stopped: {done}{len(abandoned)} running image(s) abandoned, nothing of them written; "
                 "run the same command again to resume")
            # their threads write nothing more; end the way an interrupted Unix program does
            # (default SIGINT), not through interpreter shutdown, which would wait for or
            # abort native threads still computing (ONNX Runtime, OpenCV: "terminate called")
            _die_by_sigint()
        else:
            _err(f"interrupted: {done}run the same command again to resume")
        raise typer.Exit(130) from None


def _die_by_sigint():
    import signal

    sys.stdout.flush()
    sys.stderr.flush()
    if hasattr(signal, "SIGINT") and hasattr(os, "kill"):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def _analyze(inputs, out, pixel_size, options, max_megapixels, workers, scheduler, overwrite,
             geojson, parquet, report, patients, quiet, debug):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    from pipeline.batch import check_patients, find_images, one_line, run_batch
    from pipeline.inputs import input_root, no_images_message
    from pipeline.export import check_writable

    try:
        paths = find_images(inputs, exclude=out)
    except FileNotFoundError as exc:
        _err(str(exc))
        raise typer.Exit(2)
    except OSError as exc:  # e.g. a folder that cannot be listed
        _err(f"cannot list the inputs: {one_line(exc)}")
        raise typer.Exit(2)
    if not paths:
        _err(no_images_message(inputs, exclude=out))
        raise typer.Exit(2)
    mapping = None
    if patients is not None:
        try:
            mapping = check_patients(patients, paths, root=input_root(inputs))
        except ValueError as exc:
            _err(f"--patients: {exc}")
            raise typer.Exit(2)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _err(f"{out}: cannot create the output folder ({one_line(exc)})")
        raise typer.Exit(2)
    try:  # before any work: nothing is written when the folder is read-only (or the disk full)
        check_writable(out)
    except OSError as exc:
        reason = exc.strerror or one_line(exc)
        _err(f"{out}: cannot write to the output folder ({reason[:1].lower() + reason[1:]}); "
             "choose another --out or fix its permissions")
        raise typer.Exit(2)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    progress = Progress(
        TextColumn("[bold]analysing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), disable=quiet, transient=False, console=console,
    )
    with _LogFile(out / "nodescope.log", debug=debug), progress:
        task = progress.add_task("", total=len(paths))

        def on_progress(done, total, name, error):
            if error:  # one line per failed image, as it happens (also with --quiet)
                console.print(Text(error, style="red"))
            progress.update(task, completed=done, description=name)
            with bar_lock:  # an image that failed half-way leaves no bar behind
                for key in [k for k in tile_tasks if k[1] == name]:
                    progress.remove_task(tile_tasks.pop(key))

        tile_tasks, bar_lock = {}, threading.Lock()

        def sub_bar(key, text, done, total):
            # a bar per running image's map and tiles, called from the worker threads; removed
            # when complete, so that only the images in progress show one
            with bar_lock:
                if key not in tile_tasks:
                    tile_tasks[key] = progress.add_task(text, total=total)
                if done >= total:
                    progress.remove_task(tile_tasks.pop(key))
                else:
                    progress.update(tile_tasks[key], completed=done)

        def on_tile(name, done, total):
            sub_bar(("tiles", name), f"  tiles of {name}", done, total)

        def on_map(name, done, total):  # H&E: the tumour map's chunks, before the tiles
            sub_bar(("map", name), f"  tumour map of {name}", done, total)

        def on_interrupt(running):  # Ctrl-C while images run: say so at once
            console.print(Text(f"Interrupted: finishing {running} running image(s); "
                               "press Ctrl-C again to stop now", style="yellow"))

        try:
            result = run_batch(
                inputs, out, options=options, pixel_size_um=pixel_size, workers=workers, scheduler=scheduler,
                overwrite=overwrite, on_progress=on_progress, on_tile=on_tile, on_map=on_map,
                on_interrupt=on_interrupt, error_wording=cli_wording,
                geojson=geojson, parquet=parquet, report=report, patients=mapping,
                max_pixels=max(1, int(max_megapixels * 1e6)),
            )
        except ConnectionError as exc:
            if debug:
                raise
            _err(f"--scheduler: {one_line(exc)}")
            raise typer.Exit(2)
        except Exception as exc:
            if debug:
                raise
            _err(f"{out}: {one_line(exc)}")
            raise typer.Exit(1)
    if debug:
        for path, text in result.tracebacks.items():
            _err(f"traceback of {path}:\n{text.rstrip()}")
    n_ok, n_skip, n_bad = len(result.analysed), len(result.skipped), len(result.errors)
    typer.echo(f"{n_ok} image(s) analysed, {n_skip} skipped (already done), {n_bad} failed; "
               f"results in {out.resolve()}")
    if n_bad:
        typer.echo(f"failures are listed in {(out / 'errors.csv').resolve()}")
        raise typer.Exit(1)


@app.command()
def stage(
    inputs: List[Path] = typer.Argument(..., help="summary.json files or result folders."),
    patients: Optional[Path] = typer.Option(
        None, "--patients",
        help="CSV with columns 'patient' and 'image' mapping images to patients; 'image' is a path "
             "(absolute, relative to the CSV, or as in summary.csv's 'path' column) or a file name "
             "that no other result shares.",
    ),
    sentinel: bool = typer.Option(False, "--sentinel", help="Add the (sn) suffix."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV file to write (default: standard output)."),
) -> None:
    """Combine node summaries into patient pN stages (CSV).

    Nodes are matched to patients by path (see --patients); without a table
    only CAMELYON17 names (patient_004_node_3.tif) are staged. A node that is
    not assessable is left out of its patient's pN (pNX when no node is
    assessable) and named on standard error and in nodes_not_assessable; a node
    with tumour found in H&E is named in nodes_to_confirm (confirm with
    cytokeratin IHC).
    """
    from pipeline.patients import load_summaries, stage_patients

    try:
        nodes = load_summaries(inputs)
        table = stage_patients(nodes, patients=patients, sentinel=sentinel)
    except (OSError, ValueError) as exc:
        _err(str(exc))
        raise typer.Exit(2)
    for row in table.itertuples(index=False):
        if row.nodes_not_assessable:
            typer.echo(f"{row.patient}: left out of the pN stage ({row.pn_stage}), not assessable: "
                 f"{row.nodes_not_assessable}", err=True)
        if row.nodes_to_confirm:
            typer.echo(f"{row.patient}: tumour found in H&E, confirm with cytokeratin IHC: "
                       f"{row.nodes_to_confirm}", err=True)
    if out is None:
        table.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        from pipeline.export import write_table

        write_table(out, table)
        typer.echo(f"{len(table)} patient(s) staged; written to {out}")


@app.command()
def train(
    images: List[Path] = typer.Argument(..., help="Labelled H&E images (files or folders)."),
    labels: List[Path] = typer.Option(
        ..., "--labels", "-l",
        help="Label files or folders: QuPath GeoJSON exports named like their image, CSVs of points "
             "(x_um, y_um, label[, image]) or NodeScope review_labels.csv files.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Model file to write (.json)."),
    pixel_size: Optional[float] = _pixel_size_option("Pixel size in µm per pixel; overrides the files'."),
    base: Optional[Path] = typer.Option(None, "--base", dir_okay=False, help="Model to start from (default: the shipped one)."),
    class_map: List[str] = typer.Option(
        [], "--class-map", help="NAME=tumour|other|ignore for a class name NodeScope does not know (repeatable).",
    ),
    min_per_class: int = typer.Option(20, "--min-per-class", min=1, help="Fewest labelled nuclei per class."),
    match_um: float = typer.Option(8.0, "--match-um", min=0.5, help="A point labels the nearest nucleus within this distance (µm)."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Fine-tune the H&E tumour-cell model on your own labelled images.

    Prints the labels used, cross-validated accuracy on them (new model and the
    base model) and writes the model; use it with `nodescope analyze --model FILE`.
    """
    from pipeline.inputs import find_images, no_images_message
    from pipeline.node_folder import one_line
    from pipeline.training import train_he_model

    mapping = {}
    for item in class_map:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            _bad_option(f"--class-map must look like NAME=tumour (or other, ignore), got {item!r}")
        mapping[name.strip()] = value.strip()
    try:
        paths = find_images(images)
    except FileNotFoundError as exc:
        _bad_option(str(exc))
    if not paths:
        _bad_option(no_images_message(images))
    try:
        report = train_he_model(paths, labels, pixel_size_um=pixel_size, base=base, class_map=mapping,
                                match_um=match_um, min_per_class=min_per_class)
    except (OSError, ValueError) as exc:
        if debug:
            raise
        _err(one_line(exc))
        raise typer.Exit(2)
    for line in report.warnings:
        _err(f"warning: {line}")
    cv = report.cv
    typer.echo(f"labelled nuclei: {report.counts['tumour']} tumour, {report.counts['other']} other, "
               f"from {len(report.counts['images'])} image(s)")
    typer.echo(f"cross-validated on your labels ({cv['folds']}): AUC {cv['auc']:.3f}, accuracy {cv['accuracy']:.3f} "
               f"(base model: AUC {cv['base_auc']:.3f}, accuracy {cv['base_accuracy']:.3f})")
    try:
        report.model.save(out)
    except OSError as exc:
        _err(f"{out}: cannot write the model ({one_line(exc)})")
        raise typer.Exit(1)
    typer.echo(f"model written to {out} in {report.seconds:.0f} s; use it with: nodescope analyze ... --model {out}")


@app.command()
def info(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders."),
    pixel_size: Optional[float] = _pixel_size_option(
        "Pixel size in µm per pixel; overrides the files' (shows what analyze would use)."),
) -> None:
    """Show each image's size, format and pixel size as NodeScope reads it."""
    from pipeline.batch import find_images, one_line
    from pipeline.inputs import no_images_message
    from pipeline.io import image_info

    try:
        paths = find_images(inputs)
    except FileNotFoundError as exc:
        _err(str(exc))
        raise typer.Exit(2)
    if not paths:
        _err(no_images_message(inputs))
        raise typer.Exit(2)
    bad = 0
    for path in paths:
        try:
            details = image_info(path, pixel_size_um=pixel_size)  # the header only: any size
        except Exception as exc:
            bad += 1
            msg = one_line(exc)
            _err(msg if msg.startswith(path.name) else f"{path.name}: {msg}")
            continue
        px = details.pixel_size_um
        if px is None:  # no usable pixel size and no --pixel-size: what analyze would say
            bad += 1
            _err(details.pixel_size_error)
            continue
        m, n = details.shape
        typer.echo(
            f"{path.name}: {n} x {m} px, {details.format}, {px:.4g} µm/px "
            f"({details.pixel_size_source}), {n * px / 1000:.2f} x {m * px / 1000:.2f} mm"
        )
    if bad:
        raise typer.Exit(1)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
