"""Exports agree with themselves and with docs/outputs.md."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.export import write_geojson, write_node_outputs, x_before_y
from pipeline.geojson import CELL_MEASUREMENTS, DEPOSIT_MEASUREMENTS, cell_rings_px
from pipeline.node_folder import SUMMARY_CSV_COLUMNS
from pipeline.results import SUMMARY_FIELDS
from pipeline.stages import measure_node

DOC = (Path(__file__).resolve().parents[2] / "docs" / "outputs.md").read_text(encoding="utf-8")
PX = 0.5


def _shoelace(ring):
    x, y = np.asarray(ring, float).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    yx = np.concatenate([rng.uniform(50, 150, (40, 2)), [[400.0, 420.0]]])
    r = rng.uniform(4, 7, len(yx))
    cells = pd.DataFrame({"nucleus_id": np.arange(1, len(yx) + 1), "y_um": yx[:, 0], "x_um": yx[:, 1],
                          "area_um2": np.pi * r**2, "radius_um": r, "hematoxylin_mean": 0.5,
                          "tumor_probability": rng.uniform(0.5, 1, len(yx))})
    cells.loc[3, "hematoxylin_mean"] = np.nan
    return measure_node(cells, pixel_size_um=PX, stain="he", image="toy.tif", shape=(1000, 1000))


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    out = tmp_path_factory.mktemp("node")
    write_node_outputs(out, result, geojson=True)
    return out


def test_deposit_area_is_outline_area(result, written):
    deposits = pd.read_csv(written / "deposits.csv")
    for area, outline in zip(deposits["area_um2"], deposits["outline"]):
        assert area == pytest.approx(_shoelace(json.loads(outline)), rel=1e-3)
    assert (deposits["tumour_cell_area_um2"] > 0).all()
    gj = json.loads((written / "objects.geojson").read_text(encoding="utf-8"))
    annotations = [f for f in gj["features"] if f["properties"]["objectType"] == "annotation"]
    assert len(annotations) == len(deposits)
    for f in annotations:
        ring = np.asarray(f["geometry"]["coordinates"][0]) * PX
        assert f["properties"]["measurements"]["Area µm^2"] == pytest.approx(_shoelace(ring), rel=1e-3)


def test_deposits_carry_their_cells_highest_and_mean_tumour_probability(result, written):
    cells, deposits = result.cells, result.deposits.set_index("deposit_id")
    by = cells.groupby("deposit_id")["tumor_probability"]
    np.testing.assert_allclose(deposits["max_tumor_probability"], by.max()[deposits.index])
    np.testing.assert_allclose(deposits["mean_tumor_probability"], by.mean()[deposits.index])
    features = json.loads((written / "objects.geojson").read_text(encoding="utf-8"))["features"]
    ann = [f["properties"]["measurements"] for f in features if f["properties"]["objectType"] == "annotation"]
    assert sorted(m["Max tumour probability"] for m in ann) == pytest.approx(sorted(by.max()), rel=1e-5)
    # cells a review added have no probability: left out, and a deposit of them alone has none
    added = pd.DataFrame({"y_um": [100.0, 800.0], "x_um": [100.0, 800.0], "radius_um": [5.0, 5.0],
                          "tumor_probability": [np.nan, np.nan]})
    kept = cells[["y_um", "x_um", "radius_um", "tumor_probability"]]
    again = measure_node(pd.concat([kept, added], ignore_index=True), pixel_size_um=PX, stain="he")
    alone = again.deposits.set_index("deposit_id")
    lone = int(again.cells.loc[again.cells["y_um"] == 800.0, "deposit_id"].iloc[0])
    assert np.isnan(alone.loc[lone, "max_tumor_probability"])
    nest = int(again.cells.loc[again.cells["y_um"] == 100.0, "deposit_id"].iloc[0])
    in_nest = again.cells.loc[again.cells["deposit_id"] == nest, "tumor_probability"]
    assert alone.loc[nest, "mean_tumor_probability"] == pytest.approx(in_nest.mean())  # NaN skipped
    # cytokeratin cells carry no probability: no such columns
    ihc = measure_node(kept.drop(columns="tumor_probability"), pixel_size_um=PX, stain="ihc")
    assert "max_tumor_probability" not in ihc.deposits.columns


def test_x_before_y(written):
    cells = pd.read_csv(written / "cells.csv")
    deposits = pd.read_csv(written / "deposits.csv")
    for table in (cells, deposits):
        cols = list(table.columns)
        for c in cols:
            if c.endswith("_um") and "x" in c and c.replace("x", "y", 1) in cols:
                assert cols.index(c) + 1 == cols.index(c.replace("x", "y", 1))
    outline = np.asarray(json.loads(deposits.loc[0, "outline"]))
    assert outline[:, 0].mean() == pytest.approx(deposits.loc[0, "centroid_x_um"], abs=30)
    assert list(x_before_y(pd.DataFrame(columns=["y_um", "a", "x_um"]))) == ["x_um", "y_um", "a"]


def test_geojson_cells(result, written):
    gj = json.loads((written / "objects.geojson").read_text(encoding="utf-8"))
    cells = [f for f in gj["features"] if f["properties"]["objectType"] == "detection"]
    assert len(cells) == len(result.cells)
    for f, (_, row) in zip(cells, result.cells.iterrows()):
        assert f["geometry"]["type"] == "Polygon"
        ring = np.asarray(f["geometry"]["coordinates"][0])
        assert (ring[0] == ring[-1]).all()
        assert _shoelace(ring) * PX**2 == pytest.approx(row["area_um2"], rel=0.01)
        props = f["properties"]
        assert props["classification"] == {"name": "Tumor", "color": [200, 0, 0]}
        assert set(props["measurements"]) <= set(CELL_MEASUREMENTS.values())
        assert props["measurements"]["Centroid X µm"] == pytest.approx(row["x_um"], abs=1e-3)
    assert cells[3]["properties"]["measurements"]["Hematoxylin OD mean"] is None  # NaN -> null


def test_geojson_all_nuclei(result, tmp_path):
    nuclei = result.cells.assign(is_tumour=np.arange(len(result.cells)) % 2 == 0)
    write_geojson(tmp_path / "o.geojson", result, nuclei=nuclei)
    gj = json.loads((tmp_path / "o.geojson").read_text(encoding="utf-8"))
    names = [f["properties"]["classification"]["name"] for f in gj["features"]
             if f["properties"]["objectType"] == "detection"]
    assert names == ["Tumor" if t else "Other" for t in nuclei["is_tumour"]]


def test_cell_rings_empty():
    empty = pd.DataFrame({"x_um": [], "y_um": [], "radius_um": []})
    assert cell_rings_px(empty, 0.5).shape == (0, 13, 2)


def _documented():
    return set(re.findall(r"`([^`]+)`", DOC))


def test_every_output_column_documented(result, written):
    doc = _documented()
    columns = (set(pd.read_csv(written / "cells.csv").columns) | set(pd.read_csv(written / "deposits.csv").columns)
               | set(SUMMARY_CSV_COLUMNS) | set(SUMMARY_FIELDS) | {"is_tumour"})
    assert sorted(columns - doc) == []
    names = set(DEPOSIT_MEASUREMENTS.values()) | set(CELL_MEASUREMENTS.values())
    assert sorted(names - doc) == []
    # the columns the exports know about are documented too, whatever this toy result holds
    assert sorted((set(DEPOSIT_MEASUREMENTS) | set(CELL_MEASUREMENTS)) - doc) == []
    for name in ("summary.json", "summary.csv", "deposits.csv", "cells.csv", "objects.geojson",
                 "report.html", "errors.csv", "nodescope.log", "patient_stages.csv",
                 "review_labels.csv", "overlay.png", "nuclei.csv"):
        assert f"### {name}" in DOC


@pytest.mark.parametrize("table", [
    pd.DataFrame({"a b": [1.0, np.nan, np.inf, -np.inf, -1e-5, 1e20], "n": np.arange(6), "t": [True, False] * 3,
                  "f32": np.float32([1.5, np.nan, 2, 3, 4, 5]), "u": np.uint8([1, 2, 3, 4, 5, 6])}),
    pd.DataFrame({"x_um": np.linspace(0, 1, 10_000), "nucleus_id": np.arange(10_000)}),  # several chunks
    pd.DataFrame({"x_um": pd.Series(dtype=float), "id": pd.Series(dtype="int64")}),  # empty: header only
    pd.DataFrame({"x_um": [1.0, 2.0], "outline": ["[[1, 2]]", "a,b"]}),  # text: pandas writes it
], ids=["special", "chunks", "empty", "text"])
def test_csv_written_in_bulk_equals_pandas(table, tmp_path):
    from pipeline.export import write_table

    before = table.copy()
    write_table(tmp_path / "t.csv", table)
    expected = table.to_csv(index=False, float_format="%.4f", lineterminator="\n")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == expected
    pd.testing.assert_frame_equal(table, before)


def test_overlay_encoding_failure_is_reported_and_leaves_no_summary(result, tmp_path, monkeypatch):
    # the overlay is encoded on a background thread: its failure still reaches the caller,
    # and summary.json (written last, the mark of a finished node) is not written
    import pipeline.export as export

    monkeypatch.setattr(export.cv2, "imencode", lambda *a, **k: (False, None))
    image = np.full((200, 200, 3), 230, np.uint8)
    with pytest.raises(OSError, match="overlay.png: could not encode the overlay"):
        write_node_outputs(tmp_path, result, image, geojson=True)
    assert (tmp_path / "objects.geojson").exists() and not (tmp_path / "summary.json").exists()
    assert not (tmp_path / "overlay.png").exists()
