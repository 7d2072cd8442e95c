"""The "Analyze lymph node" dock widget: run NodeScope, review the tumour cells, re-measure, export.

A thin Qt panel: each button calls one named method (:meth:`AnalyzeWidget.run`,
:meth:`~AnalyzeWidget.remeasure`, :meth:`~AnalyzeWidget.delete_selected_deposit`,
:meth:`~AnalyzeWidget.export`, ...) that delegates to :mod:`pipeline` and to the
pure conversions of :mod:`napari_plugin._layers`. The analysis runs in a
``thread_worker``; ``run(sync=True)`` runs the same steps on the calling thread
(tests, scripts).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
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

from . import _layers

__all__ = ["AnalyzeWidget"]

STAIN_CHOICES = (("auto", "auto"), ("H&E", "he"), ("IHC", "ihc"))
RULE_CHOICES = (("CAMELYON (75 µm linking)", "camelyon"), ("contiguous", "contiguous"))
TABLE_COLUMNS = ("Deposit", "Cells", "Ø (mm)", "Pattern")
#: Progress steps of an analysis.
STEPS = ("Reading pixels", "Analysing: tissue, stains, nuclei, tumour cells, deposits",
         "Drawing the results")
# measure_node thresholds carried over from the analysis when re-measuring
_STAGE_KEYS = ("contact_um", "itc_max_um", "micro_max_um", "itc_max_cells",
               "min_pattern_cells", "cohesive_max", "single_file_min")
_CONTEXT_KEYS = ("image", "nucleus_count", "shape", "stain_reason", "stain_vectors_source",
                 "tissue_area_mm2")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AnalyzeWidget(QWidget):
    """Dock widget "Analyze lymph node".

    Attributes
    ----------
    result : NodeResult or None
        The result shown (after any re-measure).
    analysed : NodeResult or None
        The result of the last Run, before review (the reference for ``review``).
    image : (M, N, 3) uint8 ndarray or None
        The pixels that were analysed (for the exported overlay).
    last_remeasure_s : float or None
        Wall time of the last :meth:`remeasure`, seconds.
    """

    def __init__(self, napari_viewer, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.result = None
        self.analysed = None
        self.image = None
        self.image_layer = None
        self.last_remeasure_s = None
        self._worker = None
        self._build()
        self.viewer.layers.events.inserted.connect(self._on_layer_inserted)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._refresh_layers()

    # ------------------------------------------------------------------ layout

    def _build(self):
        self.layer_combo = QComboBox()
        self.stain_combo = QComboBox()
        for label, value in STAIN_CHOICES:
            self.stain_combo.addItem(label, value)
        self.rule_combo = QComboBox()
        for label, value in RULE_CHOICES:
            self.rule_combo.addItem(label, value)
        self.link_spin = QDoubleSpinBox()
        self.link_spin.setRange(0.0, 2000.0)
        self.link_spin.setDecimals(1)
        self.link_spin.setSingleStep(5.0)
        self.link_spin.setValue(75.0)
        self.link_spin.setSuffix(" µm")
        self.pixel_edit = QLineEdit()
        self.pixel_edit.setPlaceholderText("µm per pixel (required)")

        form = QFormLayout()
        form.addRow("Image", self.layer_combo)
        form.addRow("Stain", self.stain_combo)
        form.addRow("Deposit rule", self.rule_combo)
        form.addRow("Link distance", self.link_spin)
        form.addRow("Pixel size (µm)", self.pixel_edit)

        self.run_button = QPushButton("Run")
        self.progress = QProgressBar()
        self.progress.setRange(0, len(STEPS))
        self.progress.setValue(0)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.results_label = QLabel("No result yet: choose an image and press Run.")
        self.results_label.setWordWrap(True)
        self.results_label.setTextFormat(Qt.RichText)

        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.horizontalHeaderItem(2).setToolTip("Longest diameter (maximum Feret), mm")
        self.table.setToolTip("Longest diameter (maximum Feret) of each deposit; click a row "
                              "to zoom on it")
        self.table.setMinimumHeight(120)
        self.table.horizontalHeader().setSortIndicator(2, Qt.DescendingOrder)  # largest first

        self.add_cells_button = QPushButton("Add cells")
        self.add_cells_button.setToolTip("Click on the image to add missed tumour cells")
        self.exclude_button = QPushButton("Draw exclude region")
        self.exclude_button.setToolTip("Draw a polygon around a benign inclusion; its cells "
                                       "are dropped at re-measure")
        self.delete_deposit_button = QPushButton("Delete selected deposit")
        self.remeasure_button = QPushButton("Re-measure")
        self.remeasure_button.setToolTip("Re-stage the cells left in the 'Tumour cells' layer "
                                         "(no re-segmentation)")
        self.export_button = QPushButton("Export…")
        review = QGridLayout()
        review.addWidget(self.add_cells_button, 0, 0)
        review.addWidget(self.exclude_button, 0, 1)
        review.addWidget(self.delete_deposit_button, 1, 0)
        review.addWidget(self.remeasure_button, 1, 1)
        review.addWidget(self.export_button, 2, 0, 1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.results_label)
        layout.addWidget(self.table)
        layout.addLayout(review)
        layout.addStretch(1)

        self.layer_combo.currentIndexChanged.connect(self._on_layer_chosen)
        self.run_button.clicked.connect(lambda: self.run())
        self.remeasure_button.clicked.connect(lambda: self.remeasure())
        self.delete_deposit_button.clicked.connect(lambda: self.delete_selected_deposit())
        self.add_cells_button.clicked.connect(lambda: self.start_adding_cells())
        self.exclude_button.clicked.connect(lambda: self.start_exclude_region())
        self.export_button.clicked.connect(lambda: self._export_dialog())
        self.table.itemSelectionChanged.connect(self._on_table_selection)
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

    @staticmethod
    def _is_rgb_image(layer) -> bool:
        from napari.layers import Image

        return isinstance(layer, Image) and bool(layer.rgb)

    def _refresh_layers(self, event=None):
        current = self.selected_layer()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for layer in self.viewer.layers:
            if self._is_rgb_image(layer):
                self.layer_combo.addItem(layer.name, layer)
        index = -1
        for i in range(self.layer_combo.count()):
            if self.layer_combo.itemData(i) is current:
                index = i
        if index < 0 and self.layer_combo.count():
            active = self.viewer.layers.selection.active
            index = next((i for i in range(self.layer_combo.count())
                          if self.layer_combo.itemData(i) is active), self.layer_combo.count() - 1)
        self.layer_combo.setCurrentIndex(index)
        self.layer_combo.blockSignals(False)
        if self.selected_layer() is not current:
            self._on_layer_chosen()

    def _on_layer_inserted(self, event):
        layer = event.value
        self._refresh_layers()
        if self._is_rgb_image(layer):
            layer.events.name.connect(self._refresh_layers)
            self.select_layer(layer)

    def select_layer(self, layer):
        """Choose the image layer to analyse."""
        for i in range(self.layer_combo.count()):
            if self.layer_combo.itemData(i) is layer:
                self.layer_combo.setCurrentIndex(i)
                return
        raise ValueError(f"layer {getattr(layer, 'name', layer)!r} is not an RGB image layer "
                         "of this viewer")

    def selected_layer(self):
        """The image layer chosen in the panel, or None."""
        if self.layer_combo.currentIndex() < 0:
            return None
        return self.layer_combo.currentData()

    @staticmethod
    def layer_pixel_size(layer) -> float | None:
        """Pixel size (µm) a layer declares: its metadata, else a µm-scaled layer's scale."""
        meta = getattr(layer, "metadata", {}) or {}
        if "pixel_size_um" in meta:
            value = meta["pixel_size_um"]
            return float(value) if value is not None else None
        try:
            units = [str(u) for u in layer.units[-2:]]
            sy, sx = (float(v) for v in layer.scale[-2:])
        except (AttributeError, TypeError, ValueError):
            return None
        if all(u in ("micrometer", "µm", "um") for u in units) and sy == sx and sy != 1.0:
            return sy
        return None

    def _on_layer_chosen(self, *args):
        layer = self.selected_layer()
        if layer is None:
            self.pixel_edit.setText("")
            return
        px = self.layer_pixel_size(layer)
        if px is None:
            self.pixel_edit.setText("")
            self.set_status(f"{layer.name}: no pixel size in the image - enter it "
                            "(µm per pixel) before Run.", error=True)
        else:
            self.pixel_edit.setText(f"{px:.6g}")
            self.set_status("")

    # ---------------------------------------------------------------- analysis

    def pixel_size(self) -> float:
        """The pixel size typed in the panel, validated (raises ValueError with a message)."""
        from pipeline.io import PixelSizeError

        text = self.pixel_edit.text().strip().replace(",", ".")
        if not text:
            raise PixelSizeError("Pixel size is missing: enter the image's µm per pixel "
                                 "(e.g. 0.25 for a 40x scan, 0.5 for 20x).")
        try:
            value = float(text)
        except ValueError:
            raise PixelSizeError(f"Pixel size {text!r} is not a number: enter µm per pixel, "
                                 "e.g. 0.5.") from None
        from pipeline._validate import check_pixel_size

        return check_pixel_size(value, name="pixel size")

    def parameters(self) -> dict:
        """Stain, rule and link distance chosen in the panel."""
        return {"stain": self.stain_combo.currentData(), "rule": self.rule_combo.currentData(),
                "link_um": float(self.link_spin.value())}

    def _prepare(self):
        """Validate the panel; return (layer, pixel size) or None after showing why."""
        layer = self.selected_layer()
        if layer is None:
            self.set_status("No RGB image layer: open a slide or a NodeScope sample first.",
                            error=True)
            return None
        try:
            px = self.pixel_size()
        except ValueError as exc:
            self.set_status(str(exc), error=True)
            return None
        if self._calibrate(layer, px):
            self.viewer.reset_view()  # the image changed size on screen (pixels -> µm)
        return layer, px

    @staticmethod
    def _calibrate(layer, px: float) -> bool:
        """Give the image layer the pixel size used, so the µm result layers sit on it.

        Returns True when the layer's scale changed.
        """
        scale = np.asarray(layer.scale, float)
        changed = not np.allclose(scale[-2:], px, rtol=1e-9)
        if changed:
            scale[-2:] = px
            layer.scale = scale
        try:
            units = list(layer.units)
            if [str(u) for u in units[-2:]] != ["micrometer", "micrometer"]:
                units[-2:] = ["µm", "µm"]
                layer.units = units
        except AttributeError:  # napari without layer units
            pass
        if layer.metadata.get("pixel_size_um") != px:
            layer.metadata["pixel_size_um"] = px
            layer.metadata["pixel_size_source"] = "panel"
        return changed

    @staticmethod
    def _load_pixels(layer, px: float) -> np.ndarray:
        """Full-resolution (M, N, 3) uint8 pixels of a layer (from its file when lazy)."""
        path = (layer.metadata or {}).get("path")
        if layer.multiscale and path and Path(path).is_file():
            from pipeline.io import read_image

            return read_image(path, pixel_size_um=px)[0]
        data = layer.data[0] if layer.multiscale else layer.data
        rgb = np.asarray(data)
        if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4):
            raise ValueError(f"layer {layer.name!r} has shape {rgb.shape}; NodeScope needs a "
                             "2-D RGB image (M, N, 3)")
        if rgb.dtype != np.uint8:
            raise TypeError(f"layer {layer.name!r} is {rgb.dtype}; NodeScope needs 8-bit RGB - "
                            "open the file with the NodeScope reader, which converts it")
        return np.ascontiguousarray(rgb[..., :3])

    def _analysis_steps(self, layer, px: float, params: dict):
        """Generator: yields (step, text) and returns (pixels, NodeResult)."""
        from pipeline.analysis import analyze

        yield 1, STEPS[0]
        rgb = self._load_pixels(layer, px)
        yield 2, STEPS[1]
        result = analyze(rgb, pixel_size_um=px, image_name=layer.name, **params)
        yield 3, STEPS[2]
        return rgb, result

    def run(self, *, sync: bool = False):
        """Analyse the chosen image with the panel's parameters.

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
        params = self.parameters()
        self.image_layer = layer
        self.run_button.setEnabled(False)
        self._set_review_enabled(False)
        self.progress.setValue(0)
        self.set_status("Analysing…")
        if sync:
            steps = self._analysis_steps(layer, px, params)
            try:
                while True:
                    self._on_step(next(steps))
            except StopIteration as stop:
                self._on_returned(stop.value)
                return self.result
            except Exception as exc:
                self._on_error(exc)
                raise
            finally:
                self._on_finished()
        from napari.qt.threading import create_worker

        worker = create_worker(self._analysis_steps, layer, px, params, _start_thread=False,
                               _ignore_errors=True,
                               _progress={"total": len(STEPS), "desc": "NodeScope analysis"})
        worker.yielded.connect(self._on_step)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()
        return worker

    @property
    def running(self) -> bool:
        """True while an analysis worker runs."""
        return self._worker is not None

    def _on_step(self, step):
        index, text = step
        self.progress.setValue(index)
        self.set_status(f"{text}…")

    def _on_returned(self, value):
        rgb, result = value
        self.image = rgb
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

    def _translate(self):
        layer = self.image_layer
        if layer is None:
            return (0.0, 0.0)
        return tuple(float(t) for t in np.asarray(layer.translate, float)[-2:])

    def _layer(self, name):
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _set_layer(self, layer_data):
        """Show layer data: update the layer of that name in place, or add a new one.

        Updating in place keeps the layer's place, visibility and mode and is much
        faster than removing and re-adding (napari garbage-collects on removal).
        """
        from napari.layers import Layer

        data, kwargs, kind = layer_data
        layer = self._layer(kwargs["name"])
        if layer is not None and type(layer).__name__.lower() != kind:
            self.viewer.layers.remove(layer)
            layer = None
        if layer is None:
            layer = Layer.create(data, kwargs, kind)
            self.viewer.layers.append(layer)
            return layer
        if not np.allclose(np.asarray(layer.translate, float)[-2:], kwargs["translate"]):
            layer.translate = kwargs["translate"]
        if kind == "points":
            layer.selected_data = set()
            layer.data = data
            layer.features = kwargs["features"]
            layer.feature_defaults = kwargs["feature_defaults"]
            layer.size = kwargs["size"]
            layer.face_color = kwargs["face_color"]
            layer.border_color = kwargs["border_color"]
            layer.metadata.update(kwargs["metadata"])
        else:
            layer.selected_data = set()
            if layer.nshapes:
                layer.remove(list(range(layer.nshapes)))
            if len(data):
                layer.add(data, shape_type=kwargs["shape_type"], edge_width=kwargs.get("edge_width"),
                          edge_color=kwargs.get("edge_color"), face_color=kwargs.get("face_color"))
            layer.features = kwargs["features"]
        return layer

    def show_result(self, result, *, analysed: bool = True):
        """Show a result: layers, panel text and deposits table."""
        if self.image_layer is not None:
            self._calibrate(self.image_layer, result.pixel_size_um)
        translate = self._translate()
        self.result = result
        if analysed:
            self.analysed = result
            exclude = self._layer(_layers.EXCLUDE_LAYER)
            if exclude is not None and exclude.nshapes:  # a new analysis starts a new review
                exclude.selected_data = set()
                exclude.remove(list(range(exclude.nshapes)))
        for data in _layers.result_layers(result, translate=translate):
            layer = self._set_layer(data)
            if data[2] == "points":
                layer.current_size = layer.metadata["new_point_size"]
                layer.current_face_color = "white"
                layer.current_border_color = "white"
        if self._layer(_layers.EXCLUDE_LAYER) is None:
            self._set_layer(_layers.exclude_layer(translate=translate))
        points = self._layer(_layers.CELLS_LAYER)
        self.viewer.layers.selection.active = points
        self.results_label.setText(_layers.summary_text(result))
        self._fill_table(result)
        self._set_review_enabled(True)

    def _fill_table(self, result):
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        rows = _layers.deposit_rows(result)
        self.table.clearContents()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem()
                item.setData(Qt.DisplayRole, value)
                if c == 0:
                    item.setData(Qt.UserRole, int(value))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)

    def table_deposit_ids(self) -> list[int]:
        """Deposit ids in the table's current (sorted) order."""
        return [int(self.table.item(r, 0).data(Qt.UserRole)) for r in range(self.table.rowCount())]

    def selected_deposit(self) -> int | None:
        """Deposit id of the selected table row, or None."""
        rows = sorted({i.row() for i in self.table.selectedItems()})
        if not rows:
            return None
        return int(self.table.item(rows[0], 0).data(Qt.UserRole))

    def select_deposit(self, deposit_id: int):
        """Select a deposit's row in the table (which centres the view on it)."""
        ids = self.table_deposit_ids()
        if int(deposit_id) not in ids:
            raise KeyError(f"no deposit {deposit_id} in the table")
        self.table.selectRow(ids.index(int(deposit_id)))

    def _camera(self):
        scene = getattr(self.viewer, "scene", None)
        return scene.camera if scene is not None and hasattr(scene, "camera") else self.viewer.camera

    def _canvas_size(self):
        canvas = getattr(self.viewer, "canvas", None)
        size = getattr(canvas, "size", None) if canvas is not None else None
        if size is None:
            size = getattr(self.viewer, "_canvas_size", None)
        return tuple(size) if size is not None and min(size) > 0 else (800, 800)

    def focus_deposit(self, deposit_id: int):
        """Centre and zoom the camera on a deposit."""
        centre, zoom = _layers.deposit_view(self.result, deposit_id, self._canvas_size(),
                                            translate=self._translate())
        camera = self._camera()
        camera.center = centre
        camera.zoom = zoom

    def _on_table_selection(self):
        deposit_id = self.selected_deposit()
        if deposit_id is not None and self.result is not None and \
                (self.result.deposits["deposit_id"] == deposit_id).any():
            self.focus_deposit(deposit_id)

    # ------------------------------------------------------------------ review

    def start_adding_cells(self):
        """Select the tumour-cell layer in add mode (click to add missed cells)."""
        points = self._layer(_layers.CELLS_LAYER)
        if points is None:
            return
        self.viewer.layers.selection.active = points
        points.selected_data = set()
        points.current_size = points.metadata.get("new_point_size", points.current_size)
        points.current_face_color = "white"
        points.current_border_color = "white"
        points.mode = "add"
        self.set_status("Click on missed tumour cells, then press Re-measure.")

    def start_exclude_region(self):
        """Select the exclusion layer in polygon mode."""
        layer = self._layer(_layers.EXCLUDE_LAYER)
        if layer is None:
            layer = self._set_layer(_layers.exclude_layer(translate=self._translate()))
        self.viewer.layers.selection.active = layer
        layer.mode = "add_polygon"
        self.set_status("Draw a polygon around the benign inclusion (double-click to close), "
                        "then press Re-measure.")

    def delete_selected_deposit(self) -> int:
        """Remove the cells of the deposit selected in the table; returns how many."""
        deposit_id = self.selected_deposit()
        points = self._layer(_layers.CELLS_LAYER)
        if deposit_id is None or points is None:
            self.set_status("Select a deposit in the table first.", error=True)
            return 0
        idx = np.flatnonzero(points.features["deposit_id"].to_numpy() == deposit_id)
        if len(idx):
            points.selected_data = set(idx.tolist())
            points.remove_selected()
        shapes = self._layer(_layers.DEPOSITS_LAYER)
        if shapes is not None and len(shapes.data):
            hit = np.flatnonzero(shapes.features["deposit_id"].to_numpy() == deposit_id)
            if len(hit):
                shapes.selected_data = set(hit.tolist())
                shapes.remove_selected()
        self.table.blockSignals(True)
        self.table.removeRow(self.table_deposit_ids().index(deposit_id))
        self.table.clearSelection()
        self.table.blockSignals(False)
        self.set_status(f"Deposit {deposit_id} removed ({len(idx)} cells); press Re-measure.")
        return int(len(idx))

    @staticmethod
    def _world(layer, yx) -> np.ndarray:
        yx = np.asarray(yx, float).reshape(-1, layer.ndim)[:, -2:]
        return yx * np.asarray(layer.scale, float)[-2:] + np.asarray(layer.translate, float)[-2:]

    def remeasure(self):
        """Re-stage the cells of the 'Tumour cells' layer (minus excluded regions).

        Calls :func:`pipeline.analysis.measure_node` (no re-segmentation) with the
        panel's rule and link distance, records the edits in ``result.review`` and
        redraws. Returns the new NodeResult (None when there is nothing to measure).
        """
        from pipeline.analysis import measure_node

        if self.analysed is None:
            self.set_status("Run the analysis first.", error=True)
            return None
        points = self._layer(_layers.CELLS_LAYER)
        if points is None:
            self.set_status(f"The '{_layers.CELLS_LAYER}' layer is gone: press Run again.",
                            error=True)
            return None
        t0 = time.perf_counter()
        translate = np.asarray(self._translate())
        world = self._world(points, points.data)
        cells = _layers.cells_from_points(world - translate, points.features, self.analysed.cells)
        regions = 0
        excluded = np.zeros(len(cells), bool)
        exclude = self._layer(_layers.EXCLUDE_LAYER)
        if exclude is not None and len(exclude.data):
            polys = [self._world(exclude, d) for d in exclude.data]
            kinds = list(exclude.shape_type)
            regions = sum(_layers.shape_polygon(p, k) is not None for p, k in zip(polys, kinds))
            excluded = _layers.in_regions(world, polys, kinds)
        cells = cells[~excluded].reset_index(drop=True)
        base = self.analysed
        stage = {k: base.parameters[k] for k in _STAGE_KEYS if k in base.parameters}
        context = {k: getattr(base, k) for k in _CONTEXT_KEYS}
        params = self.parameters()
        result = measure_node(
            cells, pixel_size_um=base.pixel_size_um, stain=base.stain, rule=params["rule"],
            link_um=params["link_um"], flags=list(base.flags),
            parameters=dict(base.parameters), **stage, **context,
        )
        result.review = _layers.review_record(base, cells, result, excluded_regions=regions,
                                              cells_excluded=int(excluded.sum()))
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
