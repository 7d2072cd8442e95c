"""NodeScope: measure breast-cancer metastases in lymph-node histology.

The library works on arrays: every length is in micrometres, derived from the
pixel size, which is read from the file or given by the user, never assumed.

The most used names are available here (imported on first use, so that the
command line starts fast): :func:`analyze`, :func:`analyze_slide`,
:func:`analyze_file`, the stages :func:`find_nuclei`, :func:`find_tumour_cells`
and :func:`measure_node`, :func:`read_image`, :func:`image_info`,
:class:`AnalysisOptions` and :class:`NodeResult`.
"""

from ._version import __version__

_LAZY = {
    "analyze": "pipeline.analysis",
    "analyze_slide": "pipeline.analysis",
    "analyze_file": "pipeline.analysis",
    "find_nuclei": "pipeline.detection",
    "find_tumour_cells": "pipeline.stages",
    "measure_node": "pipeline.stages",
    "read_image": "pipeline.io",
    "image_info": "pipeline.io",
    "AnalysisOptions": "pipeline.options",
    "NodeResult": "pipeline.results",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
