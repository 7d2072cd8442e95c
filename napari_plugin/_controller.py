"""The napari side of the "Analyze lymph node" widget: image and result layers, in µm.

:class:`LayerController` calibrates the analysed image layer, draws a
:class:`~pipeline.results.NodeResult` as layers (through the pure conversions
of :mod:`napari_plugin._layers`), reads the reviewer's points and exclusion
shapes back in the result's µm frame, keeps them aside while another image is
shown, and moves the camera.
:func:`analysis_steps` is the analysis of a layer: through
:func:`pipeline.analysis.analyze_file` when the layer comes from a file (as
the command line does, whole-slide mode included), else
:func:`pipeline.analysis.analyze` on the layer's pixels. No analysis or review
logic here: that is :mod:`pipeline` (:class:`pipeline.review.Review`).
:class:`ReviewedImages` keeps the review and the analysed pixels of every image
of a session, and :func:`training_steps` fits an H&E model on their labels with
:func:`pipeline.training.labelled_features` and
:func:`pipeline.training.fit_he_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _layers

__all__ = ["LayerController", "analysis_steps", "drive", "parse_pixel_size", "layer_pixel_size",
           "file_source", "STEPS", "ReviewedImage", "ReviewedImages", "training_steps"]

#: Progress steps of an analysis.
STEPS = ("Reading pixels", "Analysing: tissue, stains, nuclei, tumour cells, deposits",
         "Drawing the results")

_MICROMETRE = ("micrometer", "µm", "um")


def is_rgb_image(layer) -> bool:
    """True for a napari RGB image layer."""
    from napari.layers import Image

    return isinstance(layer, Image) and bool(layer.rgb)


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
    if all(u in _MICROMETRE for u in units) and sy == sx and sy != 1.0:
        return sy
    return None


def parse_pixel_size(text: str) -> float:
    """The pixel size a person typed (µm per pixel; a decimal comma is fine), validated.

    Raises
    ------
    pipeline.io.PixelSizeError
        A ValueError saying what to type.

    Examples
    --------
    >>> parse_pixel_size(" 0,25 ")
    0.25
    """
    from pipeline.io import check_pixel_size
    from pipeline.io import PixelSizeError

    text = text.strip().replace(",", ".")
    if not text:
        raise PixelSizeError("Pixel size is missing: enter the image's µm per pixel "
                             "(e.g. 0.25 for a 40x scan, 0.5 for 20x).")
    try:
        value = float(text)
    except ValueError:
        raise PixelSizeError(f"Pixel size {text!r} is not a number: enter µm per pixel, "
                             "e.g. 0.5.") from None
    return check_pixel_size(value, name="pixel size")


def file_source(layer) -> Path | None:
    """The file a layer was read from (``metadata["path"]``, set by the reader), if readable."""
    path = (getattr(layer, "metadata", None) or {}).get("path")
    if not path:
        return None
    path = Path(path)
    return path if path.is_file() else None


def layer_pixels(layer) -> np.ndarray:
    """Full-resolution (M, N, 3) uint8 pixels of a layer not backed by a file."""
    data = layer.data[0] if layer.multiscale else layer.data
    rgb = np.asarray(data)
    if rgb.ndim != 3 or rgb.shape[-1] not in (3, 4):
        raise ValueError(f"layer {layer.name!r} has shape {rgb.shape}; NodeScope needs a "
                         "2-D RGB image (M, N, 3)")
    if rgb.dtype != np.uint8:
        raise TypeError(f"layer {layer.name!r} is {rgb.dtype}; NodeScope needs 8-bit RGB - "
                        "open the file with the NodeScope reader, which converts it")
    return np.ascontiguousarray(rgb[..., :3])


def count_status(what: str, done: int, total: int) -> str:
    """The status line while the analysis counts its tumour-map chunks or tiles.

    Examples
    --------
    >>> count_status("tile", 3, 64)
    'Analysing: tissue, stains, nuclei, tumour cells, deposits: tile 3 / 64…'
    """
    return f"{STEPS[1]}: {what} {done} / {total}…"


def count_slot(panel, what: str):
    """A slot for ``(done, total)`` counts that shows :func:`count_status` on ``panel``'s status
    line while its analysis runs (Run disabled). Counts come from worker threads, queued: any
    delivered after the analysis ended are dropped, so they never hide its final status."""
    def slot(done: int, total: int) -> None:
        if not panel.run_button.isEnabled():
            panel.set_status(count_status(what, done, total))
    return slot


def analysis_steps(layer, *, pixel_size_um, options, on_tile=None, on_map=None):
    """Analyse a layer. Generator: yields (step, text), returns (picture, NodeResult).

    A layer read from a file goes through :func:`pipeline.analysis.analyze_file`
    (a large slide tile by tile, the picture then being its overview); other
    layers' pixels through :func:`pipeline.analysis.analyze`. The file's own
    pixel size is used (and recorded as its source) unless the panel changed it.
    """
    from pipeline.analysis import analyze, analyze_file

    path = file_source(layer)
    yield 1, STEPS[0]
    if path is not None:
        meta = layer.metadata
        from_file = meta.get("pixel_size_source") not in (None, "panel") \
            and meta.get("pixel_size_um") == pixel_size_um
        yield 2, STEPS[1]
        result, picture = analyze_file(path, pixel_size_um=None if from_file else pixel_size_um,
                                       options=options, on_tile=on_tile, on_map=on_map)
    else:
        picture = layer_pixels(layer)
        yield 2, STEPS[1]
        result = analyze(picture, pixel_size_um=pixel_size_um, options=options,
                         image_name=layer.name, on_tile=on_tile, on_map=on_map)
    yield 3, STEPS[2]
    return picture, result


def drive(steps, *args, sync: bool, on_step, on_returned, on_error, on_finished,
          total=None, desc="NodeScope analysis", **kwargs):
    """Run a generator of (step, text) with callbacks: in a napari ``thread_worker``, or here.

    ``sync=True`` runs ``steps(*args, **kwargs)`` on the calling thread and returns
    its value (errors are reported to ``on_error`` and raised); otherwise a started
    worker (with a napari progress bar of ``total`` steps, :data:`STEPS` by
    default, named ``desc``) is returned and the callbacks run on the GUI thread.
    """
    if sync:
        gen = steps(*args, **kwargs)
        try:
            while True:
                on_step(next(gen))
        except StopIteration as stop:
            on_returned(stop.value)
            return stop.value
        except Exception as exc:
            on_error(exc)
            raise
        finally:
            on_finished()
    from napari.qt.threading import create_worker

    worker = create_worker(steps, *args, **kwargs, _start_thread=False, _ignore_errors=True,
                           _progress={"total": len(STEPS) if total is None else int(total),
                                      "desc": desc})
    for signal, slot in ((worker.yielded, on_step), (worker.returned, on_returned),
                         (worker.errored, on_error), (worker.finished, on_finished)):
        signal.connect(slot)
    worker.start()
    return worker


class LayerController:
    """Result layers over an image layer, and the reviewer's edits read back in µm.

    Result layers hold µm with ``scale`` (1, 1) and the image layer's
    ``translate``; the image layer's ``scale`` is its pixel size, so both meet
    in napari's world coordinates. Edits are returned in the result's frame
    (world minus the image's translate), as :class:`pipeline.review.Review`
    takes them.
    """

    def __init__(self, viewer):
        self.viewer = viewer
        self.image_layer = None

    # ------------------------------------------------------------ image

    @staticmethod
    def calibrate(layer, px: float) -> bool:
        """Give an image layer the pixel size used (scale, µm units, metadata).

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

    def translate(self) -> tuple[float, float]:
        layer = self.image_layer
        if layer is None:
            return (0.0, 0.0)
        return tuple(float(t) for t in np.asarray(layer.translate, float)[-2:])

    # ----------------------------------------------------------- result

    def layer(self, name):
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def set_layer(self, layer_data):
        """Show layer data: update the layer of that name in place, or add a new one.

        Updating in place keeps the layer's place, visibility and mode and is much
        faster than removing and re-adding (napari garbage-collects on removal).
        """
        from napari.layers import Layer

        data, kwargs, kind = layer_data
        layer = self.layer(kwargs["name"])
        if layer is not None and type(layer).__name__.lower() != kind:
            self.viewer.layers.remove(layer)
            layer = None
        if layer is None:
            layer = Layer.create(data, kwargs, kind)
            self.viewer.layers.append(layer)
            return layer
        if not np.allclose(np.asarray(layer.translate, float)[-2:], kwargs["translate"]):
            layer.translate = kwargs["translate"]
        if kind == "image":
            if layer.data is not data:
                layer.scale = kwargs["scale"]
                layer.data = data
                layer.contrast_limits = kwargs["contrast_limits"]
                layer.metadata.update(kwargs["metadata"])
            return layer
        layer.selected_data = set()
        if kind == "points":
            layer.data = data
            for key in ("features", "feature_defaults", "size", "face_color", "border_color"):
                setattr(layer, key, kwargs[key])
            layer.metadata.update(kwargs["metadata"])
        else:
            if layer.nshapes:
                layer.remove(list(range(layer.nshapes)))
            if len(data):
                layer.add(data, shape_type=kwargs["shape_type"], edge_width=kwargs.get("edge_width"),
                          edge_color=kwargs.get("edge_color"), face_color=kwargs.get("face_color"))
            layer.features = kwargs["features"]
        return layer

    def show(self, result, *, new_review: bool) -> None:
        """Draw a result's layers on the image layer; a new review clears the exclusions."""
        if self.image_layer is not None:
            self.calibrate(self.image_layer, result.pixel_size_um)
        translate = self.translate()
        exclude = self.layer(_layers.EXCLUDE_LAYER)
        if new_review and exclude is not None and exclude.nshapes:
            exclude.selected_data = set()
            exclude.remove(list(range(exclude.nshapes)))
        for data in _layers.result_layers(result, translate=translate):
            layer = self.set_layer(data)
            if data[2] == "points":
                self._new_point_style(layer)
        if exclude is None:
            self.set_layer(_layers.exclude_layer(translate=translate))
        self.show_tumour_map(result)
        self.viewer.layers.selection.active = self.layer(_layers.CELLS_LAYER)
        # the canvas scale bar, in the layers' units (µm: napari >= 0.6 takes them from the layers)
        self.viewer.scale_bar.visible = True

    def show_tumour_map(self, result) -> None:
        """Draw the result's tumour-probability map under the other result layers (or remove it).

        The map layer sits above the image and below the cells, deposits and
        regions; a result without a map (IHC) removes it.
        """
        data = _layers.tumour_map_layer(result, translate=self.translate())
        layer = self.layer(_layers.TUMOUR_MAP_LAYER)
        if data is None:
            if layer is not None:
                self.viewer.layers.remove(layer)
            return
        layer = self.set_layer(data)
        layers = self.viewer.layers
        above = [layers.index(name) for name in _layers.RESULT_LAYERS if name in layers]
        here = layers.index(layer)
        if above and here > min(above):
            layers.move(here, min(above))

    def clear(self) -> None:
        """Remove the result layers (cells, deposits, caliper, exclusions, tumour map)."""
        for name in (*_layers.RESULT_LAYERS, _layers.TUMOUR_MAP_LAYER):
            layer = self.layer(name)
            if layer is not None:
                self.viewer.layers.remove(layer)

    def snapshot_edits(self) -> dict:
        """The reviewer's work on the layers (points as left, exclusion shapes), to restore later."""
        out = {}
        points = self.layer(_layers.CELLS_LAYER)
        if points is not None:
            out["points"] = (np.array(points.data, copy=True), points.features.copy(),
                             np.array(points.size, copy=True),
                             np.array(points.face_color, copy=True),
                             np.array(points.border_color, copy=True))
        exclude = self.layer(_layers.EXCLUDE_LAYER)
        if exclude is not None:
            out["regions"] = ([np.array(d, copy=True) for d in exclude.data],
                              list(exclude.shape_type))
        return out

    def restore_edits(self, edits) -> None:
        """Put a :meth:`snapshot_edits` back on the layers :meth:`show` drew (None: no edits)."""
        edits = edits or {}
        points = self.layer(_layers.CELLS_LAYER)
        if points is not None and "points" in edits:
            data, features, size, face, border = edits["points"]
            points.selected_data = set()
            points.data = data
            points.features = features
            if len(data):
                points.size, points.face_color, points.border_color = size, face, border
        exclude = self.layer(_layers.EXCLUDE_LAYER)
        if exclude is not None:
            exclude.selected_data = set()
            if exclude.nshapes:
                exclude.remove(list(range(exclude.nshapes)))
            shapes, kinds = edits.get("regions", ([], []))
            if shapes:
                exclude.add(shapes, shape_type=kinds)

    @staticmethod
    def _new_point_style(points):
        points.current_size = points.metadata.get("new_point_size", points.current_size)
        points.current_face_color = "white"
        points.current_border_color = "white"

    # ------------------------------------------------------------ edits

    def _frame(self, layer, data) -> np.ndarray:
        """Layer data coordinates -> µm in the result's frame."""
        yx = np.asarray(data, float).reshape(-1, layer.ndim)[:, -2:]
        world = yx * np.asarray(layer.scale, float)[-2:] + np.asarray(layer.translate, float)[-2:]
        return world - np.asarray(self.translate())

    def read_cells(self):
        """(points (N, 2) µm, cell ids, radii µm) of the tumour-cell layer.

        Raises
        ------
        LookupError
            When the layer was removed.
        """
        points = self.layer(_layers.CELLS_LAYER)
        if points is None:
            raise LookupError(f"The '{_layers.CELLS_LAYER}' layer is gone: press Run again.")
        features = points.features
        n = len(points.data)
        ids = features["cell_id"].to_numpy() if "cell_id" in features else None
        radius = features["radius_um"].to_numpy(dtype=float) if "radius_um" in features \
            else np.full(n, np.nan)
        return self._frame(points, points.data), ids, radius

    def read_regions(self):
        """(vertices µm of each exclusion shape, their shape types)."""
        layer = self.layer(_layers.EXCLUDE_LAYER)
        if layer is None or not len(layer.data):
            return [], []
        return [self._frame(layer, d) for d in layer.data], list(layer.shape_type)

    def read_edits(self, review) -> None:
        """Give a :class:`pipeline.review.Review` the cells and exclusion shapes of the layers.

        Raises
        ------
        LookupError
            When the tumour-cell layer was removed.
        ValueError
            When the review refuses the points (e.g. off the image).
        """
        points, ids, radius = self.read_cells()
        review.set_cells(points, ids, radius_um=radius)
        review.set_regions(*self.read_regions())

    def remove_cells(self, cell_ids) -> None:
        """Remove the points of these cells, and nothing else."""
        points = self.layer(_layers.CELLS_LAYER)
        if points is None or not len(cell_ids):
            return
        idx = np.flatnonzero(np.isin(points.features["cell_id"].to_numpy(), cell_ids))
        if len(idx):
            points.selected_data = set(idx.tolist())
            points.remove_selected()

    def remove_deposit(self, deposit_id: int) -> None:
        """Remove a deposit's outline."""
        shapes = self.layer(_layers.DEPOSITS_LAYER)
        if shapes is None or not len(shapes.data):
            return
        hit = np.flatnonzero(shapes.features["deposit_id"].to_numpy() == deposit_id)
        if len(hit):
            shapes.selected_data = set(hit.tolist())
            shapes.remove_selected()

    def start_adding_cells(self) -> bool:
        """Select the tumour-cell layer in add mode; False when there is none."""
        points = self.layer(_layers.CELLS_LAYER)
        if points is None:
            return False
        self.viewer.layers.selection.active = points
        points.selected_data = set()
        self._new_point_style(points)
        points.mode = "add"
        return True

    def start_exclude_region(self) -> None:
        """Select the exclusion layer (made if needed) in polygon mode."""
        layer = self.layer(_layers.EXCLUDE_LAYER)
        if layer is None:
            layer = self.set_layer(_layers.exclude_layer(translate=self.translate()))
        self.viewer.layers.selection.active = layer
        layer.mode = "add_polygon"

    # ----------------------------------------------------------- camera

    def focus(self, result, deposit_id: int) -> None:
        """Centre and zoom the camera on a deposit."""
        scene = getattr(self.viewer, "scene", None)
        camera = scene.camera if scene is not None and hasattr(scene, "camera") \
            else self.viewer.camera
        canvas = getattr(self.viewer, "canvas", None)
        size = getattr(canvas, "size", None) if canvas is not None else None
        if size is None:
            size = getattr(self.viewer, "_canvas_size", None)
        size = tuple(size) if size is not None and min(size) > 0 else (800, 800)
        centre, zoom = _layers.deposit_view(result, deposit_id, size, translate=self.translate())
        camera.center = centre
        camera.zoom = zoom


# --------------------------------------------------------------- training

@dataclass
class ReviewedImage:
    """One analysed image of a session: its review and the pixels that were analysed.

    ``rgb`` is None when the analysed pixels are not kept (a whole slide analysed
    tile by tile: only its overview is in memory).
    """

    name: str
    review: object
    rgb: np.ndarray | None
    pixel_size_um: float


class ReviewedImages:
    """The review of every image layer analysed in a session (the last Run of each).

    Closing an image layer forgets its review (and frees its pixels).
    """

    def __init__(self):
        self._items: list[tuple[object, ReviewedImage]] = []

    def __len__(self) -> int:
        return len(self._items)

    def remember(self, layer, review, picture) -> ReviewedImage:
        """Keep ``review`` (a new analysis of ``layer``) and the pixels analysed."""
        result = review.analysed
        whole = picture is not None and tuple(np.shape(picture)[:2]) == tuple(result.shape[:2])
        item = ReviewedImage(name=getattr(layer, "name", None) or result.image or "image",
                             review=review, rgb=picture if whole else None,
                             pixel_size_um=float(result.pixel_size_um))
        self.forget(layer)
        self._items.append((layer, item))
        return item

    def forget(self, layer) -> None:
        self._items = [(lay, item) for lay, item in self._items if lay is not layer]

    def images(self) -> list[ReviewedImage]:
        return [item for _, item in self._items]

    def training_set(self, *, min_per_class: int):
        """(the H&E images with labels, notes about the others); ValueError when too few labels.

        Raises
        ------
        ValueError
            When no image was reviewed, or the reviews hold fewer than
            ``min_per_class`` labels of a class (one line, saying what to do).
        """
        usable, notes = [], []
        for item in self.images():
            labels = item.review.labels()
            if not len(labels):
                continue
            if item.review.analysed.stain != "he":
                notes.append(f"{item.name}: IHC, not used for the H&E model")
            elif item.rgb is None:
                notes.append(f"{item.name}: a whole slide - train on it with `nodescope train` "
                             "and its exported review_labels.csv")
            else:
                usable.append((item, labels))
        if not usable:
            raise ValueError("No reviewed H&E image: delete false tumour cells and add missed "
                             "ones (then Re-measure) before training"
                             + (f" ({'; '.join(notes)})" if notes else ""))
        counts = {cls: sum(int((lab["label"] == cls).sum()) for _, lab in usable)
                  for cls in ("tumour", "other")}
        for cls, n in counts.items():
            if n < int(min_per_class):
                what = "added" if cls == "tumour" else "deleted"
                raise ValueError(f"only {n} labelled {cls} cells in the reviews; at least "
                                 f"{int(min_per_class)} of each class are needed ({what} cells "
                                 f"count as {cls}: review more cells or more images)")
        return [item for item, _ in usable], notes


def training_steps(images, *, path, base=None, min_per_class=None, folds=5):
    """Fit an H&E model on reviewed images and save it. Generator: yields (step, text).

    Each image's labelled nuclei come from :func:`pipeline.training.labelled_features`
    on the pixels analysed; the model is fitted by :func:`pipeline.training.fit_he_model`
    from ``base`` (a model file; None: the shipped one) and written to ``path``.
    Returns (TrainingReport, path, warnings).
    """
    import pandas as pd

    from pipeline import training

    tables, warnings = [], []
    for i, item in enumerate(images, start=1):
        yield i, f"Training: finding the labelled nuclei of {item.name} ({i}/{len(images)})"
        table, warn = training.labelled_features(
            item.rgb, item.review.training_labels(image=item.name),
            pixel_size_um=item.pixel_size_um, image_name=item.name)
        tables.append(table)
        warnings.extend(warn)
    yield len(images) + 1, "Training: fitting and cross-validating the model"
    kwargs = {} if min_per_class is None else {"min_per_class": int(min_per_class)}
    report = training.fit_he_model(pd.concat(tables, ignore_index=True), base=base, folds=folds,
                                   pixel_sizes={it.name: it.pixel_size_um for it in images},
                                   **kwargs)
    yield len(images) + 2, "Training: saving the model"
    saved = report.model.save(path)
    return report, Path(saved), warnings + list(report.warnings)
