"""The "Analyze lymph node" dock widget: run NodeScope, review the tumour cells, re-measure, export.

A thin Qt panel: each button calls one named method (:meth:`AnalyzeWidget.run`,
:meth:`~AnalyzeWidget.remeasure`, :meth:`~AnalyzeWidget.delete_selected_deposit`,
:meth:`~AnalyzeWidget.export`, ...) that delegates to the library: the analysis
to :func:`pipeline.analysis.analyze_file` / :func:`~pipeline.analysis.analyze`
(:func:`napari_plugin._controller.analysis_steps`, in a ``thread_worker``;
``run(sync=True)`` runs it on the calling thread), the review to
:class:`pipeline.review.Review`, the files to
:func:`pipeline.export.write_node_outputs`. The napari layers are the business
of :class:`napari_plugin._controller.LayerController`. The controls take their
choices and defaults from :class:`pipeline.options.AnalysisOptions`.
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pipeline.options import AnalysisOptions, option_help
from pipeline.review import Review

from . import _layers
from ._controller import (
    STEPS,
    LayerController,
    analysis_steps,
    drive,
    is_rgb_image,
    layer_pixel_size,
    parse_pixel_size,
)

__all__ = ["AnalyzeWidget"]

#: Display names of the option values (the values themselves come from pipeline.options).
LABELS = {"auto": "auto", "he": "H&E", "ihc": "IHC", "camelyon": "CAMELYON (distance linking)",
          "contiguous": "contiguous (touching cells)"}
TABLE_COLUMNS = ("Deposit", "Cells", "Ø (mm)", "Pattern")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _combo(name: str) -> QComboBox:
    """A combo box of an option's choices, set to its default, with its help as tooltip."""
    doc = option_help(name)
    combo = QComboBox()
    for value in doc["choices"]:
        combo.addItem(LABELS.get(value, value), value)
    combo.setCurrentIndex(combo.findData(doc["default"]))
    combo.setToolTip(doc["help"])
    return combo


def _link_spin() -> QDoubleSpinBox:
    doc = option_help("link_um")
    spin = QDoubleSpinBox()
    spin.setRange(0.0, 2000.0)
    spin.setDecimals(1)
    spin.setSingleStep(5.0)
    spin.setValue(doc["default"])
    spin.setSuffix(f" {doc['unit']}")
    spin.setToolTip(doc["help"])
    return spin


def _label(text: str = "", *, rich: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if rich:
        label.setTextFormat(Qt.RichText)
    else:
        label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return label


def _button(text: str, tip: str = "") -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    return button


def _review_buttons():
    """The review buttons (add, exclude, delete deposit, re-measure, export) and their panel."""
    buttons = (
        _button("Add cells", "Click on the image to add missed tumour cells"),
        _button("Draw exclude region", "Draw a polygon around a benign inclusion; its cells are "
                "dropped at re-measure"),
        _button("Delete selected deposit"),
        _button("Re-measure", "Re-stage the cells left in the 'Tumour cells' layer "
                "(no re-segmentation)"),
        _button("Export…"),
    )
    panel = QWidget()
    grid = QGridLayout(panel)
    grid.setContentsMargins(0, 0, 0, 0)
    for i, button in enumerate(buttons[:4]):
        grid.addWidget(button, i // 2, i % 2)
    grid.addWidget(buttons[4], 2, 0, 1, 2)
    return buttons, panel


class ImageLayerCombo(QComboBox):
    """The RGB image layers of a viewer, kept up to date; a new one is chosen when added.

    ``chosen`` is emitted whenever the chosen layer changes.
    """

    chosen = Signal()

    def watch(self, viewer) -> None:
        """Follow ``viewer``'s layer list."""
        self._viewer = viewer
        self.currentIndexChanged.connect(lambda index: self.chosen.emit())
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self.refresh)
        self.refresh()

    def layer(self):
        """The chosen layer, or None."""
        return None if self.currentIndex() < 0 else self.currentData()

    def refresh(self, event=None) -> None:
        """List the RGB image layers again; keep the chosen one, else the active or newest."""
        current = self.layer()
        self.blockSignals(True)
        self.clear()
        for layer in filter(is_rgb_image, self._viewer.layers):
            self.addItem(layer.name, layer)
        items = [self.itemData(i) for i in range(self.count())]
        active = self._viewer.layers.selection.active
        self.setCurrentIndex(next((i for i, x in enumerate(items) if x is current),
                                  next((i for i, x in enumerate(items) if x is active),
                                       len(items) - 1)))
        self.blockSignals(False)
        if self.layer() is not current:
            self.chosen.emit()

    def _on_inserted(self, event) -> None:
        self.refresh()
        if is_rgb_image(event.value):
            event.value.events.name.connect(self.refresh)
            self.select(event.value)

    def select(self, layer) -> None:
        """Choose ``layer`` (ValueError when it is not listed)."""
        index = next((i for i in range(self.count()) if self.itemData(i) is layer), None)
        if index is None:
            raise ValueError(f"layer {getattr(layer, 'name', layer)!r} is not an RGB image "
                             "layer of this viewer")
        self.setCurrentIndex(index)


class OptionsForm(QWidget):
    """The analysis choices: image layer, stain, deposit rule, link distance, pixel size.

    The pixel size is pre-filled from the chosen layer; ``message`` (text, is
    error) says when the layer has none.
    """

    message = Signal(str, bool)

    def __init__(self):
        super().__init__()
        self.layer_combo, self.stain_combo, self.rule_combo = (ImageLayerCombo(), _combo("stain"),
                                                               _combo("rule"))
        self.link_spin, self.pixel_edit = _link_spin(), QLineEdit()
        self.pixel_edit.setPlaceholderText("µm per pixel (required)")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for label, control in (("Image", self.layer_combo), ("Stain", self.stain_combo),
                               ("Deposit rule", self.rule_combo), ("Link distance", self.link_spin),
                               ("Pixel size (µm)", self.pixel_edit)):
            form.addRow(label, control)
        self.layer_combo.chosen.connect(self._on_layer_chosen)

    def parameters(self) -> dict:
        return {"stain": self.stain_combo.currentData(), "rule": self.rule_combo.currentData(),
                "link_um": float(self.link_spin.value())}

    def layer_and_pixel_size(self):
        """(chosen layer, typed pixel size); ValueError saying what is missing."""
        layer = self.layer_combo.layer()
        if layer is None:
            raise ValueError("No RGB image layer: open a slide or a NodeScope sample first.")
        return layer, parse_pixel_size(self.pixel_edit.text())

    def _on_layer_chosen(self):
        layer = self.layer_combo.layer()
        px = None if layer is None else layer_pixel_size(layer)
        self.pixel_edit.setText("" if px is None else f"{px:.6g}")
        if layer is not None:
            self.message.emit("" if px is not None else f"{layer.name}: no pixel size in the "
                              "image - enter it (µm per pixel) before Run.", px is None)


class DepositTable(QTableWidget):
    """The deposits of a result, one row each (sortable, largest first); rows know their id."""

    def __init__(self):
        super().__init__(0, len(TABLE_COLUMNS))
        self.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSortingEnabled(True)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.horizontalHeaderItem(2).setToolTip("Longest diameter (maximum Feret), mm")
        self.setToolTip("Longest diameter (maximum Feret) of each deposit; click a row to zoom on it")
        self.setMinimumHeight(120)
        self.horizontalHeader().setSortIndicator(2, Qt.DescendingOrder)  # largest first

    def show_rows(self, rows) -> None:
        """Fill the table with :func:`napari_plugin._layers.deposit_rows` (emits no signal)."""
        self.blockSignals(True)
        self.setSortingEnabled(False)
        self.clearContents()
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem()
                item.setData(Qt.DisplayRole, value)
                item.setData(Qt.UserRole, int(row[0]))
                self.setItem(r, c, item)
        self.setSortingEnabled(True)
        self.blockSignals(False)

    def deposit_ids(self) -> list[int]:
        return [int(self.item(r, 0).data(Qt.UserRole)) for r in range(self.rowCount())]

    def selected_deposit(self) -> int | None:
        rows = sorted({i.row() for i in self.selectedItems()})
        return int(self.item(rows[0], 0).data(Qt.UserRole)) if rows else None

    def select_deposit(self, deposit_id: int) -> None:
        ids = self.deposit_ids()
        if int(deposit_id) not in ids:
            raise KeyError(f"no deposit {deposit_id} in the table")
        self.selectRow(ids.index(int(deposit_id)))

    def remove_deposit(self, deposit_id: int) -> None:
        self.blockSignals(True)
        self.removeRow(self.deposit_ids().index(int(deposit_id)))
        self.clearSelection()
        self.blockSignals(False)


class AnalyzeWidget(QWidget):
    """Dock widget "Analyze lymph node".

    Attributes
    ----------
    result : NodeResult or None
        The result shown (after any re-measure).
    analysed : NodeResult or None
        The result of the last Run, before review (``review.analysed``).
    review : pipeline.review.Review or None
        The edits of the shown analysis.
    image : (M, N, 3) uint8 ndarray or None
        The picture of the analysed image for the exported overlay (the slide's
        overview in whole-slide mode).
    base_options : AnalysisOptions
        The options the panel does not show; Run uses them with the panel's.
    last_remeasure_s : float or None
        Wall time of the last :meth:`remeasure`, seconds.
    """

    #: (tiles done, tiles total) of a whole-slide analysis; emitted from the worker thread.
    tile_done = Signal(int, int)

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.layers = LayerController(napari_viewer)
        self.review = None
        self.result = None
        self.image = None
        self.base_options = AnalysisOptions()
        self.last_remeasure_s = None
        self._worker = None
        self._build()
        self.layer_combo.watch(napari_viewer)

    def _build(self):
        self.form = OptionsForm()
        f = self.form
        self.layer_combo, self.stain_combo, self.rule_combo = f.layer_combo, f.stain_combo, f.rule_combo
        self.link_spin, self.pixel_edit = f.link_spin, f.pixel_edit
        self.run_button, self.progress = QPushButton("Run"), QProgressBar()
        self.progress.setRange(0, len(STEPS))
        self.status_label = _label()
        self.results_label = _label("No result yet: choose an image and press Run.", rich=True)
        self.table = DepositTable()
        (self.add_cells_button, self.exclude_button, self.delete_deposit_button,
         self.remeasure_button, self.export_button), review = _review_buttons()
        for button, method in ((self.run_button, self.run), (self.remeasure_button, self.remeasure),
                               (self.add_cells_button, self.start_adding_cells),
                               (self.exclude_button, self.start_exclude_region),
                               (self.delete_deposit_button, self.delete_selected_deposit),
                               (self.export_button, self._export_dialog)):
            button.clicked.connect(lambda checked=False, m=method: m())
        layout = QVBoxLayout(self)
        for w in (f, self.run_button, self.progress, self.status_label, self.results_label,
                  self.table, review):
            layout.addWidget(w)
        layout.addStretch(1)
        f.message.connect(lambda text, error: self.set_status(text, error=error))
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.tile_done.connect(self._on_tile)
        self._set_review_enabled(False)

    def _set_review_enabled(self, on: bool):
        for b in (self.add_cells_button, self.exclude_button, self.delete_deposit_button,
                  self.remeasure_button, self.export_button):
            b.setEnabled(on)

    def set_status(self, text: str, *, error: bool = False):
        """Show one line in the panel (red for errors)."""
        self.status_label.setStyleSheet("color: #ff6b6b;" if error else "")
        self.status_label.setText(text)

    # ------------------------------------------------------------ image layers

    image_layer = property(lambda self: self.layers.image_layer,
                           lambda self, layer: setattr(self.layers, "image_layer", layer),
                           doc="The image layer analysed (the result layers sit on it).")

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
        """Stain, rule and link distance chosen in the panel."""
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
        self.image_layer = layer
        self.run_button.setEnabled(False)
        self._set_review_enabled(False)
        self.progress.setValue(0)
        self.set_status("Analysing…")
        out = drive(analysis_steps, layer, sync=sync, on_step=self._on_step,
                    on_returned=self._on_returned, on_error=self._on_error,
                    on_finished=self._on_finished, pixel_size_um=px, options=self.options(),
                    on_tile=self.tile_done.emit)
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

    def _on_tile(self, done: int, total: int):
        self.set_status(f"{STEPS[1]}: tile {done} / {total}…")

    def _on_returned(self, value):
        self.image, result = value
        self.show_result(result, analysed=True)
        self.set_status(f"Done: {result.category} ({len(result.cells)} tumour cells, "
                        f"{len(result.deposits)} deposits).")

    def _on_error(self, exc):
        self.progress.setValue(0)
        self.set_status(f"Error: {_one_line(exc)}", error=True)

    def _on_finished(self):
        self._worker = None
        self.run_button.setEnabled(True)
        self._set_review_enabled(self.result is not None)

    # ---------------------------------------------------------------- results

    def show_result(self, result, *, analysed: bool = True):
        """Show a result: layers, panel text and deposits table (``analysed``: a new review)."""
        if analysed:
            self.review = Review(result)
        self.result = result
        self.layers.show(result, new_review=analysed)
        self.results_label.setText(_layers.summary_text(result))
        self.table.show_rows(_layers.deposit_rows(result))
        self._set_review_enabled(True)

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

    def _read_edits(self) -> bool:
        """Hand the layers' points and exclusion shapes to the review; False (shown) if impossible."""
        try:
            self.layers.read_edits(self.review)
        except (LookupError, ValueError) as exc:  # layer gone, points off the image
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
        self.set_status(f"Re-measured in {self.last_remeasure_s:.2f} s: {result.category} "
                        f"({len(result.cells)} cells, {len(result.deposits)} deposits).")
        return result

    # ------------------------------------------------------------------ export

    def export(self, folder) -> Path:
        """Write the shown (reviewed) result like the CLI does, plus ``objects.geojson``.

        Files: ``cells.csv``, ``deposits.csv``, ``overlay.png``, ``objects.geojson``
        and ``summary.json`` (written last).
        """
        from pipeline.export import write_node_outputs

        if self.result is None:
            raise RuntimeError("nothing to export: run the analysis first")
        out = write_node_outputs(Path(folder), self.result, self.image, geojson=True)
        self.set_status(f"Exported to {out}")
        return out

    def _export_dialog(self):
        folder = QFileDialog.getExistingDirectory(self, "Export NodeScope results to folder")
        if not folder:
            return None
        try:
            return self.export(folder)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            self.set_status(f"Export failed: {_one_line(exc)}", error=True)
            return None
