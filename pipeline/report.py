"""A self-contained HTML report of a batch: node table, overlay thumbnails, charts, patient pN.

No scripts and no external assets: charts are inline SVG, styles are inline,
and each node's overlay is a JPEG thumbnail (``thumbs/<output>.jpg`` next to
``report.html``, or a data URI with ``embed=True`` for one file that can be
e-mailed) that links to the full ``overlay.png``. Thumbnails are 640 px wide
JPEGs kept under :data:`THUMB_MAX_BYTES`, so a 1,000-node report stays under
about 50 MB. All text from data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pandas as pd

from ._version import __version__
from .defaults import COHESIVE_MAX, ITC_MAX_UM, MICRO_MAX_UM, SINGLE_FILE_MIN
from .export import atomic_write
from .patients import load_patients, node_frame
from .staging import NOT_ASSESSABLE

__all__ = ["write_report", "render_report", "deposit_histogram_svg", "discohesion_svg",
           "thumbnail_data_uri", "thumbnail_jpeg", "load_patients", "THUMB_MAX_BYTES"]

#: Largest thumbnail file (bytes): quality, then width, is lowered until it fits.
THUMB_MAX_BYTES = 50_000
#: (width fraction of ``max_width``, JPEG quality) tried in turn.
_THUMB_STEPS = ((1.0, 80), (1.0, 65), (0.85, 65), (0.75, 60), (0.65, 55), (0.5, 50))

#: AJCC size limits drawn on the deposit histogram (mm): ITC <= 0.2 < micro <= 2 < macro.
SIZE_LIMITS_MM = (ITC_MAX_UM / 1000, MICRO_MAX_UM / 1000)

_CATEGORY_COLOURS = {
    "negative": "#e8f5e9", "itc": "#fff8e1", "micrometastasis": "#ffe0b2", "macrometastasis": "#ffcdd2",
    NOT_ASSESSABLE: "#d6d6d6",
}
_PATTERN_COLOURS = {"cohesive": "#1f77b4", "mixed": "#ff7f0e", "single_file": "#d62728", "none": "#9e9e9e"}

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666;font-size:13px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.thumb{padding:2px}td.thumb img{display:block;width:auto;max-width:min(420px,40vw);height:auto}
td.name{max-width:170px;overflow-wrap:anywhere}.wide{overflow-x:auto}
.cat{padding:1px 6px;border-radius:3px;white-space:nowrap}
.charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
figure{margin:0}figcaption{font-size:12px;color:#555;max-width:600px}
svg text{font-family:inherit}
.err td{background:#fff3f3}
.why{font-size:12px;color:#555;margin-top:2px}
"""


def _e(value) -> str:
    """HTML-escaped text of any value (None becomes an empty string)."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return html.escape(str(value), quote=True)


def _num(value, fmt: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return format(v, fmt) if math.isfinite(v) else ""


def thumbnail_jpeg(png_path, *, max_width: int = 640, max_bytes: int = THUMB_MAX_BYTES) -> bytes | None:
    """An overlay downscaled to at most ``max_width`` pixels wide, as JPEG bytes under ``max_bytes``.

    Quality starts at 80; quality then width are lowered until the file fits
    (never below half the width and quality 50). Never upscaled. Returns
    ``None`` when the file is missing or unreadable.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, cv2
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.png"
    >>> _ = cv2.imwrite(str(p), np.zeros((100, 1000, 3), np.uint8))
    >>> data = thumbnail_jpeg(p)
    >>> data[:2] == b"\\xff\\xd8", cv2.imdecode(np.frombuffer(data, np.uint8), 1).shape
    (True, (64, 640, 3))
    >>> thumbnail_jpeg(p.with_name("missing.png")) is None
    True
    """
    from PIL import Image

    try:
        data = np.fromfile(str(png_path), dtype=np.uint8)
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        return None
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    h, w = image.shape[:2]
    best = None
    for fraction, quality in _THUMB_STEPS:
        width = min(w, max(1, round(max_width * fraction)))
        small = image if width == w else cv2.resize(image, (width, max(1, round(h * width / w))),
                                                    interpolation=cv2.INTER_AREA)
        buf = io.BytesIO()
        Image.fromarray(small).save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        best = buf.getvalue()
        if len(best) <= max_bytes:
            break
    return best


def thumbnail_data_uri(png_path, *, max_width: int = 640) -> str | None:
    """:func:`thumbnail_jpeg` as a ``data:image/jpeg;base64,`` URI (``None`` when unreadable).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, cv2
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "o.png"
    >>> _ = cv2.imwrite(str(p), np.zeros((100, 1000, 3), np.uint8))
    >>> thumbnail_data_uri(p).startswith("data:image/jpeg;base64,")
    True
    """
    data = thumbnail_jpeg(png_path, max_width=max_width)
    if data is None:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _mm_label(v: float) -> str:
    return f"{v:g}"


def deposit_histogram_svg(sizes_mm, *, width: int = 600, height: int = 280, bins_per_decade: int = 4) -> str:
    """Inline SVG histogram of deposit sizes (log-scale x, mm) with lines at 0.2 and 2 mm.

    Parameters
    ----------
    sizes_mm : array-like of float
        Longest diameters in mm; values <= 0 or not finite are left out.

    Examples
    --------
    >>> svg = deposit_histogram_svg([0.05, 0.3, 0.3, 2.5])
    >>> svg.startswith("<svg") and "0.2 mm" in svg and "2 mm" in svg
    True
    """
    sizes = np.asarray(list(sizes_mm), float)
    sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
    lo_dec = -1 if sizes.size == 0 else max(-4, min(-1, math.floor(math.log10(sizes.min()))))
    hi_dec = 1 if sizes.size == 0 else max(1, math.ceil(math.log10(sizes.max() * 1.0001)))
    edges = np.logspace(lo_dec, hi_dec, (hi_dec - lo_dec) * bins_per_decade + 1)
    counts, _ = np.histogram(sizes, edges)
    left, right, top, bottom = 56, 16, 18, 46
    pw, ph = width - left - right, height - top - bottom
    ymax_raw = max(1, int(counts.max()) if counts.size else 1)
    ystep = max(1, _nice_step(ymax_raw, 4))
    ymax = int(math.ceil(ymax_raw / ystep) * ystep)

    def x_of(v):
        return left + (math.log10(v) - lo_dec) / (hi_dec - lo_dec) * pw

    def y_of(c):
        return top + ph - c / ymax * ph

    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Histogram of deposit sizes">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for c in np.arange(0, ymax + ystep / 2, ystep):
        y = y_of(c)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e6e6e6"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{int(c)}</text>')
    for k, c in enumerate(counts):
        if c == 0:
            continue
        x0, x1 = x_of(edges[k]), x_of(edges[k + 1])
        y = y_of(c)
        parts.append(
            f'<rect x="{x0 + 1:.1f}" y="{y:.1f}" width="{max(1.0, x1 - x0 - 2):.1f}" height="{top + ph - y:.1f}" '
            f'fill="#4a78b5"><title>{_mm_label(edges[k])}-{_mm_label(edges[k + 1])} mm: {int(c)}</title></rect>'
        )
    for d in range(lo_dec, hi_dec + 1):
        x = x_of(10.0 ** d)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 5}" stroke="#333"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 18}" font-size="11" text-anchor="middle">'
                     f'{_mm_label(10.0 ** d)}</text>')
    for limit in SIZE_LIMITS_MM:
        x = x_of(limit)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#c62828" '
                     f'stroke-width="1.5" stroke-dasharray="5,3"/>')
        parts.append(f'<text x="{x + 4:.1f}" y="{top + 12}" font-size="11" fill="#c62828">{_mm_label(limit)} mm</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{height - 8}" font-size="12" text-anchor="middle">'
                 f'longest deposit diameter (mm, log scale)</text>')
    parts.append(f'<text x="14" y="{top + ph / 2:.1f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {top + ph / 2:.1f})">deposits</text>')
    if sizes.size == 0:
        parts.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph / 2:.1f}" font-size="13" fill="#777" '
                     f'text-anchor="middle">no tumour deposits</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def discohesion_svg(names, values, patterns=None, *, width: int = 600, row: int = 20,
                    limits=(COHESIVE_MAX, SINGLE_FILE_MIN)) -> str:
    """Inline SVG horizontal bar chart of the discohesion index (0-1) per node.

    Bars are coloured by growth pattern; dashed lines mark the cohesive and
    single-file limits. A missing value is shown as "n/a".

    Examples
    --------
    >>> svg = discohesion_svg(["a.tif", "b<.tif"], [0.1, None], ["cohesive", "none"])
    >>> svg.count("<rect") >= 2 and "b&lt;.tif" in svg and "n/a" in svg
    True
    """
    names = [str(n) for n in names]
    patterns = list(patterns) if patterns is not None else [None] * len(names)
    label_w, right, top, bottom = 230, 50, 24, 40
    pw = width - label_w - right
    height = top + bottom + row * max(1, len(names))
    ph = row * max(1, len(names))
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Discohesion index per node">',
        f'<rect x="{label_w}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
    ]
    for t in (0, 0.25, 0.5, 0.75, 1.0):
        x = label_w + t * pw
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#e6e6e6"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 15}" font-size="11" text-anchor="middle">{t:g}</text>')
    for k, (name, value, pattern) in enumerate(zip(names, values, patterns)):
        y = top + k * row
        short = name if len(name) <= 34 else name[:31] + "..."
        parts.append(f'<text x="{label_w - 6}" y="{y + row * 0.7:.1f}" font-size="11" text-anchor="end">'
                     f'<title>{_e(name)}</title>{_e(short)}</text>')
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        if not math.isfinite(v):
            parts.append(f'<text x="{label_w + 4}" y="{y + row * 0.7:.1f}" font-size="11" fill="#777">n/a</text>')
            continue
        v = min(1.0, max(0.0, v))
        colour = _PATTERN_COLOURS.get(str(pattern), "#607d8b")
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(0.5, v * pw):.1f}" height="{row - 6}" '
                     f'fill="{colour}"><title>{_e(name)}: {v:.2f} ({_e(pattern)})</title></rect>')
        parts.append(f'<text x="{label_w + v * pw + 4:.1f}" y="{y + row * 0.7:.1f}" font-size="11">{v:.2f}</text>')
    for lim in limits or ():
        x = label_w + lim * pw
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="#555" '
                     f'stroke-dasharray="4,3"/>')
    lx = label_w
    for pattern, colour in _PATTERN_COLOURS.items():
        parts.append(f'<rect x="{lx}" y="6" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="15" font-size="11">{_e(pattern.replace("_", "-"))}</text>')
        lx += 90
    parts.append(f'<text x="{label_w + pw / 2:.1f}" y="{height - 6}" font-size="12" text-anchor="middle">'
                 f'discohesion index (fraction of dispersed tumour cells)</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _deposit_sizes_mm(out_dir: Path, summaries) -> np.ndarray:
    sizes = []
    for s in summaries:
        path = out_dir / str(s.get("output", "")) / "deposits.csv"
        try:
            table = pd.read_csv(path, usecols=["longest_diameter_um"])
        except (OSError, ValueError):
            continue
        sizes.append(pd.to_numeric(table["longest_diameter_um"], errors="coerce").to_numpy(float) / 1000.0)
    return np.concatenate(sizes) if sizes else np.zeros(0)


def _table(headers, rows, *, classes=None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for k, cells in enumerate(rows):
        cls = f' class="{classes[k]}"' if classes else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def render_report(out_dir, summaries, *, patients=None, errors=None, title="NodeScope batch report",
                  thumb_width: int = 640, thumbnails=None) -> str:
    """The report as one HTML string (see :func:`write_report`).

    ``thumbnails`` maps a node's ``output`` to its thumbnail's address relative
    to the report; nodes not in it get an embedded JPEG data URI.
    """
    thumbnails = dict(thumbnails or {})
    out = Path(out_dir)
    summaries = [dict(s) for s in summaries]
    errors = list(errors or [])
    # Node table
    node_rows = []
    for s in summaries:
        output = str(s.get("output", ""))
        uri = thumbnails.get(output) if output else None
        if uri is None and output:
            uri = thumbnail_data_uri(out / output / "overlay.png", max_width=thumb_width)
        thumb = (f'<a href="{_e(quote(output))}/overlay.png"><img src="{_e(uri)}" alt="overlay of {_e(s.get("image"))}" '
                 f'loading="lazy"></a>') if uri else '<span class="meta">no overlay</span>'
        cat = str(s.get("category", ""))
        largest = s.get("largest_deposit_um")
        largest_mm = _num(float(largest) / 1000.0, ".3f") if largest is not None else ""
        flags = s.get("flags")
        flags = "; ".join(map(str, flags)) if isinstance(flags, (list, tuple)) else (flags or "")
        why = (f'<div class="why">{_e(s.get("category_reason"))}</div>'
               if cat == NOT_ASSESSABLE else "")
        shown = s.get("path") or s.get("image")
        node_rows.append([
            f'<td class="thumb">{thumb}</td>',
            f'<td class="name">{_e(shown)}</td>',
            f'<td><span class="cat {_e(cat)}" style="background:{_CATEGORY_COLOURS.get(cat, "#eee")}">'
            f'{_e(cat.replace("_", " "))}</span>{why}</td>',
            f"<td>{_e(s.get('stain'))}</td>",
            f'<td class="num">{_num(s.get("pixel_size_um"), ".4g")}</td>',
            f"<td>{_e(flags)}</td>",
            f'<td class="num">{largest_mm}</td>',
            f"<td>{_e(s.get('growth_pattern'))}</td>",
            f'<td class="num">{_num(s.get("discohesion_index"), ".2f")}</td>',
            f"<td>{_e(s.get('pn_category'))}</td>",
            f'<td class="num">{_e(s.get("tumor_cell_count"))}</td>',
        ])
    node_table = _table(["Overlay", "Image", "Category", "Stain", "Pixel size (µm)", "Flags",
                         "Largest deposit (mm)", "Growth pattern",
                         "Discohesion index", "pN category", "Tumour cells"], node_rows)
    # Charts
    params = next((s.get("parameters") for s in summaries if isinstance(s.get("parameters"), dict)), {}) or {}
    limits = (params.get("cohesive_max", COHESIVE_MAX), params.get("single_file_min", SINGLE_FILE_MIN))
    hist = deposit_histogram_svg(_deposit_sizes_mm(out, summaries))
    bars = discohesion_svg([s.get("image") or s.get("output") for s in summaries],
                           [s.get("discohesion_index") for s in summaries],
                           [s.get("growth_pattern") for s in summaries], limits=limits)
    n_dep = int(sum(int(s.get("deposit_count") or 0) for s in summaries))
    # Patients
    patient_html = ""
    if patients is not None and summaries:
        from .patients import stage_patients

        table = stage_patients(node_frame(summaries), patients=load_patients(patients), unmatched="skip")
        prow = [[f"<td>{_e(r.patient)}</td>", f"<td><b>{_e(r.pn_stage)}</b></td>",
                 f"<td>{_e(r.camelyon17_label)}</td>", f'<td class="num">{_e(r.nodes)}</td>',
                 f'<td class="num">{_e(r.positive_nodes)}</td>',
                 f"<td>{_e(str(r.categories).replace(';', '; '))}</td>",
                 f"<td>{_e(r.nodes_not_assessable)}</td>", f"<td>{_e(r.nodes_to_confirm)}</td>"]
                for r in table.itertuples(index=False)]
        patient_html = ("<h2>Patients (pN stage)</h2>\n"
                        + _table(["Patient", "pN stage", "CAMELYON17 label", "Nodes", "Positive nodes",
                                  "Node categories", "Left out (not assessable)",
                                  "To confirm with cytokeratin (tumour found in H&E)"], prow))
    error_html = ""
    if errors:
        erows = [[f"<td>{_e(Path(str(r.get('file', ''))).name)}</td>", f"<td>{_e(r.get('error'))}</td>"]
                 for r in errors]
        error_html = f"<h2>Failed images ({len(errors)})</h2>\n" + _table(["File", "Error"], erows,
                                                                           classes=["err"] * len(erows))
    counts = pd.Series([s.get("category") for s in summaries], dtype=object).value_counts()
    tally = ", ".join(f"{_e(k)}: {int(v)}" for k, v in counts.items())
    stamp = datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    failed = f", {len(errors)} failed" if errors else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{len(summaries)} node(s) with results{failed}; {tally or "no results"}.
Generated {_e(stamp)} by NodeScope {_e(__version__)} from {_e(out.resolve())}.</p>
{error_html}
{patient_html}
<h2>Charts</h2>
<div class="charts">
<figure>{hist}<figcaption>Longest diameter of every tumour deposit of every node ({n_dep} deposits).
Dashed lines: 0.2 mm (isolated tumour cells / micrometastasis) and 2 mm
(micro- / macrometastasis), AJCC 8th.</figcaption></figure>
<figure>{bars}<figcaption>Discohesion index per node: the fraction of tumour cells that are dispersed
(single-file or single cells). Dashed lines: the cohesive and single-file limits.</figcaption></figure>
</div>
<h2>Nodes</h2>
<div class="wide">{node_table}</div>
</body>
</html>
"""


def write_report(out_dir, summaries, *, patients=None, errors=None, title="NodeScope batch report",
                 thumb_width: int = 640, embed: bool = False) -> Path:
    """Write ``out_dir/report.html``: a self-contained, offline HTML report of a batch.

    Parameters
    ----------
    out_dir : path-like
        The batch folder; each node's ``<output>/overlay.png`` and
        ``<output>/deposits.csv`` are read from it.
    summaries : list of dict
        Node summaries (the contents of ``summary.json`` plus ``output``, the
        node's folder name), in the order to show.
    patients : path-like or DataFrame, optional, keyword-only
        ``patient``, ``image`` mapping: adds the patient pN table
        (:func:`pipeline.patients.stage_patients`).
    errors : list of dict, optional, keyword-only
        ``file``, ``error`` rows of failed images.
    thumb_width : int, keyword-only
        Thumbnail width in pixels (overlays are downscaled, never upscaled).
    embed : bool, keyword-only
        Embed the thumbnails as data URIs (one file) instead of writing
        ``out_dir/thumbs/<output>.jpg``.

    Returns
    -------
    pathlib.Path
        The report's path. Written atomically.
    """
    thumbnails = {}
    if not embed:
        for s in summaries:
            output = str(s.get("output", "") or "")
            data = thumbnail_jpeg(Path(out_dir) / output / "overlay.png", max_width=thumb_width) if output else None
            if data is None:
                continue
            target = Path(out_dir) / "thumbs" / f"{output}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(target) as tmp:
                tmp.write_bytes(data)
            thumbnails[output] = f"thumbs/{quote(output)}.jpg"
    path = Path(out_dir) / "report.html"
    text = render_report(out_dir, summaries, patients=patients, errors=errors, title=title,
                         thumb_width=thumb_width, thumbnails=thumbnails)
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
