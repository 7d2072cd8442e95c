"""The ``nodescope`` command line: a thin shell over :mod:`pipeline.batch`.

Heavy imports happen inside the commands, so ``nodescope --help`` is instant.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="NodeScope: measure breast-cancer metastases in lymph-node histology.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


class Stain(str, Enum):
    auto = "auto"
    he = "he"
    ihc = "ihc"


class Rule(str, Enum):
    camelyon = "camelyon"
    contiguous = "contiguous"


def _err(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)


def _check_pixel_size_option(value: Optional[float]) -> Optional[float]:
    if value is None:
        return None
    from pipeline._validate import PixelSizeError, check_pixel_size

    try:
        return check_pixel_size(value, name="--pixel-size")
    except PixelSizeError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def analyze(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders (searched recursively)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    pixel_size: Optional[float] = typer.Option(
        None, "--pixel-size", help="Pixel size in µm per pixel; overrides the file's.",
        callback=_check_pixel_size_option,
    ),
    stain: Stain = typer.Option(Stain.auto, "--stain", help="auto decides H&E vs IHC from the image."),
    rule: Rule = typer.Option(Rule.camelyon, "--rule", help="Deposit linking rule."),
    link_um: float = typer.Option(75.0, "--link-um", min=0.0, help="Linking distance of the camelyon rule, µm."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
) -> None:
    """Analyse lymph-node images: tumour deposits, largest diameter, node category."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.batch import find_images, run_batch

    try:
        paths = find_images(inputs)
    except FileNotFoundError as exc:
        _err(str(exc))
        raise typer.Exit(2)
    if not paths:
        _err(f"no supported images found in {', '.join(map(str, inputs))}")
        raise typer.Exit(2)
    progress = Progress(
        TextColumn("[bold]analysing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), disable=quiet, transient=False,
    )
    with progress:
        task = progress.add_task("", total=len(paths))

        def on_progress(done, total, name, error):
            if error:
                progress.console.print(f"[red]{error}[/red]", highlight=False, soft_wrap=True)
            progress.update(task, completed=done, description=name)

        try:
            report = run_batch(
                paths, out, pixel_size_um=pixel_size, on_progress=on_progress,
                stain=stain.value, rule=rule.value, link_um=link_um,
            )
        except Exception as exc:
            if debug:
                raise
            from pipeline.batch import one_line

            _err(f"{out}: {one_line(exc)}")
            raise typer.Exit(1)
    if quiet:
        for row in report.errors:
            _err(row["error"])
    n_ok, n_bad = len(report.rows), len(report.errors)
    typer.echo(f"{n_ok} image(s) analysed, {n_bad} failed; results in {out.resolve()}")
    if n_bad:
        typer.echo(f"failures are listed in {(out / 'errors.csv').resolve()}")
        raise typer.Exit(1)


@app.command()
def stage(
    inputs: List[Path] = typer.Argument(..., help="summary.json files or result folders."),
    patients: Optional[Path] = typer.Option(
        None, "--patients", help="CSV with columns 'patient' and 'image' mapping images to patients.",
    ),
    sentinel: bool = typer.Option(False, "--sentinel", help="Add the (sn) suffix."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="CSV file to write (default: standard output)."),
) -> None:
    """Combine node summaries into patient pN stages (CSV)."""
    from pipeline.patients import load_summaries, stage_patients

    try:
        nodes = load_summaries(inputs)
        table = stage_patients(nodes, patients=patients, sentinel=sentinel)
    except (OSError, ValueError) as exc:
        _err(str(exc))
        raise typer.Exit(2)
    if out is None:
        table.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        from pipeline.export import write_table

        write_table(out, table)
        typer.echo(f"{len(table)} patient(s) staged; written to {out}")


@app.command()
def info(
    inputs: List[Path] = typer.Argument(..., help="Image files and/or folders."),
    pixel_size: Optional[float] = typer.Option(None, "--pixel-size", callback=_check_pixel_size_option),
) -> None:
    """Show each image's size, format and pixel size as NodeScope reads it."""
    from pipeline.batch import find_images, one_line
    from pipeline.io import read_image

    bad = 0
    for path in find_images(inputs):
        try:
            rgb, px, meta = read_image(path, pixel_size_um=pixel_size)
        except Exception as exc:
            bad += 1
            msg = one_line(exc)
            _err(msg if msg.startswith(path.name) else f"{path.name}: {msg}")
            continue
        m, n = rgb.shape[:2]
        typer.echo(
            f"{path.name}: {n} x {m} px, {meta.get('format')}, {px:.4g} µm/px "
            f"({meta.get('pixel_size_source')}), {n * px / 1000:.2f} x {m * px / 1000:.2f} mm"
        )
    if bad:
        raise typer.Exit(1)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
