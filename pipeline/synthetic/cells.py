"""A column store of nuclei (ellipses in µm) used while a node is being laid out."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["KINDS", "PRIORITY", "SIMPLE_KINDS", "CellSet"]

#: Cell kinds, in the order of their integer codes:
#:
#: - ``lymphocyte``: small round dark nucleus (6-7.5 µm), hardly any cytoplasm;
#: - ``histiocyte``: sinus, cortical and tingible-body macrophages, pale oval or
#:   kidney-shaped nucleus (9-14 µm) with abundant pale cytoplasm;
#: - ``germinal_centre``: centroblasts (8-11 µm, vesicular, peripheral nucleoli);
#: - ``endothelial``: vessel lining, flat or (high endothelial venules) plump;
#: - ``tumor``: carcinoma cells;
#: - ``stromal``: fibroblasts of the capsule, trabeculae and fat septa (spindle);
#: - ``plasma_cell``: eccentric round nucleus (8-10 µm) with clock-face chromatin,
#:   amphophilic cytoplasm and a perinuclear halo (medullary cords, cortex);
#: - ``mitotic_figure``: a germinal-centre cell in mitosis (dark chromosome plate
#:   or clump in a clear halo).
#:
#: The last two are only drawn by the ``"typical"`` and ``"reactive"`` benign
#: anatomies (:mod:`~pipeline.synthetic.benign`).
KINDS = ("lymphocyte", "histiocyte", "germinal_centre", "endothelial", "tumor", "stromal",
         "plasma_cell", "mitotic_figure")

#: The benign look-alikes of a carcinoma cell: every kind but lymphocytes and the tumour
#: itself (what the training tools centre patches on and weigh).
LOOKALIKE_KINDS = tuple(k for k in KINDS if k not in ("lymphocyte", "tumor"))

#: Kinds drawn by the ``"simple"`` benign anatomy (the default).
SIMPLE_KINDS = KINDS[:6]

#: Which kind wins when two nuclei would overlap (higher wins; plasma cells share the
#: lymphocytes' priority and come first, see :func:`pipeline.synthetic.benign.clear_around_plasma`).
PRIORITY = np.array([0, 3, 1, 4, 9, 5, 0, 1], dtype=np.int8)


@dataclass
class CellSet:
    """Nuclei as ellipses: centre (y, x), semi-axes a >= b and angle, all in µm / rad.

    ``angle`` is the direction of the ``a`` axis, from +x towards +y (radians).
    ``cyto_um`` is the width of cytoplasm drawn around the nucleus (0: none worth
    drawing); ``group`` ties cells to a structure (vessel index, -1 for none).
    """

    y: np.ndarray
    x: np.ndarray
    a: np.ndarray
    b: np.ndarray
    angle: np.ndarray
    kind: np.ndarray
    cyto_um: np.ndarray
    deposit: np.ndarray
    dispersed: np.ndarray
    group: np.ndarray

    @classmethod
    def empty(cls) -> CellSet:
        return cls.new(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), kind=0)

    @classmethod
    def new(cls, y, x, a, b, angle, *, kind, cyto_um=0.0, deposit=-1, dispersed=False, group=-1):
        """Build a set from arrays; scalars are broadcast to the number of cells."""
        y = np.asarray(y, dtype=float)
        n = len(y)

        def full(v, dtype):
            return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

        a = np.asarray(a, dtype=float)
        b = np.asarray(b, dtype=float)
        return cls(
            y=y,
            x=full(x, float),
            a=np.maximum(a, b),
            b=np.minimum(a, b),
            angle=full(angle, float) + np.where(a < b, np.pi / 2, 0.0),
            kind=full(kind, np.int8),
            cyto_um=full(cyto_um, float),
            deposit=full(deposit, np.int32),
            dispersed=full(dispersed, bool),
            group=full(group, np.int32),
        )

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index) -> CellSet:
        return CellSet(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @classmethod
    def concat(cls, parts) -> CellSet:
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    @property
    def yx(self) -> np.ndarray:
        return np.stack([self.y, self.x], axis=1)
