"""Read calibrated RGB images: TIFF, BigTIFF, OME-TIFF, pyramidal TIFF, Aperio SVS, PNG, JPEG.

Every measurement in NodeScope is in micrometres, so reading an image means
reading its pixel size as well. :func:`read_image` returns the full-resolution
RGB pixels together with the pixel size in µm per pixel, taken from the file or
from the caller, and never assumed. :func:`image_info` describes a file (size,
pyramid levels, format, pixel size) from its header without decoding a pixel;
:func:`open_levels` opens the pyramid levels of a TIFF-family slide lazily.

The file type is decided by the content (the first bytes), not by the name: a
PNG saved as ``.svs`` is read as a PNG. In a TIFF file with several images,
every reader takes the same base image: the one with the most pixels, never an
SVS thumbnail, label or macro image (:func:`pipeline.io.tiff.base_series`).

Pixel size sources, in order of priority:

1. the ``pixel_size_um`` argument (``"argument"``);
2. OME-XML ``PhysicalSizeX`` / ``PhysicalSizeY`` with their units (``"ome"``);
3. Aperio ``MPP = ...`` in the SVS ImageDescription (``"aperio-mpp"``);
4. TIFF ``XResolution`` / ``YResolution`` with ``ResolutionUnit`` inch or
   centimetre (``"tiff-resolution"``);
5. ImageJ ``unit=`` in the ImageJ description, for TIFF resolutions without a
   TIFF unit (``"imagej"``);
6. PNG ``pHYs`` in pixels per metre (``"png-phys"``);
7. JPEG JFIF density in dots per inch or per centimetre (``"jpeg-jfif"``).

The package: :mod:`~pipeline.io.source` (file type, :class:`Source`),
:mod:`~pipeline.io.tiff` (the TIFF opener and series rule),
:mod:`~pipeline.io.pillow` (PNG, JPEG), :mod:`~pipeline.io.calibration`
(pixel sizes), :mod:`~pipeline.io.convert` (to 8-bit RGB),
:mod:`~pipeline.io.read` (whole images), :mod:`~pipeline.io.info` (headers
and lazy levels), :mod:`~pipeline.io.write` (calibrated TIFFs).

References
----------
.. [1] OME Data Model, ``Pixels`` element, ``PhysicalSizeX`` (default unit µm).
       https://docs.openmicroscopy.org/ome-model/latest/
.. [2] TIFF Revision 6.0, tags 282, 283 and 296 (XResolution, YResolution,
       ResolutionUnit; ResolutionUnit defaults to inch).
.. [3] PNG Specification, 11.3.5.3 ``pHYs`` Physical pixel dimensions.
"""

from .._validate import PixelSizeError, check_pixel_size
from .calibration import PIXEL_SIZE_SOURCES
from .errors import ImageFormatError, ImageReadError, ImageTooLargeError
from .info import ImageInfo, Levels, image_info, open_levels
from .read import DEFAULT_MAX_PIXELS, read_image, read_pixel_size, verify_pixel_data
from .source import SUPPORTED_SUFFIXES, is_supported
from .write import WRITE_COMPRESSIONS, write_calibrated_tiff

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "PIXEL_SIZE_SOURCES",
    "SUPPORTED_SUFFIXES",
    "WRITE_COMPRESSIONS",
    "ImageFormatError",
    "ImageInfo",
    "ImageReadError",
    "ImageTooLargeError",
    "Levels",
    "PixelSizeError",
    "check_pixel_size",
    "image_info",
    "is_supported",
    "open_levels",
    "read_image",
    "read_pixel_size",
    "verify_pixel_data",
    "write_calibrated_tiff",
]
