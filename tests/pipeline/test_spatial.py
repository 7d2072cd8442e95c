"""Neighbour counts on large tables: the k-d tree queries run on several threads, same counts."""

import numpy as np
from scipy.spatial import cKDTree

from pipeline.spatial import count_within, query_workers


def test_a_large_table_is_counted_on_several_threads_with_the_same_counts(monkeypatch):
    rng = np.random.default_rng(7)
    pts = rng.uniform(0, 3000, size=(30_000, 2))
    anchors = pts[::3]
    assert query_workers(len(pts)) >= 1 and query_workers(100) == 1
    one = cKDTree(anchors).query_ball_point(pts, r=20.0, return_length=True, workers=1)
    np.testing.assert_array_equal(count_within(pts, anchors, radius_um=20.0), one)
    monkeypatch.setattr("pipeline.parallel.available_cores", lambda: 2)
    assert query_workers(len(pts)) == 2
    np.testing.assert_array_equal(count_within(pts, anchors, radius_um=20.0), one)
