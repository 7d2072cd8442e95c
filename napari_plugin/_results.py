"""Each image layer's own result in the "Analyze lymph node" panel (no Qt import here).

A result belongs to the image layer it was computed on: :class:`LayerResults`
keeps, per layer, the result shown, its :class:`pipeline.review.Review`, the
picture analysed (for the exported overlay) and, while another image is chosen,
the reviewer's edits kept aside
(:meth:`napari_plugin._controller.LayerController.snapshot_edits`). Layers are
told apart by identity, so two layers of the same name keep their own results.
:class:`PanelResults` makes the panel follow the chosen image.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from pipeline.review import Review

from . import _layers

__all__ = ["LayerResult", "LayerResults", "PanelResults", "NO_RESULT"]

#: The panel's text when the chosen image has no result.
NO_RESULT = "No result yet: choose an image and press Run."


@dataclass
class LayerResult:
    """What an image layer's last Run left: the result shown, its review, the picture, edits.

    ``edits`` is a :meth:`~napari_plugin._controller.LayerController.snapshot_edits`, taken when another
    image was chosen (None while the layer's result is the one on screen).
    """

    result: object
    review: object
    image: np.ndarray | None
    edits: dict | None = None


class LayerResults:
    """Each image layer's own :class:`LayerResult` (by identity; removing a layer drops it)."""

    def __init__(self):
        self._items: dict[int, tuple[object, LayerResult]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, layer) -> bool:
        return self.get(layer) is not None

    def get(self, layer) -> LayerResult | None:
        item = self._items.get(id(layer))
        return item[1] if item is not None and item[0] is layer else None

    def keep(self, layer, result, review, image) -> LayerResult:
        """Make (result, review, image) ``layer``'s own (edits: none kept aside)."""
        record = LayerResult(result, review, image)
        if layer is not None:
            self._items[id(layer)] = (layer, record)
        return record

    def forget(self, layer) -> None:
        if self.get(layer) is not None:
            del self._items[id(layer)]


class PanelResults(LayerResults):
    """The "Analyze lymph node" panel's results by image layer, and the panel following the choice.

    Choosing another image (:meth:`chosen`) puts the edits on the shown result's
    layers aside with its image layer (and into its review), then shows the new
    image's own result with its edits, or empties the panel: no category, no
    deposits, result layers removed, review and Export buttons disabled.
    Closing an image (:meth:`removed`) forgets its result and review; when it
    was shown, the panel is emptied and its result layers removed. A Run gives
    its result to the layer it was computed on (:meth:`returned_for`), shown
    only if that layer is still the chosen one.
    """

    def __init__(self, panel):
        super().__init__()
        self.panel = panel

    def chosen(self) -> None:
        """Show the chosen image's result (or nothing), keeping the shown one's edits aside."""
        panel = self.panel
        layer = panel.selected_layer()
        if layer is panel.image_layer:
            return
        shown = self.get(panel.image_layer)
        if shown is not None and panel.result is not None:
            panel._read_edits(quiet=True)  # the session's review (training) has them too
            shown.edits = panel.layers.snapshot_edits()
        record = self.get(layer)
        if record is None:
            self.clear(NO_RESULT if layer is None else f"No result for {layer.name}: press Run.")
            panel.image_layer = layer
            return
        panel.image_layer, panel.image, panel.review = layer, record.image, record.review
        panel.show_result(record.result, analysed=False)
        panel.layers.restore_edits(record.edits)
        points = panel.layers.layer(_layers.CELLS_LAYER)
        if record.edits and points is not None:  # deposits whose cells were all deleted
            left = set(points.features["deposit_id"].tolist())
            for deposit_id in set(panel.table.deposit_ids()) - left:
                panel.layers.remove_deposit(deposit_id)
                panel.table.remove_deposit(deposit_id)

    def removed(self, event) -> None:
        """A layer left the viewer: drop its result and review; empty the panel if shown."""
        layer, panel = event.value, self.panel
        panel.trainer.session.forget(layer)
        self.forget(layer)
        if layer is panel.image_layer:
            panel.image_layer = None
            self.clear(NO_RESULT)

    def clear(self, text: str) -> None:
        """Empty the panel (category, deposits table, buttons) and remove the result layers."""
        panel = self.panel
        panel.review = panel.result = panel.image = None
        panel.layers.clear()
        panel.results_label.setText(html.escape(text))
        panel.table.show_rows([])
        panel._set_review_enabled(False)

    def returned_for(self, layer):
        """The ``on_returned`` callback of a Run of ``layer``: (picture, result) -> its result."""
        return lambda value: self.returned(layer, *value)

    def returned(self, layer, picture, result) -> None:
        """Show a Run's result on ``layer`` if chosen, else keep it aside (or drop it: closed)."""
        panel, done = self.panel, _layers.result_line(result)
        if layer not in panel.viewer.layers:
            panel.set_status(f"{layer.name} was closed during the analysis; its result "
                             f"({done}) is dropped.")
        elif layer is not panel.selected_layer():
            review = Review(result)
            panel.trainer.session.remember(layer, review, picture)
            self.keep(layer, result, review, picture)
            panel.set_status(f"Done: {layer.name}: {done}; choose it to see the result.")
        else:
            panel.image_layer, panel.image = layer, picture
            panel.show_result(result, analysed=True)
            panel.set_status(f"Done: {done}.")
