"""The Qt controls of the "Analyze lymph node" panel (no analysis here).

:class:`OptionsForm` (image layer, stain, deposit rule, link distance, pixel
size and the :class:`ModelPicker` of the H&E model and tumour threshold), the
deposits table (:class:`DepositTable`), the review buttons and small helpers.
They take their choices, defaults and help from
:class:`pipeline.options.AnalysisOptions` (:func:`pipeline.options.option_help`);
:class:`napari_plugin._widget.AnalyzeWidget` assembles them.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from pipeline.options import option_help

from ._controller import is_rgb_image, layer_pixel_size, parse_pixel_size

__all__ = ["ImageLayerCombo", "OptionsForm", "ModelPicker", "DepositTable", "review_buttons",
           "one_line", "text_label", "LABELS", "TABLE_COLUMNS"]

#: Display names of the option values (the values themselves come from pipeline.options).
LABELS = {"auto": "auto", "he": "H&E", "ihc": "IHC", "camelyon": "CAMELYON (distance linking)",
          "contiguous": "contiguous (touching cells)"}
TABLE_COLUMNS = ("Deposit", "Cells", "Ø (mm)", "Pattern", "Max p")
#: The tumour-threshold spin box at this value (shown as "model default") means None.
_MODEL_DEFAULT = 0.04


def one_line(exc: BaseException, limit: int = 300) -> str:
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


def text_label(text: str = "", *, rich: bool = False) -> QLabel:
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


def review_buttons():
    """The review buttons (add, exclude, delete deposit, re-measure, export, train) and their panel."""
    buttons = (
        _button("Add cells", "Click on the image to add missed tumour cells"),
        _button("Draw exclude region", "Draw a polygon around a benign inclusion; its cells are "
                "dropped at re-measure"),
        _button("Delete selected deposit"),
        _button("Re-measure", "Re-stage the cells left in the 'Tumour cells' layer "
                "(no re-segmentation)"),
        _button("Export…"),
        _button("Train from reviewed images…", "Fine-tune the H&E model on the reviews of the "
                "images analysed in this session (added cells: tumour; deleted or excluded "
                "cells: not tumour), save it and use it"),
    )
    panel = QWidget()
    grid = QGridLayout(panel)
    grid.setContentsMargins(0, 0, 0, 0)
    for i, button in enumerate(buttons[:4]):
        grid.addWidget(button, i // 2, i % 2)
    grid.addWidget(buttons[4], 2, 0, 1, 2)
    grid.addWidget(buttons[5], 3, 0, 1, 2)
    return buttons, panel


class ModelPicker(QWidget):
    """The H&E tumour-cell model ("shipped model" or a model file) and its operating point.

    :meth:`parameters` gives ``model`` (a file path, None for the shipped
    model) and ``tumour_threshold`` (None: "model default", else 0.05-0.99) for
    :class:`pipeline.options.AnalysisOptions`. A file is loaded with
    :func:`pipeline.he_cells.load_he_cell_model` when chosen; ``message`` (text,
    is error) says what was chosen or why a file was refused.
    """

    message = Signal(str, bool)

    def __init__(self):
        super().__init__()
        model_doc, thr_doc = option_help("model"), option_help("tumour_threshold")
        self.model_combo = QComboBox()
        self.model_combo.addItem("shipped model", model_doc["default"])
        self.model_combo.setToolTip(model_doc["help"])
        self.browse_button = _button("…", "Choose an H&E model file (made by `nodescope train` "
                                     "or 'Train from reviewed images')")
        self.threshold_spin = spin = QDoubleSpinBox()
        spin.setRange(_MODEL_DEFAULT, 0.99)
        spin.setDecimals(2)
        spin.setSingleStep(0.05)
        spin.setValue(_MODEL_DEFAULT if thr_doc["default"] is None else thr_doc["default"])
        spin.setToolTip(thr_doc["help"])
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.browse_button)
        self.model_combo.currentIndexChanged.connect(lambda index: self._show_default())
        self.browse_button.clicked.connect(lambda checked=False: self._browse())
        self._show_default()

    def model_path(self) -> str | None:
        """The chosen model file, None for the shipped model."""
        return self.model_combo.currentData()

    def parameters(self) -> dict:
        value = round(float(self.threshold_spin.value()), 2)
        return {"model": self.model_path(),
                "tumour_threshold": None if value <= _MODEL_DEFAULT else value}

    def choose_model(self, path) -> bool:
        """Load a model file, list it and select it; False (and a message) when it is refused."""
        from pipeline.he_cells import load_he_cell_model

        path = str(Path(path))
        try:
            model = load_he_cell_model(path)
        except Exception as exc:  # noqa: BLE001 - any unreadable file: one line in the panel
            self.message.emit(f"H&E model {Path(path).name} refused: {one_line(exc)}", True)
            return False
        index = self.model_combo.findData(path)
        if index < 0:
            self.model_combo.addItem(Path(path).name, path)
            index = self.model_combo.count() - 1
            self.model_combo.setItemData(index, path, Qt.ToolTipRole)
        self.model_combo.setCurrentIndex(index)
        self.message.emit(f"H&E model: {Path(path).name} (operating point "
                          f"{model.threshold:.2f}).", False)
        return True

    def _show_default(self) -> None:
        """Show the chosen model's own operating point as the spin box's "model default"."""
        from pipeline.he_cells import load_he_cell_model

        try:
            text = f"model default ({load_he_cell_model(self.model_path()).threshold:.2f})"
        except Exception:  # noqa: BLE001 - e.g. the shipped model is not installed
            text = "model default"
        self.threshold_spin.setSpecialValueText(text)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose an H&E tumour-cell model", "",
                                              "NodeScope H&E model (*.json);;All files (*)")
        if path:
            self.choose_model(path)


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
    """The analysis choices: image layer, stain, deposit rule, link distance, pixel size, H&E model.

    The pixel size is pre-filled from the chosen layer; ``message`` (text, is
    error) says when the layer has none, and what the model picker says.
    """

    message = Signal(str, bool)

    def __init__(self):
        super().__init__()
        self.layer_combo, self.stain_combo, self.rule_combo = (ImageLayerCombo(), _combo("stain"),
                                                               _combo("rule"))
        self.link_spin, self.pixel_edit = _link_spin(), QLineEdit()
        self.pixel_edit.setPlaceholderText("µm per pixel (required)")
        self.picker = ModelPicker()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for label, control in (("Image", self.layer_combo), ("Stain", self.stain_combo),
                               ("Deposit rule", self.rule_combo), ("Link distance", self.link_spin),
                               ("Pixel size (µm)", self.pixel_edit), ("H&E model", self.picker),
                               ("Tumour threshold", self.picker.threshold_spin)):
            form.addRow(label, control)
        self.layer_combo.chosen.connect(self._on_layer_chosen)
        self.picker.message.connect(self.message)

    def parameters(self) -> dict:
        return {"stain": self.stain_combo.currentData(), "rule": self.rule_combo.currentData(),
                "link_um": float(self.link_spin.value()), **self.picker.parameters()}

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
        self.horizontalHeaderItem(4).setToolTip("H&E: the highest tumour probability of its cells "
                                                "(sort to review the least certain deposits first)")
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
