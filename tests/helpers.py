"""Tiny hand-built brightfield images for tests (independent of pipeline.synthetic), and the
scripts of ``tools/`` loaded as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str):
    """``tools/<name>.py`` as a module (registered in ``sys.modules`` under ``name``)."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module

H = np.array([0.650, 0.704, 0.286])
E = np.array([0.072, 0.990, 0.105])
D = np.array([0.268, 0.570, 0.776])


def toy_node(*, stain="ihc", px=0.5, size_um=300, tumour_yx_um=((150, 150),), tumour_r_um=6.0,
             lymph_spacing_um=10.0, seed=0):
    """A field of lymphocytes with tumour cells at given centres.

    Lymphocytes: dark round nuclei 6.5 µm across. Tumour cells: paler 2*tumour_r_um
    nuclei with a stained cytoplasm disc (DAB for IHC, eosin for H&E).
    Returns (rgb, tumour centres in µm).
    """
    rng = np.random.default_rng(seed)
    m = n = int(size_um / px)
    yy, xx = (np.mgrid[:m, :n] + 0.5) * px
    h = np.zeros((m, n))
    c = np.full((m, n), 0.05 if stain == "he" else 0.0)
    tumour = np.asarray(tumour_yx_um, float).reshape(-1, 2)
    g = np.arange(lymph_spacing_um / 2, size_um, lymph_spacing_um)
    ly, lx = np.meshgrid(g, g, indexing="ij")
    ly = ly.ravel() + rng.uniform(-1, 1, ly.size)
    lx = lx.ravel() + rng.uniform(-1, 1, lx.size)
    for y, x in zip(ly, lx):
        if len(tumour) and np.min(np.hypot(tumour[:, 0] - y, tumour[:, 1] - x)) < 2 * tumour_r_um + 5:
            continue
        sl = (slice(max(0, int((y - 5) / px)), int((y + 5) / px) + 1), slice(max(0, int((x - 5) / px)), int((x + 5) / px) + 1))
        disk = (yy[sl] - y) ** 2 + (xx[sl] - x) ** 2 <= 3.25**2
        h[sl][disk] = 0.9
    for y, x in tumour:
        cyto = (yy - y) ** 2 + (xx - x) ** 2 <= (tumour_r_um + 5) ** 2
        c[cyto] = 0.5 if stain == "ihc" else 0.45
        nuc = (yy - y) ** 2 + (xx - x) ** 2 <= tumour_r_um**2
        h[nuc] = 0.55
        c[nuc] = 0.0 if stain == "ihc" else 0.1
    # chromatin texture: nuclei are never uniform (coefficient of variation ~0.15)
    h *= 1 + 0.15 * rng.standard_normal(h.shape)
    other = D if stain == "ihc" else E
    od = h[..., None] * H + c[..., None] * other
    rgb = 245 * 10 ** (-od) + rng.normal(0, 1.5, od.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8), tumour
