"""A downsampled picture of a node's findings, for reports and review."""

from __future__ import annotations

import cv2
import numpy as np

from .results import NodeResult

__all__ = ["render_overlay", "DEPOSIT_COLOURS"]

#: Colours (RGB) cycled over deposits; the largest deposit is the first.
DEPOSIT_COLOURS = (
    (230, 25, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (60, 180, 75),
    (240, 50, 230), (0, 128, 128), (170, 110, 40), (128, 0, 0), (0, 0, 128),
)
_SINGLE_FILE = (255, 200, 0)
_HEAT = (230, 0, 160)  # tumour-probability tint and contour (magenta: unlike H&E pink and DAB brown)


def _nice_bar_um(width_um: float) -> float:
    """A round scale-bar length of about a fifth of the width."""
    target = width_um / 5
    for v in (10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000):
        if v >= target:
            return float(v)
    return float(10 ** np.ceil(np.log10(target)))


def _text(img, text, org, scale, colour=(0, 0, 0)):
    thick = max(1, int(round(scale * 2)))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def render_overlay(image, result: NodeResult, *, max_side=2000, image_pixel_size_um=None) -> np.ndarray:
    """Draw tumour cells, deposit outlines, the largest caliper and a scale bar.

    Parameters
    ----------
    image : (M, N, 3) uint8 ndarray
        The analysed image (full resolution); not modified.
    result : NodeResult
    max_side : int, keyword-only
        Longest side of the returned picture, in pixels.
    image_pixel_size_um : float, optional, keyword-only
        µm per pixel of ``image`` when it is not the analysed resolution (a
        whole slide's overview); default ``result.pixel_size_um``.

    Returns
    -------
    (P, Q, 3) uint8 ndarray
        Tumour cells are dots coloured by deposit, except dispersed ones (single
        cells, small groups and single-file chains) which are amber, deposits have their
        outline, the largest deposit its longest diameter labelled in mm, and a
        scale bar sits in the lower left corner.

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.analysis import analyze
    >>> img = np.full((100, 100, 3), 245, np.uint8)
    >>> render_overlay(img, analyze(img, pixel_size_um=1.0)).shape
    (100, 100, 3)
    """
    rgb = np.asarray(image)
    m, n = rgb.shape[:2]
    f = min(1.0, max_side / max(m, n))
    out = cv2.resize(rgb, (max(1, round(n * f)), max(1, round(m * f))), interpolation=cv2.INTER_AREA) if f < 1 else rgb.copy()
    out = np.ascontiguousarray(out)
    um_to_px = f / (image_pixel_size_um or result.pixel_size_um)
    scale = max(0.4, min(out.shape[:2]) / 1200)
    tmap = getattr(result, "tumour_map", None)
    if tmap is not None and tmap.probability.size:
        # the tumour-probability map: a tint that deepens with the probability, above 0.5
        prob = tmap.resized(out.shape[:2], 1.0 / um_to_px)
        alpha = np.clip((prob - 0.5) / 0.5, 0, 1)[..., None] * 0.45
        tint = np.array(_HEAT, float)
        out = np.round(out * (1 - alpha) + tint * alpha).astype(np.uint8)
        edge = (prob >= 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(edge, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, _HEAT, max(1, int(scale * 1.5)), cv2.LINE_AA)
    cells = result.cells
    deposits = result.deposits
    colour_of = {int(d): DEPOSIT_COLOURS[i % len(DEPOSIT_COLOURS)]
                 for i, d in enumerate(deposits["deposit_id"])} if len(deposits) else {}
    for _, dep in deposits.iterrows():
        poly = np.asarray(dep["outline"], float) * um_to_px
        if len(poly) >= 3:
            pts = np.round(poly[:, ::-1]).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(out, [pts], True, colour_of[int(dep["deposit_id"])], max(1, int(scale * 2)), cv2.LINE_AA)
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
    if len(deposits):
        big = deposits.iloc[int(np.argmax(deposits["longest_diameter_um"].to_numpy()))]
        p0 = (int(round(big["feret_x0_um"] * um_to_px)), int(round(big["feret_y0_um"] * um_to_px)))
        p1 = (int(round(big["feret_x1_um"] * um_to_px)), int(round(big["feret_y1_um"] * um_to_px)))
        cv2.line(out, p0, p1, (0, 0, 0), max(2, int(scale * 3)), cv2.LINE_AA)
        for p in (p0, p1):
            cv2.circle(out, p, max(3, int(scale * 5)), (0, 0, 0), -1, cv2.LINE_AA)
        label = f"{big['longest_diameter_um'] / 1000:.2f} mm"
        mid = ((p0[0] + p1[0]) // 2 + 8, (p0[1] + p1[1]) // 2 - 8)
        _text(out, label, mid, scale)
    # scale bar, lower left
    h, w = out.shape[:2]
    bar_um = _nice_bar_um(w / um_to_px)
    bar_px = int(round(bar_um * um_to_px))
    x0, y0 = int(0.04 * w), int(h - 0.05 * h)
    cv2.rectangle(out, (x0, y0 - max(3, int(4 * scale))), (x0 + bar_px, y0), (0, 0, 0), -1)
    bar_label = f"{bar_um / 1000:g} mm" if bar_um >= 1000 else f"{bar_um:g} um"
    _text(out, bar_label, (x0, y0 - max(8, int(12 * scale))), scale)
    _text(out, f"{result.category}  {result.pn_category}", (x0, max(20, int(40 * scale))), scale)
    return out
