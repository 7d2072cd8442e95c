"""Stains and acquisition: stain vectors, their per-slide variation, Beer–Lambert.

References
----------
.. [1] Ruifrok AC, Johnston DA. Quantification of histochemical staining by color
       deconvolution. Anal Quant Cytol Histol 23(4):291-299, 2001.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["REFERENCE_STAIN_VECTORS", "Acquisition", "beer_lambert", "sample_acquisition"]

#: Optical-density vectors (R, G, B) of Ruifrok & Johnston (2001), unit length.
REFERENCE_STAIN_VECTORS = {
    name: np.asarray(v, dtype=float) / np.linalg.norm(v)
    for name, v in {
        "hematoxylin": (0.650, 0.704, 0.286),
        "eosin": (0.072, 0.990, 0.105),
        "dab": (0.268, 0.570, 0.776),
    }.items()
}

_STAINS = ("hematoxylin", "eosin", "dab")


@dataclass
class Acquisition:
    """How one slide was stained and scanned.

    Attributes
    ----------
    vectors : (3, 3) float ndarray
        Rows: haematoxylin, eosin and DAB optical-density vectors (R, G, B), unit length.
    strengths : (3,) float
        Multipliers of each stain's optical density.
    background : (3,) float
        Incident light I0 per channel (grey levels of empty glass).
    blur_um : float
        Standard deviation of the Gaussian optical blur, µm.
    noise_sigma : float
        Standard deviation of additive sensor noise, grey levels.
    """

    vectors: np.ndarray
    strengths: np.ndarray
    background: np.ndarray
    blur_um: float
    noise_sigma: float

    def as_dict(self) -> dict:
        return {
            "stain_vectors": {n: [round(float(c), 6) for c in v] for n, v in zip(_STAINS, self.vectors)},
            "stain_strengths": {n: round(float(s), 6) for n, s in zip(_STAINS, self.strengths)},
            "background_rgb": [round(float(c), 3) for c in self.background],
            "blur_sigma_um": round(float(self.blur_um), 6),
            "noise_sigma": round(float(self.noise_sigma), 6),
        }


def _rotate(rng, vector, max_deg):
    """Rotate a unit vector by a random angle up to ``max_deg`` about a random axis."""
    axis = np.cross(vector, rng.normal(size=3))
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(0.0, max_deg))
    out = vector * np.cos(angle) + np.cross(axis, vector) * np.sin(angle)
    out = np.clip(out, 1e-3, None)
    return out / np.linalg.norm(out)


def sample_acquisition(rng: np.random.Generator, *, stain: str, variation: bool) -> Acquisition:
    """Stain vectors, strengths, glass colour, blur and noise for one slide.

    With ``variation=False`` the reference vectors, unit strengths, neutral
    glass (240), 0.5 µm blur and 1.5 grey-level noise are used.

    Examples
    --------
    >>> acq = sample_acquisition(np.random.default_rng(0), stain="he", variation=False)
    >>> acq.background.tolist(), acq.strengths.tolist()
    ([240.0, 240.0, 240.0], [1.0, 1.0, 1.0])
    """
    ref = np.stack([REFERENCE_STAIN_VECTORS[n] for n in _STAINS])
    # Haematoxylin is a lighter counterstain in immunohistochemistry.
    h_level = 1.0 if stain == "he" else 0.65
    if not variation:
        return Acquisition(ref, np.array([h_level, 1.0, 1.0]), np.full(3, 240.0), 0.5, 1.5)
    vectors = np.stack([_rotate(rng, v, 8.0) for v in ref])
    strengths = rng.uniform(0.7, 1.3, 3)
    strengths[0] *= h_level * (rng.uniform(0.85, 1.15) if stain == "ihc" else 1.0)
    base = rng.uniform(232.0, 248.0)
    background = np.clip(base + rng.normal(0.0, 2.5, 3), 230.0, 250.0)
    return Acquisition(vectors, strengths, background, rng.uniform(0.3, 0.8), rng.uniform(1.0, 4.0))


def beer_lambert(od_maps, vectors, background) -> np.ndarray:
    """Transmitted intensity of stacked stains: I_c = I0_c 10^(-sum_s OD_s v_sc).

    Parameters
    ----------
    od_maps : sequence of (M, N) float32 ndarrays
        Optical density of each stain (dimensionless, base 10).
    vectors : (S, 3) float ndarray
        The matching stain OD vectors.
    background : (3,) float
        Glass intensity I0 per channel.

    Returns
    -------
    (M, N, 3) float32 ndarray
        Intensities (not yet clipped or rounded).

    Examples
    --------
    >>> od = [np.ones((1, 1), np.float32)]
    >>> beer_lambert(od, np.array([[1.0, 0.0, 0.0]]), [200.0, 200.0, 200.0]).ravel().round(2).tolist()
    [20.0, 200.0, 200.0]
    """
    shape = od_maps[0].shape
    out = np.empty((*shape, 3), dtype=np.float32)
    ln10 = np.float32(np.log(10.0))
    for c in range(3):
        acc = np.zeros(shape, dtype=np.float32)
        for od, vec in zip(od_maps, vectors):
            if vec[c] != 0:
                acc += od * np.float32(vec[c])
        acc *= -ln10
        np.exp(acc, out=acc)
        out[..., c] = acc * np.float32(background[c])
    return out
