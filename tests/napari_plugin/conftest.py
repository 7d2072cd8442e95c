"""Fixtures for the napari plugin tests.

The GUI test modules (:data:`GUI_MODULES`) need napari, pytest-qt and a display;
without them they are not collected and the session header says why. Run them under
Xvfb: ``xvfb-run -a -s '-screen 0 1600x1000x24' python -m pytest tests/napari_plugin``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys

import pytest

#: Test modules that open a napari viewer.
GUI_MODULES = ("test_plugin.py", "test_widget.py", "test_widget_results.py", "test_widget_training.py")


def _gui_missing() -> str | None:
    """Why the GUI tests cannot run here, or None."""
    for module in ("napari", "pytestqt"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[all]')"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display: run the napari tests under xvfb-run"
    return None


_GUI_MISSING = _gui_missing()
collect_ignore = list(GUI_MODULES) if _GUI_MISSING else []


def pytest_report_header(config):
    if _GUI_MISSING:
        return f"napari GUI tests not collected ({', '.join(GUI_MODULES)}): {_GUI_MISSING}"
    return None


@functools.cache
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


def he_model_missing() -> str | None:
    """Why an H&E analysis cannot run here (a shipped model file is missing), or None."""
    from pipeline.he_cells import DEFAULT_HE_CELL_MODEL
    from pipeline.heatmap import DEFAULT_HEATMAP_MODEL

    for path in (DEFAULT_HEATMAP_MODEL, DEFAULT_HEATMAP_MODEL.with_suffix(".json"),
                 DEFAULT_HE_CELL_MODEL):
        if not path.is_file():
            return f"the shipped H&E model {path.name} is not installed; H&E analysis needs it"
    return None


@pytest.fixture
def he_model():
    """Skip a test that analyses H&E pixels when the shipped H&E model is missing."""
    reason = he_model_missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def viewer_widget(make_napari_viewer, qtbot):
    """(viewer, AnalyzeWidget) docked in a fresh napari viewer."""
    from napari_plugin._widget import AnalyzeWidget

    viewer = make_napari_viewer()
    widget = AnalyzeWidget(viewer)
    qtbot.addWidget(widget)
    return viewer, widget
