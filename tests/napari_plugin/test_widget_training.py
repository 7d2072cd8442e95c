"""The panel's H&E side: tumour-probability layer, model picker, review labels, training.

Most tests build H&E results with :func:`pipeline.stages.measure_node` and a
hand-made :class:`pipeline.heatmap.TumourMap`, or analyse the IHC sample, so
they run without the shipped H&E model; the end-to-end training test asks for
the ``he_model`` fixture and skips while that model is not installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_plugin import _layers
from pipeline.heatmap import TumourMap
from pipeline.labels import REVIEW_LABELS_FILE, read_labels
from pipeline.options import AnalysisOptions
from pipeline.stages import measure_node

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings(
        "ignore:System theme detection requires a Qt6 backend:UserWarning"),
]

SHAPE = (400, 400)  # pixels of 1 µm


def _he_result(*, seed=0, with_map=True):
    """An H&E result on a 400 x 400 µm image: a 6 x 6 nest and 30 scattered cells."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:6, 0:6] * 14.0
    yx = np.vstack([np.c_[yy.ravel() + 60, xx.ravel() + 60], rng.uniform(150, 380, (30, 2))])
    cells = pd.DataFrame({"y_um": yx[:, 0], "x_um": yx[:, 1], "radius_um": 5.0,
                          "tumor_probability": rng.uniform(0.5, 1.0, len(yx))})
    grid = rng.uniform(0, 1, (48, 48)).astype(np.float32)
    tmap = TumourMap(grid, 8.0, (4.0, 4.0)) if with_map else None
    stain = "he" if with_map else "ihc"
    return measure_node(cells, pixel_size_um=1.0, stain=stain, image="he_node", shape=SHAPE,
                        tumour_map=tmap, options=AnalysisOptions(stain=stain))


def _show(viewer, widget, result, *, name="he_node", translate=(0.0, 0.0)):
    """An image layer for ``result`` and the result shown on it, as a Run would leave them."""
    rgb = np.full((*SHAPE, 3), 200, np.uint8)
    layer = viewer.add_image(rgb, rgb=True, name=name, scale=(1.0, 1.0), translate=translate,
                             units=("µm", "µm"), metadata={"pixel_size_um": 1.0})
    widget.image_layer, widget.image = layer, rgb
    widget.show_result(result)
    return layer


def _tiny_model(path, *, threshold=0.5):
    """A valid H&E model file: a gate of a few LightGBM trees on random features."""
    import lightgbm as lgb

    from pipeline.he_cells import GATE_FEATURES, HeCellModel

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(GATE_FEATURES)))
    gate = lgb.train({"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5,
                      "verbose": -1}, lgb.Dataset(x, (x[:, 2] > 0).astype(int)),
                     num_boost_round=5)
    meta = {"input_pixel_size_um": [0.25, 1.0]}
    return HeCellModel(gate=gate, gate_threshold=0.5, threshold=threshold, seed_threshold=0.9,
                       meta=meta).save(path)


def _edit(viewer, *, delete, add):
    """Delete ``delete`` points of the tumour-cell layer and add the points ``add``."""
    points = viewer.layers[_layers.CELLS_LAYER]
    deleted = points.features["cell_id"].to_numpy()[:delete]
    points.selected_data = set(range(delete))
    points.remove_selected()
    points.add(np.asarray(add, float))
    return deleted


# ------------------------------------------------------------ tumour map

def test_tumour_probability_layer_under_the_cells_and_on_the_image(viewer_widget):
    viewer, widget = viewer_widget
    result = _he_result()
    image = _show(viewer, widget, result, translate=(30.0, -20.0))
    heat = viewer.layers[_layers.TUMOUR_MAP_LAYER]
    names = [layer.name for layer in viewer.layers]
    assert names.index(image.name) < names.index(heat.name) < min(
        names.index(n) for n in _layers.RESULT_LAYERS)
    assert tuple(heat.contrast_limits) == (0.0, 1.0) and heat.colormap.name == "inferno"
    assert tuple(heat.scale) == (8.0, 8.0)
    # grid point (i, j) describes (4 + 8 i, 4 + 8 j) µm, i.e. the image pixel there
    for ij in ([0, 0], [10, 3], [47, 47]):
        um = 4.0 + 8.0 * np.asarray(ij, float)
        np.testing.assert_allclose(heat.data_to_world(ij), image.data_to_world(um / 1.0))
    # a re-measure keeps the layer (same map); an IHC result removes it
    widget.remeasure()
    assert viewer.layers[_layers.TUMOUR_MAP_LAYER] is heat
    widget.show_result(_he_result(with_map=False))
    assert _layers.TUMOUR_MAP_LAYER not in viewer.layers
    widget.show_result(result)
    names = [layer.name for layer in viewer.layers]
    assert names.index(_layers.TUMOUR_MAP_LAYER) < names.index(_layers.CELLS_LAYER)


# ------------------------------------------------------------ model picker

def test_model_picker_feeds_the_options(viewer_widget, tmp_path):
    from pipeline.options import option_help

    _, widget = viewer_widget
    picker = widget.picker
    assert widget.options() == AnalysisOptions()
    assert picker.model_combo.currentText() == "shipped model"
    assert picker.threshold_spin.text().startswith("model default")
    assert picker.model_combo.toolTip() == option_help("model")["help"]
    assert picker.threshold_spin.toolTip() == option_help("tumour_threshold")["help"]
    picker.threshold_spin.setValue(0.3)
    assert widget.options() == AnalysisOptions(tumour_threshold=0.3)
    picker.threshold_spin.setValue(0.0)  # below the range: back to the model's own
    assert widget.parameters()["tumour_threshold"] is None

    bad = tmp_path / "notes.json"
    bad.write_text('{"format": "something else"}', encoding="utf-8")
    for path, why in ((bad, "not a NodeScope H&E model"), (tmp_path / "missing.json",
                                                           "no such model file")):
        assert picker.choose_model(path) is False
        text = widget.status_label.text()
        assert path.name in text and why in text and "\n" not in text
        assert "ff6b6b" in widget.status_label.styleSheet()  # shown as an error
        assert widget.options().model is None and picker.model_combo.count() == 1

    good = _tiny_model(tmp_path / "mine.json", threshold=0.35)
    assert picker.choose_model(good) is True
    assert picker.model_combo.currentText() == "mine.json"
    assert picker.threshold_spin.text() == "model default (0.35)"
    assert "mine.json" in widget.status_label.text()
    picker.threshold_spin.setValue(0.6)
    assert widget.options() == AnalysisOptions(model=str(good), tumour_threshold=0.6)
    picker.model_combo.setCurrentIndex(0)
    assert widget.options().model is None
    assert picker.choose_model(good) and picker.model_combo.count() == 2  # listed once


# ------------------------------------------------------------ review labels

def test_export_writes_review_labels_that_read_back(viewer_widget, sample_data, tmp_path):
    viewer, widget = viewer_widget
    rgb, kwargs, _ = sample_data("micro_ilc_ihc")
    viewer.add_image(rgb, **kwargs)
    before = widget.run(sync=True)
    assert before is not None and before.stain == "ihc", widget.status_label.text()
    assert _layers.TUMOUR_MAP_LAYER not in viewer.layers  # IHC: no tumour map
    widget.export(tmp_path / "analysed")
    assert not (tmp_path / "analysed" / REVIEW_LABELS_FILE).exists()  # not reviewed
    deleted = _edit(viewer, delete=4, add=[[30.0, 30.0], [40.0, 30.0]])
    widget.remeasure()
    out = widget.export(tmp_path / "reviewed")
    assert (out / REVIEW_LABELS_FILE).is_file()
    written = pd.read_csv(out / REVIEW_LABELS_FILE)
    assert list(written.columns) == ["image", "x_um", "y_um", "label"]
    (labels,) = read_labels(out / REVIEW_LABELS_FILE)
    assert labels.image == before.image
    assert labels.counts == {"tumour": 2, "other": 4}
    mine = widget.review.training_labels()
    pd.testing.assert_frame_equal(labels.points, mine.points, atol=1e-4)
    where = before.cells.set_index("cell_id").loc[deleted, ["y_um", "x_um"]].to_numpy()
    np.testing.assert_allclose(labels.points.loc[~labels.points["tumour"], ["y_um", "x_um"]],
                               where, atol=1e-4)


# ---------------------------------------------------------------- training

def test_train_with_too_few_labels_says_so(viewer_widget, tmp_path):
    viewer, widget = viewer_widget
    path = tmp_path / "model.json"
    assert widget.train_from_reviews(path, sync=True) is None
    assert "No reviewed H&E image" in widget.status_label.text()
    _show(viewer, widget, _he_result())
    _edit(viewer, delete=3, add=[[20.0, 300.0], [30.0, 300.0]])  # not re-measured: still counted
    assert widget.train_from_reviews(path, sync=True) is None
    text = widget.status_label.text()
    assert "only 2 labelled tumour cells" in text and "at least 20 of each class" in text
    assert "\n" not in text and not path.exists()
    assert widget.run_button.isEnabled() and widget.train_button.isEnabled()
    # an IHC review is no help for the H&E model, and says so
    _show(viewer, widget, _he_result(with_map=False), name="ihc_node")
    _edit(viewer, delete=30, add=[[20.0, 20.0]])
    widget._read_edits()
    viewer.layers.remove("he_node")  # closing an image leaves its review out
    assert widget.train_from_reviews(path, sync=True) is None
    assert "ihc_node: IHC, not used" in widget.status_label.text()


def _fake_features(calls):
    """A stand-in for labelled_features: one row per label, features that tell the classes."""
    from pipeline.he_cells import HE_CELL_FEATURES

    def fake(rgb, labels, *, pixel_size_um, image_name=None, **kwargs):
        calls.append((rgb, labels, pixel_size_um, image_name))
        y = labels.points["tumour"].to_numpy(int)
        rng = np.random.default_rng(len(y))
        x = rng.normal(size=(len(y), len(HE_CELL_FEATURES))) + 1.5 * y[:, None]
        table = pd.DataFrame(x, columns=list(HE_CELL_FEATURES)).assign(label=y, image=image_name)
        return table, ["1 point(s) had no nucleus"]

    return fake


def test_train_from_reviews_saves_and_selects_the_model(viewer_widget, tmp_path, qtbot,
                                                        monkeypatch):
    from pipeline import training
    from pipeline.he_cells import load_he_cell_model

    viewer, widget = viewer_widget
    calls = []
    monkeypatch.setattr(training, "labelled_features", _fake_features(calls))
    base = _tiny_model(tmp_path / "base.json")
    assert widget.picker.choose_model(base)
    layer = _show(viewer, widget, _he_result())
    added = np.c_[np.linspace(150, 390, 22), np.full(22, 20.0)]
    _edit(viewer, delete=21, add=added)
    widget.remeasure()
    report = widget.train_from_reviews(tmp_path / "trained.json", sync=True)
    assert report is not None, widget.status_label.text()
    saved = tmp_path / "trained.json"
    assert saved.is_file() and widget.picker.model_path() == str(saved)
    assert widget.options().model == str(saved)
    [(rgb, labels, px, name)] = calls
    assert rgb is widget.image and px == 1.0 and name == layer.name == "he_node"
    assert labels.counts == {"tumour": 22, "other": 21}
    assert report.counts["tumour"] == 22 and report.counts["other"] == 21
    model = load_he_cell_model(saved)
    assert model.meta["base_digest"] == load_he_cell_model(base).digest
    text = widget.status_label.text()
    assert "cross-validated AUC" in text and "base model" in text and "trained.json" in text
    assert "1 warning(s)" in text

    # in a thread_worker: Run and the review wait, then the new model is chosen
    worker = widget.train_from_reviews(tmp_path / "again.json", min_per_class=5)
    assert worker is not None and not widget.run_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.running and widget.run_button.isEnabled(), timeout=30000)
    assert (tmp_path / "again.json").is_file()
    assert widget.picker.model_path() == str(tmp_path / "again.json")
    assert load_he_cell_model(tmp_path / "again.json").meta["base_digest"] == model.digest


def test_train_errors_from_fitting_are_one_line(viewer_widget, tmp_path, monkeypatch):
    from pipeline import training

    viewer, widget = viewer_widget
    monkeypatch.setattr(training, "labelled_features",
                        lambda rgb, labels, **kw: (pd.DataFrame(), []))  # no nucleus matched
    assert widget.picker.choose_model(_tiny_model(tmp_path / "base.json"))
    _show(viewer, widget, _he_result())
    _edit(viewer, delete=2, add=[[20.0, 300.0], [30.0, 300.0]])
    assert widget.train_from_reviews(tmp_path / "m.json", sync=True, min_per_class=1) is None
    text = widget.status_label.text()
    assert text.startswith("Error: ValueError:") and "\n" not in text
    assert widget.run_button.isEnabled() and not (tmp_path / "m.json").exists()


@pytest.mark.usefixtures("he_model")
def test_review_then_train_end_to_end_on_a_synthetic_he_node(viewer_widget, tmp_path):
    from scipy.spatial import cKDTree

    from pipeline.he_cells import load_he_cell_model
    from pipeline.synthetic import make_node

    viewer, widget = viewer_widget
    node = make_node(size_um=(600, 600), pixel_size_um=1.0, stain="he",
                     deposits=[{"diameter_um": 150}], seed=2)
    viewer.add_image(node.rgb, rgb=True, name="synthetic_he", scale=(1.0, 1.0),
                     units=("µm", "µm"), metadata={"pixel_size_um": 1.0})
    # a low operating point (and deposit seed), so that there are false tumour cells to delete
    widget.base_options = AnalysisOptions(seed_probability=0.05)
    widget.picker.threshold_spin.setValue(0.05)
    result = widget.run(sync=True)
    assert result is not None and result.tumour_map is not None, widget.status_label.text()
    assert _layers.TUMOUR_MAP_LAYER in viewer.layers
    # the reviewer adds 25 true tumour cells and deletes up to 25 found cells away from them,
    # those farthest from any tumour cell first
    tumour_yx = node.cells.loc[node.cells["is_tumor"], ["y_um", "x_um"]].to_numpy()
    added = tumour_yx[np.random.default_rng(0).choice(len(tumour_yx), 25, replace=False)]
    points = viewer.layers[_layers.CELLS_LAYER]
    found = np.asarray(points.data)
    wrong = np.argsort(-cKDTree(tumour_yx).query(found)[0], kind="stable")
    wrong = wrong[cKDTree(added).query(found[wrong])[0] > 15.0][:25]
    assert len(wrong) >= 5, f"only {len(wrong)} found cells away from the added ones"
    points.selected_data = set(wrong.tolist())
    points.remove_selected()
    points.add(added)
    reviewed = widget.remeasure()
    assert reviewed.review["cells_added"] == 25
    assert reviewed.review["cells_removed"] == len(wrong)
    report = widget.train_from_reviews(tmp_path / "node_model.json", sync=True, min_per_class=5)
    assert report is not None, widget.status_label.text()
    assert (tmp_path / "node_model.json").is_file()
    assert widget.picker.model_path() == str(tmp_path / "node_model.json")
    assert report.counts["tumour"] >= 5 and report.counts["other"] >= 5
    meta = load_he_cell_model(tmp_path / "node_model.json").meta
    assert meta["user_training"]["images"] == ["synthetic_he"]
    assert "cross-validated AUC" in widget.status_label.text()
