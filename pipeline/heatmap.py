"""The tissue-level tumour-probability map of an H&E image (a fully convolutional network).

A small network trained on PatchCamelyon lymph-node patches
(``pipeline/models/he_tumour_fcn.onnx``, model card beside it) reads the image
resampled to its input pixel size (~1 µm) and returns, every ``stride`` input
pixels (~8 µm), the probability that the tissue around that point (its
receptive field, ~80 µm) holds metastatic carcinoma. The network uses valid
convolutions only, so the map of a large image equals the maps of its windows:
images and slides are processed in chunks with the same result. It runs on the
CPU through ONNX Runtime.

The map is one of the two inputs of the H&E tumour-cell decision
(:func:`pipeline.stages.find_tumour_cells`); the other is each nucleus' own
appearance. It is also an output: the overlay, the napari layer and the
result's ``tumour_map``.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ._validate import check_pixel_size
from .map_input import needed_chunks, read_resampled, resample_dims, source_margin
from .parallel import default_threads

__all__ = ["HeatmapModel", "TumourMap", "load_heatmap_model", "tumour_map", "map_focus_ratio", "choose_pre_blur",
           "DEFAULT_HEATMAP_MODEL"]

#: The shipped network (ONNX) and its metadata (JSON beside it).
DEFAULT_HEATMAP_MODEL = Path(__file__).resolve().parent / "models" / "he_tumour_fcn.onnx"

# Input chunk side (model pixels, before the receptive-field margin): bounds memory. The map
# does not depend on it (each chunk is resampled from real pixels around it, and the network
# uses valid convolutions): 256 against 512 gives the same map bit for bit. 256: with the
# EfficientNet-Lite0 member's activations (its expanded layers at stride 2, ~100 MB for two
# 512 chunks at once) the map set the analysis' peak (bench/speed.py, 16 MP node at 0.5 µm/px:
# end-to-end peak 6.8x the RGB bytes at 512, 6.4x at 384, 6.0x at 256), and the map took no
# longer (1.19, 1.10, 1.03 s, one run each: smaller chunks stay in cache) despite the larger
# share of margin. (Before 2026-12-01 evening the chunk's own edge entered its resampling and
# the map moved by up to 0.09 at chunk seams.)
_CHUNK_PX = 256
# Chunks of the map are computed side by side while their float source copies (the
# largest arrays of a chunk) fit in this many bytes together.
_PARALLEL_BUDGET_BYTES = 40e6
_RESIZE_ROWS = 256  # rows of TumourMap.resized's output made at a time
# The pre-blur: the sigmas (model pixels) tried, softest last, and the windows of the map's input
# (_FOCUS_WINDOW_PX square, spread over the tissue) on which the focus ratio is measured
_PRE_BLUR_STEPS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_FOCUS_WINDOWS = 6
_FOCUS_WINDOW_PX = 256
# Test-time rotations: the numbers of quarter turns averaged that tumour_map accepts
_ROTATIONS = (1, 2, 4)


@dataclass(frozen=True, eq=False)
class HeatmapModel:
    """An ONNX tumour-map network and its geometry.

    Attributes
    ----------
    path : pathlib.Path
    pixel_size_um : float
        µm per input pixel the network was trained at.
    stride_px, receptive_field_px : int
        Output step and receptive field, in input pixels.
    origin_px : float
        Centre of output (0, 0) in input pixels (output (i, j) is centred at
        ``origin_px + stride_px * (i, j)``).
    meta : dict
        The whole metadata file.
    """

    path: Path
    pixel_size_um: float
    stride_px: int
    receptive_field_px: int
    origin_px: float
    meta: dict = field(repr=False)
    session: object = field(repr=False)
    input_name: str = "rgb"

    @property
    def map_pixel_size_um(self) -> float:
        """µm between neighbouring outputs."""
        return self.stride_px * self.pixel_size_um

    def run(self, rgb: np.ndarray) -> np.ndarray:
        """Probability map of one (H, W, 3) uint8 array at the model's pixel size (valid outputs only)."""
        out = self.session.run(["probability"], {self.input_name: rgb[None]})[0]
        return out[0, 0]


@lru_cache(maxsize=4)
def _session(path: str, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.enable_cpu_mem_arena = False  # the arena keeps the largest chunk's buffers for the process' life
    # no memory pattern either: with it a run allocates its planned activations as one block up
    # front; without, each tensor as it is needed, freed after its last use. The same map, bit
    # for bit, a little faster; the map alone peaks ~50 MiB lower (docs/performance.md)
    opts.enable_mem_pattern = False
    return ort.InferenceSession(path, sess_options=opts, providers=ort.get_available_providers())


_LOAD_LOCK = threading.Lock()


def load_heatmap_model(path=None, *, threads=None) -> HeatmapModel:
    """Load a tumour-map network (default: the shipped one) and its ``.json`` metadata.

    Parameters
    ----------
    path : path-like, optional
        An ``.onnx`` file with a ``.json`` of the same stem beside it.
    threads : int, optional, keyword-only
        ONNX Runtime threads (default: the cores available, at most 4).

    Raises
    ------
    FileNotFoundError
        When the network or its metadata is missing.
    """
    p = Path(path) if path is not None else DEFAULT_HEATMAP_MODEL
    meta_path = p.with_suffix(".json")
    if not p.is_file() or not meta_path.is_file():
        raise FileNotFoundError(f"{p}: tumour-map network or its metadata {meta_path.name} not found")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    n = threads or default_threads()
    with _LOAD_LOCK:
        session = _session(str(p), int(n))
    return HeatmapModel(path=p, pixel_size_um=float(meta["input_pixel_size_um"]),
                        stride_px=int(meta["stride_px"]), receptive_field_px=int(meta["receptive_field_px"]),
                        origin_px=float(meta["output_origin_px"]), meta=meta, session=session,
                        input_name=meta.get("input_name", "rgb"))


@dataclass(frozen=True, eq=False)
class TumourMap:
    """Tumour probability on a regular grid over an image.

    Attributes
    ----------
    probability : (P, Q) float32 ndarray
        Probability of metastatic carcinoma around each grid point, in [0, 1].
    pixel_size_um : float
        µm between grid points.
    origin_um : (float, float)
        (y, x) in µm of grid point (0, 0), in the image's coordinates (pixel
        (r, c) of the image is at (r * px, c * px) µm).
    pre_blur_px : float
        Gaussian sigma (in the network's input pixels) by which the network's
        input was softened first (0: not; see :func:`tumour_map`).
    focus_ratio : float
        :func:`map_focus_ratio` of the network's input before that (NaN: not
        measured).
    rotations : int
        Orientations of the input whose probabilities were averaged (1: the
        image as it is; 2: and turned half way; 4: every quarter turn).
    rotated_above : float
        Points whose unturned probability was below this kept it (0: every
        point averaged).
    """

    probability: np.ndarray = field(repr=False)
    pixel_size_um: float
    origin_um: tuple
    pre_blur_px: float = 0.0
    focus_ratio: float = float("nan")
    rotations: int = 1
    rotated_above: float = 0.0

    def at(self, y_um, x_um) -> np.ndarray:
        """Probability at points (µm), interpolated bilinearly (edge values beyond the grid).

        Examples
        --------
        >>> m = TumourMap(np.array([[0.0, 1.0]], np.float32), 8.0, (0.0, 0.0))
        >>> m.at([0.0, 0.0], [4.0, 20.0]).tolist()
        [0.5, 1.0]
        """
        p = self.probability
        y = (np.asarray(y_um, float) - self.origin_um[0]) / self.pixel_size_um
        x = (np.asarray(x_um, float) - self.origin_um[1]) / self.pixel_size_um
        if p.size == 0:
            return np.zeros(np.broadcast(y, x).shape)
        y = np.clip(y, 0, p.shape[0] - 1)
        x = np.clip(x, 0, p.shape[1] - 1)
        y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
        y1, x1 = np.minimum(y0 + 1, p.shape[0] - 1), np.minimum(x0 + 1, p.shape[1] - 1)
        fy, fx = y - y0, x - x0
        top = p[y0, x0] * (1 - fx) + p[y0, x1] * fx
        bottom = p[y1, x0] * (1 - fx) + p[y1, x1] * fx
        return top * (1 - fy) + bottom * fy

    def local_max(self) -> TumourMap:
        """The map with each point replaced by the highest value of its 3 x 3 neighbourhood."""
        if self.probability.size == 0:
            return self
        grown = cv2.dilate(self.probability, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
        return replace(self, probability=grown)

    def resized(self, shape, pixel_size_um: float, *, window=None) -> np.ndarray:
        """The map resampled onto an image grid of ``shape`` at ``pixel_size_um`` (bilinear).

        ``window``, a (row slice, column slice) pair of that grid (e.g. from
        :meth:`window_at_least`), gives only those pixels of it.

        Examples
        --------
        >>> m = TumourMap(np.array([[0.0, 1.0]], np.float32), 8.0, (0.0, 0.0))
        >>> m.resized((1, 5), 4.0).tolist()
        [[0.0, 0.5, 1.0, 1.0, 1.0]]
        >>> m.resized((1, 5), 4.0, window=(slice(0, 1), slice(1, 3))).tolist()
        [[0.5, 1.0]]
        """
        rows, cols = window if window is not None else (slice(None), slice(None))
        y0, y1, fy = (a[rows] for a in self._axis(shape[0], pixel_size_um, 0))
        x0, x1, fx = (a[cols] for a in self._axis(shape[1], pixel_size_um, 1))
        out = np.zeros((len(y0), len(x0)), np.float32)  # filled in row blocks: no full-size temporaries
        p = self.probability
        if p.size == 0 or out.size == 0:
            return out
        # bilinear interpolation is separable on a grid: along the rows, then the columns
        along = np.ascontiguousarray(p[y0] * (1 - fy)[:, None] + p[y1] * fy[:, None], dtype=np.float32)
        wx0, wx1 = 1 - fx, fx
        for r in range(0, out.shape[0], _RESIZE_ROWS):
            block = along[r:r + _RESIZE_ROWS]
            part = block[:, x0] * wx0
            part += block[:, x1] * wx1
            out[r:r + _RESIZE_ROWS] = part
        return out

    def window_at_least(self, threshold: float, shape, pixel_size_um: float):
        """A (row slice, column slice) of the image grid of :meth:`resized` outside which the
        resampled map stays below ``threshold`` (the pixels between the first and last grid
        lines that reach it); None when it stays below everywhere.

        Examples
        --------
        >>> m = TumourMap(np.array([[0.0, 0.0, 1.0]], np.float32), 8.0, (0.0, 0.0))
        >>> m.window_at_least(0.5, (1, 8), 4.0)
        (slice(0, 1, None), slice(2, 8, None))
        """
        hit = self.probability >= threshold
        if not hit.any():
            return None
        window = []
        for axis, n in enumerate(shape[:2]):
            lo, hi, _ = self._axis(n, pixel_size_um, axis)
            # a pixel interpolates between grid lines lo and hi: at or above the threshold only
            # when one of its (up to 4) grid points is
            lines = hit.any(axis=1 - axis)
            idx = np.flatnonzero(lines[lo] | lines[hi])
            if not len(idx):
                return None
            window.append(slice(int(idx[0]), int(idx[-1]) + 1))
        return tuple(window)

    def _axis(self, n, pixel_size_um, axis):
        """Grid position of every image pixel along one axis: lower line, upper line, weight."""
        size = max(1, self.probability.shape[axis])
        t = np.clip((np.arange(n) * pixel_size_um - self.origin_um[axis]) / self.pixel_size_um, 0, size - 1)
        lo = np.floor(t).astype(int)
        return lo, np.minimum(lo + 1, size - 1), (t - lo).astype(np.float32)


def _gradient_sums(rgb: np.ndarray) -> tuple:
    """(sum of the Sobel gradient magnitude of the optical density blurred by 1 px, the same
    unblurred, pixels) over the stained pixels (optical density > 0.3) of an RGB uint8 image."""
    od = -np.log10(np.maximum(rgb.astype(np.float32), 1.0) / 255.0).sum(-1)
    stained = od > 0.3
    n = int(np.count_nonzero(stained))
    if not n:
        return 0.0, 0.0, 0

    def total(a):
        g = cv2.magnitude(cv2.Sobel(a, cv2.CV_32F, 1, 0), cv2.Sobel(a, cv2.CV_32F, 0, 1))
        return float(g[stained].sum(dtype=np.float64))

    return total(cv2.GaussianBlur(od, (0, 0), 1.0)), total(od), n


def map_focus_ratio(windows, *, pre_blur_px=0.0) -> float:
    """How soft the network's input is: the mean gradient of its optical density after a
    Gaussian blur of 1 pixel over the mean before it, on its stained pixels.

    Parameters
    ----------
    windows : (H, W, 3) uint8 ndarray or sequence of them
        RGB at the network's input pixel size (~0.97 µm/px); several windows are pooled
        (their gradient sums added).
    pre_blur_px : float, keyword-only
        Blur the windows by a Gaussian of this sigma (pixels) first (0: as they are).

    Returns
    -------
    float
        Between 0 and 1, higher is softer (1: no detail finer than ~1 px). PatchCamelyon
        test patches have a median of 0.53 (the same blurred by 0.5 px: 0.59, by 0.8 px: 0.68;
        sharpened: 0.47), the CAMELYON tiles 0.60. NaN with fewer than 200 stained pixels.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.full((64, 64, 3), (230, 170, 200), np.uint8); rgb[::4, ::4] = (80, 40, 120)
    >>> map_focus_ratio(rgb) < map_focus_ratio(rgb, pre_blur_px=0.8)
    True
    """
    if isinstance(windows, np.ndarray) and windows.ndim == 3:
        windows = [windows]
    soft = sharp = count = 0.0
    for w in windows:
        w = np.asarray(w)
        if w.ndim != 3 or w.shape[-1] != 3 or w.dtype != np.uint8:
            raise ValueError(f"windows must be (H, W, 3) uint8 RGB arrays, got {w.shape} {w.dtype}")
        if pre_blur_px > 0:
            w = cv2.GaussianBlur(w, (0, 0), pre_blur_px)
        a, b, n = _gradient_sums(w)
        soft, sharp, count = soft + a, sharp + b, count + n
    if count < 200:
        return float("nan")
    return soft / max(sharp, 1e-6)


def choose_pre_blur(windows, target: float, cap: float) -> tuple:
    """The pre-blur rule of :func:`tumour_map`: the smallest sigma of 0, 0.2, 0.3, ... up to ``cap``
    (pixels) after which the :func:`map_focus_ratio` of ``windows`` reaches ``target``.

    Returns
    -------
    (float, float)
        The sigma (``cap`` when none reaches ``target``; 0 when the ratio is undefined), and the
        windows' focus ratio before it.

    Examples
    --------
    >>> import numpy as np
    >>> rgb = np.full((64, 64, 3), (230, 170, 200), np.uint8); rgb[::4, ::4] = (80, 40, 120)
    >>> choose_pre_blur([rgb], 1.0, 0.5)[0], choose_pre_blur([rgb], 0.0, 0.5)[0]
    (0.5, 0.0)
    """
    before = map_focus_ratio(windows) if windows else float("nan")
    if not np.isfinite(before) or before >= target:
        return 0.0, before
    steps = [v for v in _PRE_BLUR_STEPS if 0 < v <= cap + 1e-9]
    for sigma in steps:
        if map_focus_ratio(windows, pre_blur_px=sigma) >= target:
            return sigma, before
    return (steps[-1] if steps else 0.0), before


def _pre_blur_policy(model, pre_blur):
    """(focus target or None, the most pre-blur in model pixels) from ``tumour_map``'s ``pre_blur``."""
    if pre_blur is None:
        policy = model.meta.get("pre_blur")
        if not policy:
            return None, 0.0
        return float(policy["focus_target"]), float(policy["max_px"])
    try:
        sigma = float(pre_blur)
    except (TypeError, ValueError):
        raise ValueError(f"pre_blur must be None (the model's own) or a sigma in pixels, got {pre_blur!r}") from None
    if not 0 <= sigma <= 3:
        raise ValueError(f"pre_blur must be between 0 and 3 (pixels at the network's input), got {pre_blur}")
    return None, sigma


def _rotation_policy(model, rotations):
    """(quarter-turn orientations averaged, the unturned probability from which a point is
    averaged) from ``tumour_map``'s ``rotations``."""
    if rotations is None:
        policy = model.meta.get("test_time_rotations")
        if not policy:
            return 1, 0.0
        turns, above = int(policy["turns"]), float(policy.get("above", 0.0))
        if turns not in _ROTATIONS or not 0 <= above < 1:
            raise ValueError(f"{model.path.with_suffix('.json').name}: test_time_rotations must have turns in "
                             f"{_ROTATIONS} and above in [0, 1), got {policy}")
        return turns, above
    if isinstance(rotations, bool) or rotations not in _ROTATIONS:
        raise ValueError(f"rotations must be None (the model's own), 1, 2 or 4, got {rotations!r}")
    return int(rotations), 0.0


def _rotated_mean(model, chunk, prob, turns, above, rows, cols):
    """``prob`` (the network's map of ``chunk``) with each point of its first ``rows`` x ``cols``
    whose value is at least ``above`` replaced by the mean of the maps of ``chunk`` turned by
    ``turns`` orientations (quarter turns: 4 = 0, 90, 180, 270 degrees; 2 = 0, 180), each turned
    back. A chunk is a whole number of the network's strides plus its receptive field, so the
    turned maps fall on the same grid points: the value at a point depends only on the pixels
    around it, not on the chunk."""
    need = prob >= above
    need[rows:] = False
    need[:, cols:] = False
    if not need.any():
        return prob
    total = prob.astype(np.float64)
    for k in range(4 // turns, 4, 4 // turns):
        turned = np.ascontiguousarray(np.rot90(chunk, k))
        total += np.rot90(model.run(turned), -k)
    return np.where(need, (total / turns).astype(np.float32), prob)


def tumour_map(image, *, pixel_size_um=None, model=None, threads=None, on_chunk=None, mask=None,
               pre_blur=None, rotations=None) -> TumourMap:
    """Tumour-probability map of an H&E image or slide.

    Parameters
    ----------
    image : (M, N, 3) uint8 ndarray or pipeline.slide.Slide
        The image (not modified) or an open slide (read from the pyramid level
        nearest the network's pixel size, chunk by chunk).
    pixel_size_um : float, keyword-only
        µm per pixel of ``image``; required for an array.
    model : HeatmapModel, optional, keyword-only
        Default: the shipped network.
    threads : int, optional, keyword-only
        Threads (default: the cores available, at most 4): chunks of the map
        are computed side by side, one thread each, as long as their float
        copies of the image fit in ~40 MB together (two chunks of a 0.25 µm/px
        image, ~20 MB each); otherwise one at a time on all the threads. The
        map is the same for any number of threads.
        With ``model`` given, its own ONNX Runtime threads are used.
    on_chunk : callable, optional, keyword-only
        Called as ``on_chunk(chunks_done, chunks_total)`` after each chunk of
        the map (the network runs on windows of about 256 x 256 of its pixels),
        from the thread that computed it, one call at a time, ``chunks_done``
        counting up.
    mask : (P, Q) bool array-like, optional, keyword-only
        Where the map is needed (the tissue), at any resolution that covers the
        whole image (a slide's overview mask, or the image's own). A chunk of the
        map none of whose points lies within two map steps of the mask is not
        computed and reads 0: every point that a nucleus inside the mask reads
        (:meth:`TumourMap.at`, and :meth:`TumourMap.local_max` at it) is the
        network's. Default: the whole image.
    pre_blur : float, optional, keyword-only
        Soften the network's input by a Gaussian of this sigma (pixels at the
        network's input size) first; 0: as it is. Default: the model's own
        rule, ``"pre_blur": {"focus_target": F, "max_px": S}`` in its metadata:
        the smallest sigma of 0, 0.2, 0.3, ... up to S after which the input's
        :func:`map_focus_ratio`, measured on up to six windows of 256 x 256 of
        its pixels spread over ``mask``, reaches F (an input as soft as that is
        left alone); none without a rule. The shipped map has no rule yet
        (a trial of F = 0.58, S = 0.5 is in docs/he_model.md).
    rotations : {1, 2, 4}, optional, keyword-only
        Test-time augmentation: average the network's probabilities over the
        input as it is and turned by quarter turns (4: 0, 90, 180 and 270
        degrees; 2: 0 and 180; 1: as it is), at every point. Default: the
        model's own rule, ``"test_time_rotations": {"turns": T, "above": A}``
        in its metadata: T orientations, averaged only at the points whose
        unturned probability is at least A (the rest of the map, clear
        tissue, costs one run); 1 without a rule. Each orientation is a full
        run of the network where it is needed. The shipped map has no rule:
        four turns raise its PatchCamelyon patch AUC a little but not the
        analysis' sensitivity or specificity (docs/he_model.md).

    Returns
    -------
    TumourMap
        One value every ``model.map_pixel_size_um`` µm over the whole image
        (the image is mirrored at its borders so edge points have a full field;
        0 on chunks that ``mask`` leaves out).

    Examples
    --------
    >>> import numpy as np
    >>> m = tumour_map(np.full((200, 300, 3), 230, np.uint8), pixel_size_um=1.0)
    >>> m.probability.shape, round(m.pixel_size_um, 2)
    ((26, 39), 7.76)
    """
    from .slide import Slide

    n_threads = int(threads) if threads is not None else default_threads()
    if n_threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    given = model
    model = model if model is not None else load_heatmap_model(threads=1)
    if isinstance(image, Slide):
        level = image.level_for(model.pixel_size_um)
        level_um = image.level_pixel_size(level)
        shape = image.level_shapes[level]

        def read(y0, y1, x0, x1):
            return image.read(y0, y1, x0, x1, level=level)
        src_um = level_um
        base_um = image.pixel_size_um
    else:
        rgb = np.asarray(image)
        if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"image must be an (M, N, 3) uint8 RGB array, got {rgb.shape} {rgb.dtype}")
        src_um = base_um = check_pixel_size(pixel_size_um)
        shape = rgb.shape[:2]

        def read(y0, y1, x0, x1):
            return rgb[y0:y1, x0:x1]
    scale = src_um / model.pixel_size_um  # source pixels -> model pixels
    dims = resample_dims(shape, scale)    # the whole image at the model's pixel size
    s, r = model.stride_px, model.receptive_field_px
    half = int(np.ceil(model.origin_px))
    n_out = (int(np.ceil(dims[0] / s)), int(np.ceil(dims[1] / s)))
    out = np.zeros(n_out, np.float32)
    step = max(s, (_CHUNK_PX // s) * s)
    origins = [(oy, ox) for oy in range(0, dims[0], step) for ox in range(0, dims[1], step)]
    if mask is not None:
        origins = needed_chunks(origins, np.asarray(mask, bool), dims, step, s)
    target, sigma = _pre_blur_policy(model, pre_blur)
    turns, above = _rotation_policy(model, rotations)
    focus = float("nan")
    if target is not None:
        # the softness of the input, read on up to _FOCUS_WINDOWS windows of a fixed grid (not the
        # chunks': the map must not depend on the chunk size) spread over the tissue
        w = _FOCUS_WINDOW_PX
        grid = [(oy, ox) for oy in range(0, dims[0], w) for ox in range(0, dims[1], w)]
        if mask is not None:
            grid = needed_chunks(grid, np.asarray(mask, bool), dims, w, s)
        picks = np.unique(np.linspace(0, len(grid) - 1, min(_FOCUS_WINDOWS, len(grid))).round().astype(int)) \
            if grid else []
        windows = [read_resampled(read, shape, scale, dims, oy, min(oy + w, dims[0]), ox, min(ox + w, dims[1]))
                   for oy, ox in (grid[i] for i in picks)]
        sigma, focus = choose_pre_blur(windows, target, sigma)
        del windows
    # the blur's reach (OpenCV's kernel spans at most 4 sigma) plus a pixel: each chunk is read that
    # much wider and blurred, so that its pixels do not depend on where it starts
    blur_pad = int(np.ceil(4 * sigma)) + 1 if sigma > 0 else 0
    # chunks side by side, one ONNX Runtime thread each: 1.4-1.7 x faster on 2 cores than one
    # chunk at a time on 2 intra-op threads (the resampling is single-threaded, and the small
    # convolutions scale poorly within a run), the same map; as many at once as the memory
    # budget allows (a chunk of a 40x scan is resampled from a ~20 MB float copy: two at a time)
    side = (step - s + r + 2 * blur_pad) / scale + 2 * source_margin(scale)[1] + 1  # as read_resampled reads
    in_flight = max(1, min(n_threads, len(origins), int(_PARALLEL_BUDGET_BYTES // (side * side * 12))))
    if in_flight == 1 and given is None and n_threads > 1:
        model = load_heatmap_model(threads=n_threads)
    lock = threading.Lock()
    done = [0]

    def run(origin):
        oy, ox = origin
        ny = min(step, dims[0] - oy)
        nx = min(step, dims[1] - ox)
        # model-pixel window whose valid outputs are centred on oy .. oy + ny (every s)
        wy0, wx0 = oy - half, ox - half
        hy = (int(np.ceil(ny / s)) - 1) * s + r
        hx = (int(np.ceil(nx / s)) - 1) * s + r
        p = blur_pad
        chunk = read_resampled(read, shape, scale, dims, wy0 - p, wy0 + hy + p, wx0 - p, wx0 + hx + p)
        if p:
            chunk = np.ascontiguousarray(cv2.GaussianBlur(chunk, (0, 0), sigma)[p:-p, p:-p])
        prob = model.run(chunk)
        iy, ix = oy // s, ox // s
        if turns > 1:
            prob = _rotated_mean(model, chunk, prob, turns, above, n_out[0] - iy, n_out[1] - ix)
        del chunk
        out[iy:iy + prob.shape[0], ix:ix + prob.shape[1]] = prob[: n_out[0] - iy, : n_out[1] - ix]
        if on_chunk is not None:
            with lock:
                done[0] += 1
                on_chunk(done[0], len(origins))

    if in_flight > 1:
        with ThreadPoolExecutor(in_flight) as pool:
            for _ in pool.map(run, origins):  # each chunk writes its own part of ``out``
                pass
    else:
        for origin in origins:
            run(origin)
    # grid point (i, j) is model pixel (s i, s j) + (origin - half): back to image µm
    shift = model.origin_px - half
    origin = ((shift + 0.5) * model.pixel_size_um - 0.5 * src_um) if scale != 1 else shift * src_um
    origin_um = (origin, origin)
    if base_um != src_um:  # a slide level: level pixel centres sit at (k + 0.5) * f - 0.5 base pixels
        f = src_um / base_um
        origin_um = tuple((o / src_um * f + 0.5 * (f - 1)) * base_um for o in origin_um)
    return TumourMap(out, model.map_pixel_size_um, origin_um, pre_blur_px=float(sigma), focus_ratio=float(focus),
                     rotations=turns, rotated_above=above if turns > 1 else 0.0)

