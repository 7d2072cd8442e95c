"""NodeScope: measure breast-cancer metastases in lymph-node histology.

The library works on arrays: every length is in micrometres, derived from the
pixel size, which is read from the file or given by the user, never assumed.
"""

from ._version import __version__

__all__ = ["__version__"]
