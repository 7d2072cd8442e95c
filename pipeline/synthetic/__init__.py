"""Synthetic lymph-node histology with exact truth.

Nodes are laid out in micrometres (capsule, sinus, lymphocyte-packed cortex,
follicles, vessels, fat and tumour deposits) and then rendered at a pixel size
with Beer–Lambert staining, so the same seed gives the same cells at every
resolution. The truth (cells, deposits, masks, AJCC category and growth
pattern) is exact by construction.

Modules: :mod:`~pipeline.synthetic.geometry` (node anatomy in µm),
:mod:`~pipeline.synthetic.benign` (benign anatomies: medulla, plasma cells,
trabeculae, reactive changes),
:mod:`~pipeline.synthetic.deposits` (tumour deposits), :mod:`~pipeline.synthetic.render`
(rasterising and staining), :mod:`~pipeline.synthetic.staining` (stain vectors,
Beer–Lambert), :mod:`~pipeline.synthetic.truth` (truth tables) and
:mod:`~pipeline.synthetic.node` (the public :func:`make_node`).

Examples
--------
>>> from pipeline.synthetic import make_node
>>> node = make_node(size_um=(200, 200), pixel_size_um=2.0, pattern="none", seed=0)
>>> node.category, node.rgb.dtype.name
('negative', 'uint8')
>>> reactive = make_node(size_um=(500, 500), pixel_size_um=2.0, pattern="none", benign="reactive")
>>> "plasma_cell" in set(reactive.cells["kind"])
True
"""

from .benign import BENIGN_MODELS
from .deposits import DEPOSIT_PATTERNS, DepositSpec
from .node import CATEGORIES, PATTERNS, STAINS, SyntheticNode, make_node, make_node_category
from .staining import REFERENCE_STAIN_VECTORS

__all__ = [
    "BENIGN_MODELS",
    "CATEGORIES",
    "DEPOSIT_PATTERNS",
    "PATTERNS",
    "REFERENCE_STAIN_VECTORS",
    "STAINS",
    "DepositSpec",
    "SyntheticNode",
    "make_node",
    "make_node_category",
]
