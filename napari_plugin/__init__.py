"""napari plugin for NodeScope (npe2): reader, sample data and the analysis widget."""

from pipeline import __version__

__all__ = ["__version__"]
