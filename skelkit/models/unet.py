"""SkelNetOn U-Net: direct skeleton prediction for 2D binary shapes (``method="unet"``).

A U-Net maps a binary shape to a per-pixel skeleton probability; a threshold
chosen on cross-validation data turns it into the skeleton, whose full 2x2
blocks are then broken, lowest probability first, keeping the topology
(:func:`skelkit.core.blocks.break_blocks`; ``break_blocks=False`` keeps the
thresholded map). Architecture of
Panichev & Voloshyna [1]_: five encoder blocks (a 3x3 convolution and a
residual block, then 2x2 max pooling), a bottleneck of two 1x1 convolutions,
five decoder blocks (transposed convolution, concatenation with the matching
encoder output, four 3x3 convolutions) and a 1x1 head with a sigmoid.

Train it with ``skelkit train unet``; the shipped weights (``unet.pt``, model
card ``unet.md``) were trained on the SkelNetOn Pixel training pairs, whose
256x256 frames the model expects (``resize="pad"``).

References
----------
.. [1] Panichev, O., Voloshyna, A. "U-Net Based Convolutional Neural Network
   for Skeleton Extraction", CVPR Workshops (SkelNetOn), 2019.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.autograd import straight_through
from ..core.blocks import break_blocks as _break_blocks
from ..core.classic import skimage_skeleton
from ..core.geometry import dihedral
from ..errors import SkelkitError
from ..validate import as_binary, check_ndim
from .weights import load_model

FORMAT = "skelkit-unet-1"
#: ``"paper"``: the published blocks (encoder: conv + residual block; decoder: four convs);
#: ``"light"``: two convs per encoder and decoder block (about half the work).
BLOCKS = ("paper", "light")
RESIZE_MODES = ("pad", "bbox")
#: Input channels the network can be given, computed from the binary shape: the shape itself, its
#: Euclidean distance transform divided by its maximum (scale-free), and the distance transform's
#: ridge (pixels not lower than any neighbour: where the medial axis runs).
INPUTS = ("shape", "edt", "ridge")
BBOX_FILL = 0.86  # long side of the shape's box / frame; the SkelNetOn training median


def _conv_bn(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity shortcut, ReLU after the sum."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_conv_bn(ch, ch), nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x):
        return F.relu(x + self.body(x))


class UNet(nn.Module):
    """The SkelNetOn U-Net; ``forward`` returns logits.

    Parameters
    ----------
    width : int
        Channels of the first encoder block; block ``i`` has ``width * 2**i``
        and the bottleneck ``width * 2**depth`` (published: 32 -> 512, 1024).
    depth : int
        Number of down/upsampling blocks (published: 5). Inputs must have
        sides divisible by ``2**depth``.

    Notes
    -----
    ``forward(x)``: x float tensor (B, 1, H, W) -> logits (B, 1, H, W).
    """

    def __init__(self, width: int = 32, depth: int = 5, in_channels: int = 1, block: str = "paper"):
        super().__init__()
        if width < 1 or depth < 1 or in_channels < 1:
            raise SkelkitError(f"U-Net width, depth and in_channels must be >= 1, got {width}, {depth}, {in_channels}")
        if block not in BLOCKS:
            raise SkelkitError(f"U-Net block must be one of {', '.join(BLOCKS)}, got {block!r}")
        self.width, self.depth, self.in_channels, self.block = int(width), int(depth), int(in_channels), block
        chs = [width * 2**i for i in range(depth)]
        light = block == "light"
        self.down = nn.ModuleList(
            nn.Sequential(_conv_bn(cin, c), _conv_bn(c, c) if light else ResidualBlock(c))
            for cin, c in zip([in_channels] + chs[:-1], chs)
        )
        mid = width * 2**depth
        self.bottleneck = nn.Sequential(nn.Conv2d(chs[-1], mid, 1), nn.ReLU(inplace=True),
                                        nn.Conv2d(mid, mid, 1), nn.ReLU(inplace=True))
        ups, convs, cin = [], [], mid
        for c in reversed(chs):
            ups.append(nn.ConvTranspose2d(cin, c, 2, stride=2))
            n_more = 1 if light else 3
            convs.append(nn.Sequential(_conv_bn(2 * c, c), *(_conv_bn(c, c) for _ in range(n_more))))
            cin = c
        self.up, self.up_convs = nn.ModuleList(ups), nn.ModuleList(convs)
        self.head = nn.Conv2d(width, 1, 1)

    @property
    def multiple(self) -> int:
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, convs, skip in zip(self.up, self.up_convs, reversed(skips)):
            x = convs(torch.cat([up(x), skip], 1))
        return self.head(x)


# ---------------------------------------------------------------- geometry
def _pad_amounts(n: int, m: int) -> tuple[int, int]:
    total = max(m, -(-n // m) * m) - n
    return total // 2, total - total // 2


def _run_padded(fn, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad (B,1,H,W) to multiples of ``multiple``, apply ``fn``, crop back."""
    h, w = x.shape[-2:]
    (t, b), (l, r) = _pad_amounts(h, multiple), _pad_amounts(w, multiple)
    y = fn(F.pad(x, (l, r, t, b)))
    return y[..., t:t + h, l:l + w]


def _run_bbox(fn, x: torch.Tensor, size: int) -> torch.Tensor:
    """Fit each item's foreground box into a ``size`` frame (aspect kept), apply ``fn``, map back."""
    out = torch.zeros_like(x)
    for i in range(x.shape[0]):
        fg = x[i, 0] > 0.5
        if not fg.any():
            continue
        rows, cols = fg.any(1).nonzero()[:, 0], fg.any(0).nonzero()[:, 0]
        y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        h, w = y1 - y0, x1 - x0
        scale = BBOX_FILL * size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        crop = F.interpolate(x[i:i + 1, :, y0:y1, x0:x1], size=(nh, nw), mode="bilinear",
                             align_corners=False, antialias=scale < 1)
        t, l = (size - nh) // 2, (size - nw) // 2
        canvas = F.pad(crop, (l, size - nw - l, t, size - nh - t))
        p = fn(canvas)[..., t:t + nh, l:l + nw]
        out[i:i + 1, :, y0:y1, x0:x1] = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)
    return out


# ---------------------------------------------------------------- predictor
class UNetPredictor(nn.Module):
    """Trained U-Net member(s) plus the settings needed to use them.

    Parameters
    ----------
    members : list of UNet
        One model, or an ensemble whose probabilities are averaged.
    thresholds : list of float
        Binarisation threshold of each member (chosen on CV); the ensemble
        uses their mean unless ``threshold`` is given.
    resize : {"pad", "bbox"}
        Default geometry: zero-pad to a multiple of 32 (what the shipped model
        expects: shapes drawn at the SkelNetOn scale), or fit the shape's
        bounding box into a ``size`` frame and map the result back.
    size : int
        Frame side for ``resize="bbox"``.
    """

    def __init__(self, members, thresholds, resize: str = "pad", size: int = 256, threshold: float | None = None,
                 meta: dict | None = None, inputs=("shape",)):
        super().__init__()
        if resize not in RESIZE_MODES:
            raise SkelkitError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        self.inputs = check_inputs(inputs)
        if members and members[0].in_channels != len(self.inputs):
            raise SkelkitError(f"the U-Net takes {members[0].in_channels} input channels but inputs are {self.inputs}")
        # channels_last: about 17% faster convolutions on the CPU (measured: docs/unet.md)
        self.members = nn.ModuleList(m.to(memory_format=torch.channels_last) for m in members)
        self.thresholds = [float(t) for t in thresholds]
        self.threshold = float(np.mean(self.thresholds)) if threshold is None else float(threshold)
        self.resize, self.size, self.meta = resize, int(size), dict(meta or {})

    def _net(self, members, tta: bool):
        def run(x):
            ks = range(8) if tta else (0,)
            x = input_channels(x, self.inputs)  # the channels commute with the flips and rotations
            acc = 0
            for k in ks:
                xk = dihedral(x, k).contiguous(memory_format=torch.channels_last)
                pk = sum(torch.sigmoid(m(xk)) for m in members) / len(members)
                acc = acc + dihedral(pk, k, inverse=True)
            return acc / len(ks)
        return run

    def proba(self, x: torch.Tensor, ensemble: int | None = None, tta: bool = False,
              resize: str | None = None) -> torch.Tensor:
        """Skeleton probabilities of a (B, 1, H, W) float mask tensor, same shape and device."""
        members = self._select(ensemble)
        resize = resize or self.resize
        if resize not in RESIZE_MODES:
            raise SkelkitError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        fn = self._net(members, tta)
        multiple = members[0].multiple
        if resize == "bbox":
            return _run_bbox(fn, x, self.size)
        return _run_padded(fn, x, multiple)

    def member_threshold(self, ensemble: int | None, tta: bool = False) -> float:
        """Threshold for the first ``ensemble`` members: the mean of theirs, or the one picked on CV
        for the whole ensemble with TTA (``meta["threshold_tta"]``) when that is what is asked for."""
        n = len(self._select(ensemble))
        if tta and n == len(self.members) and "threshold_tta" in self.meta:
            return float(self.meta["threshold_tta"])
        return self.threshold if n == len(self.members) else float(np.mean(self.thresholds[:n]))

    def _select(self, ensemble):
        if ensemble is None:
            return list(self.members)
        if not 1 <= int(ensemble) <= len(self.members):
            raise SkelkitError(f"ensemble must be in 1..{len(self.members)} for these weights, got {ensemble}")
        return list(self.members)[: int(ensemble)]

    def export(self) -> dict:
        """Checkpoint dict in the shipped-weights format (``FORMAT``)."""
        m = self.members[0]
        return {"format": FORMAT, "inputs": list(self.inputs),
                "arch": {"width": m.width, "depth": m.depth, "in_channels": m.in_channels, "block": m.block},
                "members": [{k: v.detach().cpu() for k, v in mm.state_dict().items()} for mm in self.members],
                "thresholds": self.thresholds, "threshold": self.threshold, "resize": self.resize,
                "size": self.size, "meta": self.meta}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> "UNetPredictor":
        if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
            raise SkelkitError(f"not a skelkit U-Net weights file (expected format {FORMAT!r})")
        members = []
        try:
            for state in ckpt["members"]:
                m = UNet(**ckpt["arch"])
                m.load_state_dict(state)
                members.append(m)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise SkelkitError(f"U-Net weights do not fit the U-Net they describe ({exc.__class__.__name__})") from None
        return cls(members, ckpt["thresholds"], ckpt.get("resize", "pad"), ckpt.get("size", 256),
                   ckpt.get("threshold"), ckpt.get("meta"), tuple(ckpt.get("inputs", ("shape",))))


def check_inputs(inputs) -> tuple:
    inputs = tuple(inputs)
    if not inputs or inputs[0] != "shape" or any(i not in INPUTS for i in inputs) or len(set(inputs)) != len(inputs):
        raise SkelkitError(f"U-Net inputs must start with 'shape' and be taken from {INPUTS}, got {inputs}")
    return inputs


def input_features(masks: np.ndarray, inputs) -> np.ndarray:
    """The network's input channels of binary shapes: (N, H, W) bool -> (N, C, H, W) float32.

    The distance transform counts pixels outside the image as background, so
    padding the frame does not change it.
    """
    from scipy import ndimage

    masks = np.asarray(masks) != 0
    out = np.empty((masks.shape[0], len(inputs)) + masks.shape[1:], np.float32)
    for i, m in enumerate(masks):
        edt = None
        for c, name in enumerate(inputs):
            if name == "shape":
                out[i, c] = m
                continue
            if edt is None:
                edt = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1].astype(np.float32)
            if name == "edt":
                out[i, c] = edt / max(float(edt.max()), 1.0)
            else:  # ridge
                out[i, c] = (edt >= ndimage.maximum_filter(edt, size=3, mode="constant")) & m
    return out


def input_channels(x: torch.Tensor, inputs) -> torch.Tensor:
    """:func:`input_features` of a (B, 1, H, W) mask tensor, on its device (the distance transform runs on the CPU)."""
    if tuple(inputs) == ("shape",):
        return x
    masks = (x.detach()[:, 0] > 0.5).cpu().numpy()
    return torch.from_numpy(input_features(masks, inputs)).to(device=x.device, dtype=x.dtype)


def load_unet(weights=None, device="cpu") -> UNetPredictor:
    """Load U-Net weights (a path, a shipped name, or ``None`` for ``"unet"``) onto ``device``, in eval mode.

    Loaded models are cached (:func:`skelkit.models.weights.load_model`), so
    repeated calls are cheap. A :class:`UNetPredictor` is returned as is.

    Raises
    ------
    WeightsNotFoundError
        The weights file does not exist.
    """
    if isinstance(weights, UNetPredictor):
        return weights  # already loaded: used as is, on its own device
    return load_model(weights, "unet", UNetPredictor.from_checkpoint, device=device)


def predict_proba(mask, ensemble: int | None = None, tta: bool = False, *, weights=None,
                  resize: str | None = None, device="cpu") -> np.ndarray:
    """Per-pixel skeleton probability of a binary 2D shape.

    Parameters
    ----------
    mask : array_like of bool, shape (H, W)
    ensemble : int, optional
        Use the first ``ensemble`` members of the weights (default: all).
    tta : bool
        Average over the 8 rotations/flips of the input.
    weights : str or path, optional
        Weights file or shipped name (default ``"unet"``).
    resize : {"pad", "bbox"}, optional
        Geometry (default: the one stored with the weights).
    device : str or torch.device

    Returns
    -------
    proba : ndarray of float32, shape (H, W), values in [0, 1]
    """
    m = as_binary(mask, name="mask")
    check_ndim(m, name="mask", allowed=(2,))
    pred = load_unet(weights, device)
    x = torch.from_numpy(m).to(device=next(pred.parameters()).device, dtype=torch.float32)[None, None]
    with torch.no_grad():
        p = pred.proba(x, ensemble=ensemble, tta=tta, resize=resize)
    return p[0, 0].cpu().numpy().astype(np.float32)


def proba_numpy(mask, *, weights=None, prob_threshold=None, ensemble=None, tta=False, resize=None, thin=None,
                break_blocks=True, device="cpu") -> np.ndarray:
    """:func:`predict_proba` taking the method's options (the method table's ``proba``)."""
    return predict_proba(mask, ensemble, tta, weights=weights, resize=resize, device=device)


def _finish(hard: np.ndarray, p: np.ndarray, thin: bool, blocks: bool) -> np.ndarray:
    """The thresholded map thinned (scikit-image) or with its full 2x2 blocks broken, lowest probability first."""
    if thin:
        return skimage_skeleton(hard)
    return _break_blocks(hard, p) if blocks else hard


def _needs_thin(thin, resize, pred) -> bool:
    return thin if thin is not None else (resize or pred.resize) == "bbox"


def skeletonize_numpy(mask: np.ndarray, *, weights=None, prob_threshold: float | None = None, ensemble=None,
                      tta: bool = False, resize: str | None = None, thin: bool | None = None,
                      break_blocks: bool = True, device="cpu"):
    """U-Net skeleton of a 2D bool array: probabilities above ``prob_threshold`` (default: tuned with the weights),
    then full 2x2 blocks broken (``break_blocks``) or the whole map thinned (``thin``)."""
    pred = load_unet(weights, device)
    thr = pred.member_threshold(ensemble, tta) if prob_threshold is None else float(prob_threshold)
    p = predict_proba(mask, ensemble, tta, weights=pred, resize=resize, device=device)
    return _finish((p > thr) & mask, p, _needs_thin(thin, resize, pred), break_blocks)


def skeletonize_torch(x: torch.Tensor, *, weights=None, prob_threshold: float | None = None, ensemble=None,
                      tta: bool = False, resize: str | None = None, thin: bool | None = None,
                      break_blocks: bool = True):
    """U-Net skeleton of a (B, 1, H, W) tensor; straight-through gradient over the probabilities."""
    if x.ndim != 4:
        raise SkelkitError(f"unet is 2D only: expected a (B, 1, H, W) tensor, got shape {tuple(x.shape)}")
    pred = load_unet(weights, x.device)
    xf = x if x.is_floating_point() else x.float()
    thr = pred.member_threshold(ensemble, tta) if prob_threshold is None else float(prob_threshold)
    p = pred.proba(xf, ensemble=ensemble, tta=tta, resize=resize)
    hard = ((p > thr) & (xf > 0.5)).to(p.dtype)
    thin = _needs_thin(thin, resize, pred)
    if thin or break_blocks:
        ps = p.detach().cpu().numpy()[:, 0]
        done = np.stack([_finish(h, pk, thin, break_blocks) for h, pk in zip(hard.detach().cpu().numpy()[:, 0] > 0, ps)])
        hard = torch.from_numpy(done[:, None]).to(device=p.device, dtype=p.dtype)
    if not x.is_floating_point():
        return hard.detach()
    return straight_through(p, hard)
