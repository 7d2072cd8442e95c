"""The "Analyze lymph node" dock widget: run NodeScope, review the tumour cells, re-measure, export.

A thin Qt panel: each button calls one named method (:meth:`AnalyzeWidget.run`,
:meth:`~AnalyzeWidget.remeasure`, :meth:`~AnalyzeWidget.delete_selected_deposit`,
:meth:`~AnalyzeWidget.export`, :meth:`~AnalyzeWidget.train_from_reviews`, ...)
that delegates to the library: the analysis to
:func:`pipeline.analysis.analyze_file` / :func:`~pipeline.analysis.analyze`
(:func:`napari_plugin._controller.analysis_steps`, in a ``thread_worker``;
``run(sync=True)`` runs it on the calling thread), the review to
:class:`pipeline.review.Review`, the files to
:func:`pipeline.export.write_node_outputs`, the training on the session's
reviews to :mod:`pipeline.training` (:class:`ReviewTrainer`,
:func:`napari_plugin._controller.training_steps`, in a ``thread_worker`` too).
The napari layers are the business of
:class:`napari_plugin._controller.LayerController`; the controls (options form
with the H&E :class:`~napari_plugin._controls.ModelPicker`, deposits table,
buttons) are in :mod:`napari_plugin._controls`. The controls take their
choices and defaults from :class:`pipeline.options.AnalysisOptions`. Each image
layer keeps its own result (:class:`napari_plugin._results.PanelResults`): the
panel shows the chosen image's, and Export and the review act on it only.
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QProgressBar, QPushButton, QVBoxLayout, QWidget

from pipeline.labels import REVIEW_LABELS_FILE
from pipeline.options import AnalysisOptions
from pipeline.review import Review
from pipeline.training import MIN_LABELS_PER_CLASS

from . import _layers
from ._controller import (
    STEPS,
    LayerController,
    ReviewedImages,
    analysis_steps,
    count_slot,
    drive,
    layer_pixel_size,
    parse_pixel_size,
    training_steps,
)
from ._controls import DepositTable, ModelPicker, OptionsForm, one_line, review_buttons, text_label
from ._results import NO_RESULT, PanelResults

__all__ = ["AnalyzeWidget", "ReviewTrainer", "ModelPicker"]


def _write_outputs(folder, result, review, image) -> Path:
    """The CLI's files with GeoJSON, and ``review_labels.csv`` for a re-measured result."""
    from pipeline.export import write_node_outputs, write_table

    folder = Path(folder)
    if result.review is not None and review is not None:
        folder.mkdir(parents=True, exist_ok=True)
        write_table(folder / REVIEW_LABELS_FILE, review.labels())  # before summary.json
    return write_node_outputs(folder, result, image, geojson=True)


def _training_summary(report, path: Path, warnings, seconds: float) -> str:
    """One status line: what was learned from, the cross-validated figures, where it went."""
    cv, counts = report.cv, report.counts
    line = (f"Trained on {counts['tumour']} tumour / {counts['other']} other cells of "
            f"{len(counts['images'])} image(s) in {seconds:.0f} s: cross-validated AUC "
            f"{cv['auc']:.2f}, accuracy {cv['accuracy']:.2f} (base model {cv['base_auc']:.2f} / "
            f"{cv['base_accuracy']:.2f}). Saved {path.name}, now the H&E model.")
    if warnings:
        line += f" {len(warnings)} warning(s): {warnings[0]}"
    return line


class ReviewTrainer:
    """"Train from reviewed images" for an :class:`AnalyzeWidget`.

    Gathers the reviews of every image analysed in the session
    (:class:`napari_plugin._controller.ReviewedImages`: cells the reviewer
    added are tumour, cells deleted or excluded are not), fine-tunes the model
    chosen in the panel's picker (or the shipped one) on them with
    :func:`napari_plugin._controller.training_steps` (a ``thread_worker``
    unless ``sync``), saves the model where asked, selects it in the picker and
    shows the cross-validated AUC and accuracy on the labels, and the base
    model's, in the status line. Too few labels, or any error, give one line
    there.
    """

    def __init__(self, panel):
        self.panel = panel
        self.session = ReviewedImages()
        self.report = None

    def train(self, path=None, *, sync: bool = False, min_per_class: int = MIN_LABELS_PER_CLASS):
        """Train; returns the TrainingReport (sync), a started worker, or None (reason shown)."""
        panel = self.panel
        if not panel._read_edits():
            return None
        try:
            images, _ = self.session.training_set(min_per_class=min_per_class)
        except ValueError as exc:
            panel.set_status(" ".join(str(exc).split()), error=True)
            return None
        path = path or self._ask_path()
        if not path:
            return None
        panel._busy()
        started = time.perf_counter()
        try:
            out = drive(training_steps, images, sync=sync,
                        on_step=lambda step: panel.set_status(f"{step[1]}…"),
                        on_returned=lambda value: self._on_trained(value, started),
                        on_error=panel._on_error, on_finished=panel._on_finished,
                        total=len(images) + 2, desc="NodeScope training", path=path,
                        base=panel.picker.model_path(), min_per_class=min_per_class)
        except Exception:  # noqa: BLE001 - already shown in the panel by _on_error
            return None
        if sync:
            return self.report
        panel._worker = out
        return out

    def _on_trained(self, value, started: float):
        self.report, path, warnings = value
        self.panel.picker.choose_model(path)
        self.panel.set_status(_training_summary(self.report, path, warnings,
                                                time.perf_counter() - started))

    def _ask_path(self):
        path, _ = QFileDialog.getSaveFileName(self.panel, "Save the trained H&E model",
                                              "he_cell_model_trained.json",
                                              "NodeScope H&E model (*.json)")
        return Path(path).with_suffix(".json") if path else None


class AnalyzeWidget(QWidget):
    """Dock widget "Analyze lymph node".

    Attributes
    ----------
    result : NodeResult or None
        The result shown (after any re-measure): the chosen image's, or None.
    analysed : NodeResult or None
        The result of the last Run, before review (``review.analysed``).
    review : pipeline.review.Review or None
        The edits of the shown analysis.
    image : (M, N, 3) uint8 ndarray or None
        The picture of the analysed image for the exported overlay (the slide's
        overview in whole-slide mode).
    base_options : AnalysisOptions
        The options the panel does not show; Run uses them with the panel's.
    picker : ModelPicker
        The H&E model and tumour threshold of a Run.
    results : napari_plugin._results.PanelResults
        Each image layer's own result; the panel shows the chosen image's.
    trainer : ReviewTrainer
        Its ``session`` keeps the review and pixels of every image analysed.
    last_remeasure_s : float or None
        Wall time of the last :meth:`remeasure`, seconds.
    """

    #: (tiles done, tiles total) of the analysis' nuclear segmentation; emitted from the worker thread.
    tile_done = Signal(int, int)
    #: (chunks done, chunks total) of the tumour map of an H&E image (before its tiles).
    map_chunk_done = Signal(int, int)

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.layers = LayerController(napari_viewer)
        self.review = self.result = self.image = None
        self.base_options = AnalysisOptions()
        self.results = PanelResults(self)
        self.trainer = ReviewTrainer(self)
        self.last_remeasure_s = None
        self._worker = None
        self._build()
        self.layer_combo.watch(napari_viewer)
        self.layer_combo.chosen.connect(self.results.chosen)
        napari_viewer.layers.events.removed.connect(self.results.removed)

    def _build(self):
        self.form = f = OptionsForm()
        self.layer_combo, self.stain_combo, self.rule_combo = f.layer_combo, f.stain_combo, f.rule_combo
        self.link_spin, self.pixel_edit, self.picker = f.link_spin, f.pixel_edit, f.picker
        self.run_button, self.progress = QPushButton("Run"), QProgressBar()
        self.progress.setRange(0, len(STEPS))
        self.status_label = text_label()
        self.results_label = text_label(NO_RESULT, rich=True)
        self.table = DepositTable()
        self.review_buttons, review = review_buttons()
        (self.add_cells_button, self.exclude_button, self.delete_deposit_button,
         self.remeasure_button, self.export_button, self.train_button) = self.review_buttons
        for button, method in ((self.run_button, self.run), (self.remeasure_button, self.remeasure),
                               (self.add_cells_button, self.start_adding_cells),
                               (self.exclude_button, self.start_exclude_region),
                               (self.delete_deposit_button, self.delete_selected_deposit),
                               (self.export_button, self._export_dialog),
                               (self.train_button, self.train_from_reviews)):
            button.clicked.connect(lambda checked=False, m=method: m())
        layout = QVBoxLayout(self)
        for w in (f, self.run_button, self.progress, self.status_label, self.results_label,
                  self.table, review):
            layout.addWidget(w)
        layout.addStretch(1)
        f.message.connect(lambda text, error: self.set_status(text, error=error))
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.tile_done.connect(count_slot(self, "tile"))
        self.map_chunk_done.connect(count_slot(self, "tumour map"))
        self._set_review_enabled(False)

    def _set_review_enabled(self, on: bool):  # Train works on the session's reviews
        idle_session = self._worker is None and len(self.trainer.session) > 0
        for button in self.review_buttons:
            button.setEnabled(on or (button is self.train_button and idle_session))

    def _busy(self):  # while a worker runs; _on_finished undoes it
        self.run_button.setEnabled(False)
        self._set_review_enabled(False)

    def set_status(self, text: str, *, error: bool = False):
        """Show one line in the panel (red for errors)."""
        self.status_label.setStyleSheet("color: #ff6b6b;" if error else "")
        self.status_label.setText(text)

    # ------------------------------------------------------------ image layers

    image_layer = property(lambda self: self.layers.image_layer,
                           lambda self, layer: setattr(self.layers, "image_layer", layer),
                           doc="The image layer whose result is shown (the result layers sit on it).")

    @property
    def analysed(self):
        return None if self.review is None else self.review.analysed

    layer_pixel_size = staticmethod(layer_pixel_size)

    def select_layer(self, layer):
        """Choose the image layer to analyse."""
        self.layer_combo.select(layer)

    def selected_layer(self):
        """The image layer chosen in the panel, or None."""
        return self.layer_combo.layer()

    # ---------------------------------------------------------------- analysis

    def pixel_size(self) -> float:
        """The pixel size typed in the panel, validated (raises ValueError with a message)."""
        return parse_pixel_size(self.pixel_edit.text())

    def parameters(self) -> dict:
        """Stain, rule, link distance, H&E model and tumour threshold chosen in the panel."""
        return self.form.parameters()

    def options(self) -> AnalysisOptions:
        """The options of a Run: :attr:`base_options` with the panel's choices."""
        return self.base_options.replace(**self.parameters())

    def _prepare(self):
        """Validate the panel; return (layer, pixel size) or None after showing why."""
        try:
            layer, px = self.form.layer_and_pixel_size()
        except ValueError as exc:
            self.set_status(str(exc), error=True)
            return None
        if self.layers.calibrate(layer, px):
            self.viewer.reset_view()  # the image changed size on screen (pixels -> µm)
        return layer, px

    def run(self, *, sync: bool = False):
        """Analyse the chosen image with the panel's options.

        A layer read from a file is analysed from its file like the command line
        does (a large slide tile by tile); other layers from their pixels.

        Parameters
        ----------
        sync : bool, keyword-only
            Run on the calling thread and return the NodeResult (else a
            ``thread_worker`` is started and returned).

        Returns
        -------
        NodeResult, worker or None
            None when the panel is not ready (the reason is shown in the panel).
        """
        prepared = self._prepare()
        if prepared is None:
            return None
        layer, px = prepared
        self._read_edits(quiet=True)  # the edits of the image shown stay in the session
        self.image_layer = layer
        self._busy()
        self.progress.setValue(0)
        self.set_status("Analysing…")
        out = drive(analysis_steps, layer, sync=sync, on_step=self._on_step,
                    on_returned=self.results.returned_for(layer), on_error=self._on_error,
                    on_finished=self._on_finished, pixel_size_um=px, options=self.options(),
                    on_tile=self.tile_done.emit, on_map=self.map_chunk_done.emit)
        if sync:
            return self.result
        self._worker = out
        return out

    @property
    def running(self) -> bool:
        """True while an analysis worker runs."""
        return self._worker is not None

    def _on_step(self, step):
        self.progress.setValue(step[0])
        self.set_status(f"{step[1]}…")

    def _on_error(self, exc):
        self.progress.setValue(0)
        self.set_status(f"Error: {one_line(exc)}", error=True)

    def _on_finished(self):
        self._worker = None
        self.run_button.setEnabled(True)
        self._set_review_enabled(self.result is not None)

    # ---------------------------------------------------------------- results

    def show_result(self, result, *, analysed: bool = True):
        """Show a result: layers, panel text and deposits table (``analysed``: a new review)."""
        if analysed:
            self.review = Review(result)
            self.trainer.session.remember(self.image_layer, self.review, self.image)
        self.result = result
        self.results.keep(self.image_layer, result, self.review, self.image)
        self.layers.show(result, new_review=analysed)
        self.results_label.setText(_layers.summary_text(result))
        self.table.show_rows(_layers.deposit_rows(result))
        self._set_review_enabled(self._worker is None)

    def table_deposit_ids(self) -> list[int]:
        """Deposit ids in the table's current (sorted) order."""
        return self.table.deposit_ids()

    def selected_deposit(self) -> int | None:
        """Deposit id of the selected table row, or None."""
        return self.table.selected_deposit()

    def select_deposit(self, deposit_id: int):
        """Select a deposit's row in the table (which centres the view on it)."""
        self.table.select_deposit(deposit_id)

    def focus_deposit(self, deposit_id: int):
        """Centre and zoom the camera on a deposit."""
        self.layers.focus(self.result, deposit_id)

    def _on_table_selection(self):
        deposit_id = self.selected_deposit()
        if deposit_id is not None and deposit_id in set(self.result.deposits["deposit_id"]):
            self.focus_deposit(deposit_id)

    # ------------------------------------------------------------------ review

    def start_adding_cells(self):
        """Select the tumour-cell layer in add mode (click to add missed cells)."""
        if self.layers.start_adding_cells():
            self.set_status("Click on missed tumour cells, then press Re-measure.")

    def start_exclude_region(self):
        """Select the exclusion layer in polygon mode."""
        self.layers.start_exclude_region()
        self.set_status("Draw a polygon around the benign inclusion (double-click to close), "
                        "then press Re-measure.")

    def _read_edits(self, *, quiet: bool = False) -> bool:
        """Hand the layers' points and exclusion shapes to the review; False (shown) if impossible."""
        try:
            if self.review is not None:
                self.layers.read_edits(self.review)
        except (LookupError, ValueError) as exc:  # layer gone, points off the image
            if not quiet:
                self.set_status(str(exc), error=True)
            return False
        return True

    def delete_selected_deposit(self) -> int:
        """Remove the cells of the deposit selected in the table; returns how many."""
        deposit_id = self.selected_deposit()
        if deposit_id is None or self.review is None:
            self.set_status("Select a deposit in the table first.", error=True)
            return 0
        if not self._read_edits():
            return 0
        removed = self.review.delete_deposit(deposit_id)
        self.layers.remove_cells(removed)
        self.layers.remove_deposit(deposit_id)
        self.table.remove_deposit(deposit_id)
        self.set_status(f"Deposit {deposit_id} removed ({len(removed)} cells); press Re-measure.")
        return len(removed)

    def remeasure(self):
        """Re-stage the cells of the 'Tumour cells' layer minus the excluded regions.

        The review (:meth:`pipeline.review.Review.remeasure`: no re-segmentation)
        uses the panel's rule and link distance and records the edits in
        ``result.review``. Returns the new NodeResult (None when impossible).
        """
        if self.review is None:
            self.set_status("Run the analysis first.", error=True)
            return None
        t0 = time.perf_counter()
        if not self._read_edits():
            return None
        params = self.parameters()
        result = self.review.remeasure(rule=params["rule"], link_um=params["link_um"])
        self.show_result(result, analysed=False)
        self.last_remeasure_s = time.perf_counter() - t0
        self.set_status(f"Re-measured in {self.last_remeasure_s:.2f} s: "
                        f"{_layers.result_line(result)}.")
        return result

    # ------------------------------------------------------- export and training

    def export(self, folder) -> Path:
        """Write the shown (reviewed) result of the chosen image like the CLI, plus ``objects.geojson``.

        Files: ``cells.csv``, ``deposits.csv``, ``overlay.png``, ``objects.geojson``,
        for a re-measured result ``review_labels.csv`` (the review as training
        labels, :meth:`pipeline.review.Review.labels`), and ``summary.json`` (last).
        """
        if self.result is None:
            raise RuntimeError("nothing to export: run the analysis on the chosen image first")
        out = _write_outputs(folder, self.result, self.review, self.image)
        self.set_status(f"Exported to {out}")
        return out

    def _export_dialog(self):
        folder = QFileDialog.getExistingDirectory(self, "Export NodeScope results to folder")
        if not folder:
            return None
        try:
            return self.export(folder)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            self.set_status(f"Export failed: {one_line(exc)}", error=True)
            return None

    def train_from_reviews(self, path=None, *, sync=False, min_per_class=MIN_LABELS_PER_CLASS):
        """Fine-tune the H&E model on the session's reviews, save and select it (:class:`ReviewTrainer`).

        ``path``: where to save (default: asked); ``sync``: train here and return the
        TrainingReport (else a started worker); None (the reason in the status) when impossible.
        """
        return self.trainer.train(path, sync=sync, min_per_class=min_per_class)
