"""Fixtures for the napari plugin tests.

GUI tests (``pytest.mark.gui``: test_widget.py, test_plugin.py) need napari,
pytest-qt and a display; they skip cleanly without them. Run them under Xvfb:
``xvfb-run -a -s '-screen 0 1600x1000x24' python -m pytest tests/napari_plugin``.
"""

from __future__ import annotations

import functools

import pytest


@functools.lru_cache(maxsize=None)
def _sample(key):
    from napari_plugin._sample_data import make_sample

    return make_sample(key)[0]


@pytest.fixture
def sample_data():
    """``sample_data(key)`` -> (rgb, kwargs, "image"), generated once per session (copies)."""

    def get(key):
        rgb, kwargs, kind = _sample(key)
        kwargs = dict(kwargs, metadata=dict(kwargs["metadata"]))
        return rgb.copy(), kwargs, kind

    return get
