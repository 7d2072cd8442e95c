"""Train your own: QuPath GeoJSON / CSV labels -> nodescope train -> nodescope analyze --model."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.he_cells import DEFAULT_HE_CELL_MODEL, GATE_FEATURES, load_he_cell_model
from pipeline.io import write_calibrated_tiff

pytestmark = pytest.mark.skipif(not DEFAULT_HE_CELL_MODEL.is_file(), reason="the shipped H&E model is missing")

PX = 1.0


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A synthetic H&E node, its true tumour and benign nuclei as QuPath points (pixels)."""
    from pipeline.synthetic import make_node

    folder = tmp_path_factory.mktemp("train")
    node = make_node(size_um=(500, 500), pixel_size_um=PX, stain="he", deposits=[{"diameter_um": 180}],
                     seed=4242, benign="typical")
    image = folder / "node1.tif"
    write_calibrated_tiff(image, node.rgb, pixel_size_um=PX)
    cells = node.cells
    rng = np.random.default_rng(0)
    tumour = cells[cells["is_tumor"]].sample(30, random_state=0)
    benign = cells[~cells["is_tumor"]].iloc[rng.permutation((~cells["is_tumor"]).sum())[:30]]
    feats = []
    for table, name in ((tumour, "Tumor"), (benign, "Immune cells")):
        for y, x in table[["y_um", "x_um"]].to_numpy():
            feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [x / PX, y / PX]},
                          "properties": {"objectType": "annotation", "classification": {"name": name}}})
    (folder / "node1.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return folder, image


def test_geojson_export_train_analyze_round_trip(labelled, tmp_path):
    folder, image = labelled
    model = tmp_path / "mine.json"
    runner = CliRunner()
    res = runner.invoke(app, ["train", str(image), "--labels", str(folder / "node1.geojson"), "--out", str(model),
                              "--min-per-class", "10"])
    assert res.exit_code == 0, res.output
    assert "labelled nuclei:" in res.output and "cross-validated on your labels" in res.output
    tuned = load_he_cell_model(model)
    assert len(tuned.corrections) == 1 and tuned.meta["user_training"]["counts"]["tumour"] >= 10
    res = runner.invoke(app, ["analyze", str(image), "--out", str(tmp_path / "out"), "--model", str(model),
                              "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "node1" / "summary.json").read_text())
    assert summary["parameters"]["model"] == str(model)
    assert summary["parameters"]["he_model"]["digest"] == tuned.digest


def test_csv_labels_and_the_library_function(labelled, tmp_path):
    from pipeline.training import train_he_model

    folder, image = labelled
    geo = json.loads((folder / "node1.geojson").read_text())
    rows = [{"image": "node1.tif", "x_um": f["geometry"]["coordinates"][0] * PX,
             "y_um": f["geometry"]["coordinates"][1] * PX,
             "label": "tumour" if f["properties"]["classification"]["name"] == "Tumor" else "other"}
            for f in geo["features"]]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    report = train_he_model([image], [tmp_path / "labels.csv"], min_per_class=10, folds=3)
    assert report.counts["tumour"] >= 10 and report.counts["other"] >= 10
    assert 0.0 <= report.cv["auc"] <= 1.0 and "stratified" in report.cv["folds"]
    assert report.seconds < 120


def test_bad_labels_get_one_line(labelled, tmp_path):
    folder, image = labelled
    runner = CliRunner()
    bad = tmp_path / "node1.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [10, 10]},
         "properties": {"classification": {"name": "Wizard"}}}]}))
    res = runner.invoke(app, ["train", str(image), "--labels", str(bad), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 2 and "unknown class 'Wizard'" in res.output
    res = runner.invoke(app, ["train", str(image), "--labels", str(bad), "--out", str(tmp_path / "m.json"),
                              "--class-map", "Wizard=tumour"])
    assert res.exit_code == 2 and "at least 20 of each class" in res.output
    far = tmp_path / "far" / "node1.geojson"
    far.parent.mkdir()
    far.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5000, 10]},
         "properties": {"classification": {"name": "Tumor"}}}]}))
    res = runner.invoke(app, ["train", str(image), "--labels", str(far), "--out", str(tmp_path / "m.json")])
    assert res.exit_code == 2 and "outside the image" in res.output and "wrong pixel size" in res.output
    res = runner.invoke(app, ["analyze", str(image), "--out", str(tmp_path / "o"), "--model", str(bad)])
    assert res.exit_code == 2 and "not a NodeScope H&E model" in res.output


def test_the_shipped_gate_gives_the_same_values_on_several_threads():
    """A large table (a whole slide's nuclei) is cut into blocks run side by side; the
    probabilities are those of one run over every row."""
    gate = load_he_cell_model().gate
    rng = np.random.default_rng(0)
    x = rng.normal(size=(25_000, len(GATE_FEATURES)))
    one = gate.predict(x, num_threads=1)
    assert one.shape == (25_000,)
    np.testing.assert_array_equal(gate.predict(x, num_threads=0), one)
    np.testing.assert_array_equal(gate.predict(x, num_threads=2), one)
