"""Tests of the contact graph (pipeline.contact), built once and shared by the pattern tables."""

import numpy as np
import pandas as pd
import pytest

from pipeline.contact import ContactGraph, neighbour_graph


def _chain(n=4, spacing=12.0, radius=4.5):
    return pd.DataFrame({"y_um": 0.0, "x_um": spacing * np.arange(n), "radius_um": radius})


def test_contact_graph_edges_groups_and_nearest_neighbours():
    cells = pd.concat([_chain(4), pd.DataFrame({"y_um": [300.0], "x_um": [0.0],
                                                "radius_um": [4.5]})], ignore_index=True)
    graph = ContactGraph(cells)
    assert graph.distance_um == pytest.approx(2.1 * 9.0)
    assert graph.i.tolist() == [0, 1, 2] and graph.j.tolist() == [1, 2, 3]
    np.testing.assert_allclose(graph.length_um, 12.0)
    groups = graph.groups()
    assert groups.group.tolist() == [0, 0, 0, 0, 1]
    assert groups.cell_count.tolist() == [4, 1]
    assert groups.degree.tolist() == [1, 2, 2, 1, 0]
    assert groups.size_class.tolist() == ["2-5", "single"]
    assert groups.dispersed.tolist() == [True, True]
    np.testing.assert_allclose(graph.nn_distance_um, [12, 12, 12, 12, 300])
    assert (graph.adjacency() != neighbour_graph(cells)).nnz == 0
    assert "5 cells, 3 edges" in repr(graph)


def test_groups_within_labels_cut_edges_and_reuse_the_whole_graph():
    graph = ContactGraph(_chain(6))
    whole = graph.groups()
    assert graph.groups() is whole  # computed once
    assert graph.groups(within=np.ones(6, int)) is whole  # nothing cut: the same groups
    cut = graph.groups(within=[1, 1, 1, 2, 2, 2])
    assert cut.cell_count.tolist() == [3, 3]
    assert cut.degree.tolist() == [1, 2, 1, 1, 2, 1]
    with pytest.raises(ValueError, match=r"one label per cell \(6\), got shape \(2,\)"):
        graph.groups(within=[1, 2])


def test_graph_arrays_are_read_only_copies():
    cells = _chain(5)
    before = cells.copy()
    graph = ContactGraph(cells)
    for arr in (graph.centres, graph.radii, graph.i, graph.j, graph.length_um,
                graph.nn_distance_um, graph.groups().group, graph.groups().cell_count):
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = 0
    pd.testing.assert_frame_equal(cells, before)


def test_empty_and_single_cell_graphs():
    empty = ContactGraph(_chain(0))
    assert empty.distance_um == 0.0 and len(empty.i) == 0
    assert empty.groups().cell_count.shape == (0,) and empty.nn_distance_um.shape == (0,)
    one = ContactGraph(_chain(1))
    assert one.groups().cell_count.tolist() == [1]
    assert np.isnan(one.nn_distance_um).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "knn"}, "method must be one of 'gabriel', 'radius'"),
        ({"distance_um": 0}, "distance_um must be a finite number > 0"),
    ],
)
def test_contact_graph_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContactGraph(_chain(3), **kwargs)
    with pytest.raises(ValueError, match="pass distance_um"):
        ContactGraph(_chain(3, radius=0.0))
