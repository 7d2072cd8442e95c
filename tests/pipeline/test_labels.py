"""Training labels from QuPath GeoJSON, CSV points and NodeScope reviews."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.labels import read_labels
from pipeline.training import label_nuclei


def _feature(geometry, name):
    return {"type": "Feature", "geometry": geometry,
            "properties": {"objectType": "annotation", "classification": {"name": name, "color": [200, 0, 0]}}}


def _write(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def test_qupath_geojson_points_and_polygons_in_um(tmp_path):
    square = [[[0, 0], [40, 0], [40, 40], [0, 40], [0, 0]]]
    path = _write(tmp_path / "node.geojson", [
        _feature({"type": "Point", "coordinates": [10, 20]}, "Tumor"),
        _feature({"type": "MultiPoint", "coordinates": [[100, 100], [120, 110]]}, "Immune cells"),
        _feature({"type": "Polygon", "coordinates": square}, "Stroma"),
        _feature({"type": "Polygon", "coordinates": square}, "Ignore*"),
    ])
    lab = read_labels(path, pixel_size_um=0.5)[0]
    assert lab.points.values.tolist() == [[10.0, 5.0, True], [50.0, 50.0, False], [55.0, 60.0, False]]
    assert len(lab.polygons) == 1 and lab.polygons[0][1] is False
    np.testing.assert_allclose(lab.polygons[0][0].max(0), [20.0, 20.0])  # (y, x) µm
    assert lab.counts == {"tumour": 1, "other": 3}


def test_csv_points_with_several_images(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"image": ["a.tif", "a.tif", "b.tif"], "x_um": [1.0, 2.0, 3.0], "y_um": [4.0, 5.0, 6.0],
                  "label": ["tumour", 0, "Lymphocyte"]}).to_csv(path, index=False)
    labs = read_labels(path)
    assert [lab.image for lab in labs] == ["a.tif", "b.tif"]
    assert labs[0].points["tumour"].tolist() == [True, False]
    assert labs[1].points[["y_um", "x_um"]].values.tolist() == [[6.0, 3.0]]


@pytest.mark.parametrize("content, message", [
    ({"features": [_feature({"type": "Point", "coordinates": [1, 1]}, "Mystery")]},
     r"unknown class 'Mystery'.*--class-map Mystery=tumour"),
    ({"features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]}, "properties": {}}]},
     "has no classification; classify the objects in QuPath"),
    ({"features": [_feature({"type": "LineString", "coordinates": [[1, 1], [2, 2]]}, "Tumor")]},
     "is a LineString; labels are points or polygons"),
    ({"features": []}, "no tumour or non-tumour labels"),
])
def test_bad_geojson_gets_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", **content}), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        read_labels(path, pixel_size_um=0.5)
    assert "\n" not in str(info.value) and str(info.value).startswith("bad.geojson")


def test_class_map_and_other_errors(tmp_path):
    path = _write(tmp_path / "n.geojson", [_feature({"type": "Point", "coordinates": [1, 1]}, "Tumor budding")])
    assert read_labels(path, pixel_size_um=1.0, class_map={"tumor budding": "tumour"})[0].counts["tumour"] == 1
    with pytest.raises(ValueError, match="GeoJSON coordinates are pixels"):
        read_labels(path)
    with pytest.raises(FileNotFoundError, match="no such label file"):
        read_labels(tmp_path / "none.csv")
    csv = tmp_path / "c.csv"
    pd.DataFrame({"x": [1], "y": [2], "label": [1]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['x_um', 'y_um'\]"):
        read_labels(csv)
    txt = tmp_path / "l.txt"
    txt.write_text("x")
    with pytest.raises(ValueError, match="unknown label format '.txt'"):
        read_labels(txt)


def test_labels_find_their_nuclei(tmp_path):
    nuclei = pd.DataFrame({"y_um": [10.0, 10.0, 50.0, 80.0], "x_um": [10.0, 30.0, 50.0, 80.0]})
    path = _write(tmp_path / "n.geojson", [
        _feature({"type": "Point", "coordinates": [11, 11]}, "Tumor"),            # -> nucleus 0
        _feature({"type": "Point", "coordinates": [200, 200]}, "Tumor"),          # no nucleus near
        _feature({"type": "Polygon", "coordinates": [[[40, 40], [60, 40], [60, 60], [40, 60], [40, 40]]]},
                 "Stroma"),                                                       # -> nucleus 2
        _feature({"type": "Point", "coordinates": [80, 80]}, "Tumor"),            # nucleus 3 ...
        _feature({"type": "Point", "coordinates": [81, 80]}, "Stroma"),           # ... contradicted: dropped
    ])
    lab = read_labels(path, pixel_size_um=1.0)[0]
    index, tumour, unmatched = label_nuclei(nuclei, lab, match_um=5.0, image_shape_um=(300, 300))
    assert index.tolist() == [0, 2] and tumour.tolist() == [True, False] and unmatched == 1
    with pytest.raises(ValueError, match=r"label point\(s\) outside the image .* wrong pixel size"):
        label_nuclei(nuclei, lab, image_shape_um=(100, 100))
