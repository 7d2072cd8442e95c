"""A downsampled picture of a node's findings that explains itself, for reports and review.

The picture carries its own key: a legend (deposit colours, dispersed cells,
tissue outline, caliper, tumour-probability tint), diameter labels set clear of
the caliper and of each other, a µm scale bar and the result's title, each
placed where it covers the least tissue. Text is drawn with Pillow (OpenCV's
Hershey font has no µ) and scaled to the picture; on tiny pictures (a 100 px
tile) no text is drawn on the image and the title and legend go to a panel on
its right.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np

from .quality import CONFIRM_WITH_IHC
from .results import NodeResult

__all__ = ["render_overlay", "legend_entries", "DEPOSIT_COLOURS"]

#: Colours (RGB) cycled over deposits; the largest deposit is the first.
DEPOSIT_COLOURS = (
    (230, 25, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (60, 180, 75),
    (240, 50, 230), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128),
)
_SINGLE_FILE = (255, 200, 0)
_HEAT = (230, 0, 160)  # tumour-probability tint and contour (magenta: unlike H&E pink and DAB brown)
_TISSUE = (40, 110, 40)  # outline of the tissue that was analysed
_NUCLEUS = (60, 60, 160)  # faint dots of segmented nuclei, when the result carries them
_GREY_BOX, _GREY_TEXT = (214, 214, 214), (85, 85, 85)
#: Pictures whose shorter side is below this get no text on the image (a side panel instead).
TINY_SIDE = 300


@functools.lru_cache(maxsize=32)
def _font(size: int):
    """DejaVu Sans (matplotlib's copy or the system's) at ``size`` px, else Pillow's default."""
    from PIL import ImageFont

    candidates = ["DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.insert(0, str(Path(loc) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"))
    for candidate in candidates:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _text_size(text: str, size: int) -> tuple[int, int]:
    box = _font(size).getbbox(text)
    return int(box[2] - box[0]), int(box[3] + size * 0.25)


def _nice_bar_um(width_um: float) -> float:
    """A round scale-bar length of about a fifth of the width."""
    target = width_um / 5
    for v in (10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if v >= target:
            return float(v)
    return float(10 ** np.ceil(np.log10(target)))


def _title(result: NodeResult) -> tuple[str, bool]:
    """The overlay's title and whether it is the grey not-assessable one."""
    if result.category == "not_assessable":
        reason = result.not_assessable_reason or result.category_reason or ""
        return f"not assessable: {reason}".rstrip(": "), True
    title = f"{result.category.replace('_', ' ')}  {result.pn_category}"
    if CONFIRM_WITH_IHC in (result.flags or ()):  # tumour found in H&E (docs/quality.md)
        title += "  (H&E: confirm with IHC)"
    return title, False


def _nucleus_centres(result: NodeResult):
    """(y, x) µm of every segmented nucleus as a (K, 2) array when the result carries them
    (its ``nuclei`` table or its ``nucleus_centres_um``), else None."""
    table = getattr(result, "nuclei", None)
    if table is not None and hasattr(table, "columns") and {"y_um", "x_um"} <= set(table.columns):
        return table[["y_um", "x_um"]].to_numpy(float)
    centres = getattr(result, "nucleus_centres_um", None)
    if centres is None:
        return None
    centres = np.asarray(centres, float)
    return centres if centres.ndim == 2 and centres.shape[1] == 2 else None


def legend_entries(result: NodeResult) -> list[tuple[str, str, tuple]]:
    """The legend of :func:`render_overlay` for ``result``: (kind, label, colour) rows.

    ``kind`` is how the swatch is drawn: ``"fill"``, ``"dot"``, ``"line"``,
    ``"outline"`` or ``"deposits"`` (one swatch per deposit colour used).
    Only what the overlay shows is listed.

    Examples
    --------
    >>> import pandas as pd
    >>> from pipeline.measure import empty_deposits
    >>> r = NodeResult(pd.DataFrame(), empty_deposits(), 0.5, "he", "negative",
    ...                "no tumour cells", "pN0", "camelyon", nucleus_count=12)
    >>> [label for _, label, _ in legend_entries(r)]
    ['tissue analysed (12 nuclei)', 'no tumour cells found']
    """
    rows = []
    nuclei = _nucleus_centres(result)
    if nuclei is not None and len(nuclei):
        rows.append(("dot", f"segmented nuclei ({len(nuclei):,})", _NUCLEUS))
        rows.append(("outline", "tissue analysed", _TISSUE))
    else:
        rows.append(("outline", f"tissue analysed ({int(result.nucleus_count):,} nuclei)", _TISSUE))
    tmap = getattr(result, "tumour_map", None)
    if tmap is not None and getattr(tmap, "probability", np.zeros(0)).size:
        rows.append(("fill", "tumour probability > 0.5", _HEAT))
    n_dep = len(result.deposits)
    cells = result.cells
    if n_dep:
        rows.append(("deposits", f"tumour deposit{'s' if n_dep > 1 else ''} ({n_dep}), by colour",
                     DEPOSIT_COLOURS[0]))
    if len(cells) and "dispersed" in cells.columns and cells["dispersed"].to_numpy(bool).any():
        rows.append(("dot", "dispersed tumour cells", _SINGLE_FILE))
    if n_dep:
        rows.append(("line", "longest diameter", (0, 0, 0)))
    if not len(cells):
        rows.append(("none", "no tumour cells found", (0, 0, 0)))
    return rows


class _Layout:
    """Rectangles already taken by text, and a mask of what text should not cover."""

    def __init__(self, busy: np.ndarray):
        self.busy = busy
        self.taken: list[tuple[int, int, int, int]] = []
        h, w = busy.shape
        self.h, self.w = h, w

    def cost(self, rect) -> float:
        x0, y0, x1, y1 = rect
        if x0 < 0 or y0 < 0 or x1 > self.w or y1 > self.h:
            return np.inf
        for a in self.taken:
            if x0 < a[2] and a[0] < x1 and y0 < a[3] and a[1] < y1:
                return np.inf
        region = self.busy[y0:y1, x0:x1]
        return float(region.mean()) if region.size else 0.0

    def corner(self, w: int, h: int, margin: int) -> tuple[int, int, int, int] | None:
        """The free corner box of size ``w`` x ``h`` that covers the least tissue."""
        spots = [(margin, margin), (self.w - w - margin, margin),
                 (margin, self.h - h - margin), (self.w - w - margin, self.h - h - margin)]
        best, best_cost = None, np.inf
        for x, y in spots:
            rect = (int(x), int(y), int(x + w), int(y + h))
            c = self.cost(rect)
            if c < best_cost - 1e-9:
                best, best_cost = rect, c
        if best is not None:
            self.taken.append(best)
        return best


def _blend_box(out: np.ndarray, rect, colour=(255, 255, 255), alpha=0.8) -> None:
    x0, y0, x1, y1 = rect
    region = out[y0:y1, x0:x1].astype(float)
    out[y0:y1, x0:x1] = np.round(region * (1 - alpha) + np.array(colour, float) * alpha).astype(np.uint8)


def _segment_hits_rect(p0, p1, rect, pad: float) -> bool:
    x0, y0, x1, y1 = rect[0] - pad, rect[1] - pad, rect[2] + pad, rect[3] + pad
    for t in np.linspace(0, 1, 64):
        x, y = p0[0] + t * (p1[0] - p0[0]), p0[1] + t * (p1[1] - p0[1])
        if x0 <= x <= x1 and y0 <= y <= y1:
            return True
    return False


def _place_label(layout: _Layout, size, anchor, away, p0=None, p1=None, pad=4):
    """A rectangle for a label of ``size`` near ``anchor``, pushed along ``away`` (a unit
    vector) and its opposite, clear of the segment p0-p1 and of taken rectangles."""
    tw, th = size
    ax, ay = anchor
    options = []
    for sign in (1, -1):
        for dist in (0.6, 1.0, 1.6, 2.4):
            d = dist * max(tw, th)
            cx, cy = ax + sign * away[0] * d, ay + sign * away[1] * d
            options.append((int(round(cx - tw / 2)), int(round(cy - th / 2))))
    for x, y in options:
        rect = (x, y, x + tw, y + th)
        if p0 is not None and _segment_hits_rect(p0, p1, rect, pad):
            continue
        if np.isfinite(layout.cost(rect)):
            layout.taken.append(rect)
            return rect
    return None


def _legend_swatch(out, kind, colour, box, line_w):
    x0, y0, x1, y1 = box
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    r = max(2, (y1 - y0) // 3)
    if kind == "fill":
        _blend_box(out, box, colour, 0.55)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, max(1, line_w // 2), cv2.LINE_AA)
    elif kind == "dot":
        cv2.circle(out, (cx, cy), r, colour, -1, cv2.LINE_AA)
    elif kind == "line":
        cv2.line(out, (x0, cy), (x1, cy), (255, 255, 255), line_w + 2, cv2.LINE_AA)
        cv2.line(out, (x0, cy), (x1, cy), colour, line_w, cv2.LINE_AA)
        for x in (x0, x1):
            cv2.circle(out, (x, cy), max(2, line_w), colour, -1, cv2.LINE_AA)
    elif kind == "outline":
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, line_w, cv2.LINE_AA)
    elif kind == "deposits":
        step = (x1 - x0) // 3
        for k in range(3):
            cv2.circle(out, (x0 + step // 2 + k * step, cy), r, DEPOSIT_COLOURS[k], -1, cv2.LINE_AA)


def _draw_legend(out, entries, origin, font_size, line_w, texts):
    """Swatches into ``out`` and their labels into ``texts`` (drawn later with Pillow)."""
    x, y = origin
    row = int(font_size * 1.35)
    sw = int(font_size * 1.8)
    for kind, label, colour in entries:
        box = (x, y + row // 5, x + sw, y + row - row // 5)
        _legend_swatch(out, kind, colour, box, line_w)
        texts.append((label, (x + sw + font_size // 2, y + (row - font_size) // 2 - 1), font_size, (0, 0, 0), None))
        y += row


def _legend_size(entries, font_size) -> tuple[int, int]:
    row = int(font_size * 1.35)
    sw = int(font_size * 1.8)
    width = max(_text_size(label, font_size)[0] for _, label, _ in entries) + sw + font_size // 2
    return width, row * len(entries)


def _draw_texts(out: np.ndarray, texts) -> np.ndarray:
    """Draw (text, (x, y), size, colour, halo) rows with Pillow; halo None means no halo."""
    from PIL import Image, ImageDraw

    pic = Image.fromarray(out)
    draw = ImageDraw.Draw(pic)
    for text, org, size, colour, halo in texts:
        stroke = max(1, size // 7) if halo is not None else 0
        draw.text(org, text, font=_font(size), fill=tuple(colour), stroke_width=stroke,
                  stroke_fill=tuple(halo) if halo is not None else None)
    return np.asarray(pic).copy()


def _halo_for(colour) -> tuple:
    """A light halo for dark text, a dark one for light text."""
    return (0, 0, 0) if float(np.dot(colour, (0.299, 0.587, 0.114))) > 140 else (255, 255, 255)


def _tissue_outline(out: np.ndarray, pixel_size_um: float) -> np.ndarray:
    """The tissue of the picture, found at ~4 µm per pixel (the mask's own working
    resolution; ``tissue_mask`` shrinks only by whole factors, so a picture at
    2-4 µm/px would otherwise be worked on at full size)."""
    from .tissue import tissue_mask

    m, n = out.shape[:2]
    factor = 4.0 / pixel_size_um
    small, px = out, pixel_size_um
    if 1.25 < factor < 4.0:
        size = (max(1, round(n / factor)), max(1, round(m / factor)))
        small = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
        px = pixel_size_um * n / size[0]
    try:
        mask = tissue_mask(small, pixel_size_um=px)
    except ValueError:
        return np.zeros((m, n), bool)
    if small is not out:
        mask = cv2.resize(mask.astype(np.uint8), (n, m), interpolation=cv2.INTER_NEAREST)
    return mask.astype(bool)


def _draw_tumour_map(out: np.ndarray, tmap, um_to_px: float, line_w: int) -> None:
    """Tint ``out`` in place where the tumour-probability map exceeds 0.5 (deepening with it)
    and outline that region. Only the window of the picture that the map can tint is
    resampled, and its arrays live only here (they set the peak memory of writing the outputs)."""
    window = tmap.window_at_least(0.5, out.shape[:2], 1.0 / um_to_px)
    if window is None:
        return
    alpha = tmap.resized(out.shape[:2], 1.0 / um_to_px, window=window)
    edge = (alpha >= 0.5).astype(np.uint8)
    # per-pixel blend in OpenCV (uint8 in and out, rounded) over the window; alpha made in
    # place from the probability, 0 below 0.5 (there the picture is unchanged)
    alpha -= 0.5
    alpha /= 0.5
    np.clip(alpha, 0, 1, out=alpha)
    alpha *= 0.45
    part = np.ascontiguousarray(out[window])
    heat = cv2.rectangle(np.empty_like(part), (0, 0), (part.shape[1], part.shape[0]), _HEAT, -1)
    out[window] = cv2.blendLinear(part, heat, 1 - alpha, alpha)
    offset = (window[1].start, window[0].start)
    contours, _ = cv2.findContours(edge, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=offset)
    cv2.drawContours(out, contours, -1, _HEAT, line_w, cv2.LINE_AA)


def render_overlay(image, result: NodeResult, *, max_side=2000, image_pixel_size_um=None,
                   legend=True) -> np.ndarray:
    """Draw tumour cells, deposit outlines, the caliper, a legend, a title and a scale bar.

    Parameters
    ----------
    image : (M, N, 3) uint8 ndarray
        The analysed image (full resolution); not modified.
    result : NodeResult
    max_side : int, keyword-only
        Longest side of the picture, in pixels.
    image_pixel_size_um : float, optional, keyword-only
        µm per pixel of ``image`` when it is not the analysed resolution (a
        whole slide's overview); default ``result.pixel_size_um``.
    legend : bool, keyword-only
        Draw the legend (:func:`legend_entries`).

    Returns
    -------
    (P, Q, 3) uint8 ndarray
        The outline of the tissue analysed (green), segmented nuclei as faint
        dots when the result carries them, the tumour-probability tint
        (magenta), tumour cells as dots coloured by deposit except dispersed
        ones (single cells, small groups, single-file chains) which are amber,
        deposit outlines, the largest deposit's longest diameter (black with a
        white halo) and the diameter in mm of every deposit at least a quarter of its size, a µm scale bar, the
        title (category and pN; grey "not assessable: reason") and the legend,
        text placed where it covers least tissue. A picture whose shorter side
        is below ``TINY_SIDE`` gets no text on the image: title and legend go
        to a white panel on its right (so Q > N).

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.analysis import analyze
    >>> img = np.full((400, 400, 3), 245, np.uint8)
    >>> render_overlay(img, analyze(img, pixel_size_um=1.0)).shape
    (400, 400, 3)
    """
    rgb = np.asarray(image)
    m, n = rgb.shape[:2]
    f = min(1.0, max_side / max(m, n))
    out = cv2.resize(rgb, (max(1, round(n * f)), max(1, round(m * f))), interpolation=cv2.INTER_AREA) if f < 1 else rgb.copy()
    out = np.ascontiguousarray(out[..., :3])
    um_to_px = f / (image_pixel_size_um or result.pixel_size_um)
    h, w = out.shape[:2]
    tiny = min(h, w) < TINY_SIDE
    scale = max(0.4, max(h, w) / 1200)
    font_size = max(11, int(round(max(h, w) * 0.024)))  # ~11 px on a 480 px thumbnail
    line_w = max(1, int(round(scale * 1.6)))
    busy = _tissue_outline(out, 1.0 / um_to_px)  # later also what labels should not cover
    if busy.any():
        contours, _ = cv2.findContours(busy.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, _TISSUE, line_w, cv2.LINE_AA)
    nuclei = _nucleus_centres(result)
    if nuclei is not None and len(nuclei):
        ys = np.clip(np.round(nuclei[:, 0] * um_to_px).astype(int), 0, h - 1)
        xs = np.clip(np.round(nuclei[:, 1] * um_to_px).astype(int), 0, w - 1)
        dots = np.zeros((h, w), bool)
        dots[ys, xs] = True
        if scale >= 1:
            dots = cv2.dilate(dots.astype(np.uint8), np.ones((2, 2), np.uint8)).astype(bool)
        out[dots] = np.round(out[dots] * 0.45 + np.array(_NUCLEUS) * 0.55).astype(np.uint8)
        del dots
    tmap = getattr(result, "tumour_map", None)
    if tmap is not None and tmap.probability.size:
        _draw_tumour_map(out, tmap, um_to_px, line_w)
    cells = result.cells
    deposits = result.deposits
    colour_of = {int(d): DEPOSIT_COLOURS[i % len(DEPOSIT_COLOURS)]
                 for i, d in enumerate(deposits["deposit_id"])} if len(deposits) else {}
    polys = {}
    for dep_id, outline in zip(deposits["deposit_id"], deposits["outline"]) if len(deposits) else ():
        poly = np.asarray(outline, float) * um_to_px
        if poly.ndim == 2 and len(poly) >= 3:
            pts = np.round(poly[:, ::-1]).astype(np.int32).reshape(-1, 1, 2)
            polys[int(dep_id)] = pts
            cv2.polylines(out, [pts], True, colour_of[int(dep_id)], max(1, int(scale * 2)), cv2.LINE_AA)
            cv2.fillPoly(busy.view(np.uint8), [pts], 1)
    if len(cells):
        ys = np.round(cells["y_um"].to_numpy() * um_to_px).astype(int)
        xs = np.round(cells["x_um"].to_numpy() * um_to_px).astype(int)
        rs = np.maximum(1, np.round(cells["radius_um"].to_numpy() * um_to_px)).astype(int)
        dep_ids = cells["deposit_id"].to_numpy() if "deposit_id" in cells else np.zeros(len(cells), int)
        dispersed = cells["dispersed"].to_numpy(bool) if "dispersed" in cells.columns \
            else np.zeros(len(cells), bool)
        for y, x, r, d, disp in zip(ys, xs, rs, dep_ids, dispersed):
            colour = _SINGLE_FILE if disp else colour_of.get(int(d), (230, 25, 75))
            cv2.circle(out, (int(x), int(y)), int(r), colour, -1 if r <= 2 else max(1, int(scale)), cv2.LINE_AA)
    texts = []
    layout = _Layout(busy)
    margin = max(3, font_size // 2)
    entries = legend_entries(result) if legend else []
    title, grey = _title(result)
    if not tiny:
        # title, legend and scale bar in the corners with least tissue, largest first
        pad = font_size // 3
        tw, th = _text_size(title, font_size)
        tw = min(tw, w - 2 * margin - 2 * pad)
        boxes = []
        if entries:
            lw, lh = _legend_size(entries, font_size)
            rect = layout.corner(lw + 2 * pad, lh + 2 * pad, margin)
            if rect is not None:
                _blend_box(out, rect)
                _draw_legend(out, entries, (rect[0] + pad, rect[1] + pad), font_size, line_w, texts)
        rect = layout.corner(tw + 2 * pad, th + 2 * pad, margin)
        if rect is not None:
            _blend_box(out, rect, _GREY_BOX if grey else (255, 255, 255), 0.9 if grey else 0.8)
            boxes.append(rect)
            texts.append((_fit(title, tw, font_size), (rect[0] + pad, rect[1] + pad), font_size,
                          _GREY_TEXT if grey else (0, 0, 0), None))
        bar_um = _nice_bar_um(w / um_to_px)
        bar_px = max(1, int(round(bar_um * um_to_px)))
        bar_label = f"{bar_um / 1000:g} mm" if bar_um >= 1000 else f"{bar_um:g} µm"
        bw, bh = _text_size(bar_label, font_size)
        bar_h = max(3, int(round(font_size / 4)))
        rect = layout.corner(max(bar_px, bw) + 2 * pad, bh + bar_h + 3 * pad, margin)
        if rect is not None:
            _blend_box(out, rect, alpha=0.7)
            bx, by = rect[0] + pad, rect[3] - pad
            cv2.rectangle(out, (bx, by - bar_h), (bx + bar_px, by), (0, 0, 0), -1)
            texts.append((bar_label, (bx, rect[1] + pad), font_size, (0, 0, 0), None))
    # calipers and diameter labels: the largest deposit's caliper is drawn, every
    # deposit of at least a quarter of its size (up to 4, largest first) gets its diameter,
    # clear of the line and of the rest
    if len(deposits):
        diameters = deposits["longest_diameter_um"].to_numpy(float)
        order = [i for i in np.argsort(-diameters)[:4] if diameters[i] >= 0.25 * diameters.max()]
        lines = []
        for k, i in enumerate(order):
            dep = deposits.iloc[int(i)]
            p0 = (int(round(dep["feret_x0_um"] * um_to_px)), int(round(dep["feret_y0_um"] * um_to_px)))
            p1 = (int(round(dep["feret_x1_um"] * um_to_px)), int(round(dep["feret_y1_um"] * um_to_px)))
            if k == 0:
                lw_ = max(2, int(scale * 2.5))
                cv2.line(out, p0, p1, (255, 255, 255), lw_ + 2 * max(1, lw_ // 2), cv2.LINE_AA)
                cv2.line(out, p0, p1, (0, 0, 0), lw_, cv2.LINE_AA)
                for p in (p0, p1):
                    cv2.circle(out, p, max(3, int(scale * 4)), (0, 0, 0), -1, cv2.LINE_AA)
            lines.append((dep, p0, p1))
        if not tiny:
            for dep, p0, p1 in lines:
                label = f"{dep['longest_diameter_um'] / 1000:.2f} mm"
                size = _text_size(label, font_size)
                d = np.array([p1[0] - p0[0], p1[1] - p0[1]], float)
                norm = np.hypot(*d)
                away = (-d[1] / norm, d[0] / norm) if norm > 0 else (0.0, -1.0)
                mid = ((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2)
                rect = _place_label(layout, size, mid, away, p0, p1, pad=max(3, line_w * 2))
                if rect is not None:
                    texts.append((label, rect[:2], font_size, (0, 0, 0), _halo_for((0, 0, 0))))
    if texts:
        out = _draw_texts(out, texts)
    if tiny:
        out = _side_panel(out, title, grey, entries)
    return out


def _fit(text: str, width: int, size: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    if _text_size(text, size)[0] <= width:
        return text
    while len(text) > 1 and _text_size(text + "…", size)[0] > width:
        text = text[:-1]
    return text + "…"


def _side_panel(out: np.ndarray, title: str, grey: bool, entries) -> np.ndarray:
    """A white panel right of a tiny picture holding its title and legend (11 px text)."""
    size = 11
    rows = [("none", title, (0, 0, 0))] + list(entries)
    lw, lh = _legend_size(rows, size)
    pw = min(max(lw + 10, 120), 320)
    h, w = out.shape[:2]
    ph = max(h, lh + 10)
    canvas = np.full((ph, w + pw, 3), 255, np.uint8)
    canvas[:h, :w] = out
    texts = []
    x0 = w + 5
    title_box = (x0 - 2, 3, w + pw - 2, 3 + int(size * 1.35))
    if grey:
        _blend_box(canvas, title_box, _GREY_BOX, 1.0)
    texts.append((_fit(title, pw - 10, size), (x0, 5), size, _GREY_TEXT if grey else (0, 0, 0), None))
    _draw_legend(canvas, entries, (x0, 5 + int(size * 1.35)), size, 1, texts)
    texts = [(_fit(t, w + pw - o[0] - 2, s), o, s, c, hl) for t, o, s, c, hl in texts]
    return _draw_texts(canvas, texts)
