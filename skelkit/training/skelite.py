"""Training Skelite by distillation from the exact thinning teacher.

Losses (:class:`SkeliteLoss`), all on a batch of crops with teacher peel maps
(:mod:`skelkit.data.synth`):

* per-step distillation: in iteration ``k`` the band holds the city-block
  depths ``2k+1, 2k+2``, the pixels the depth-ordered teacher may delete in
  its stage ``k``, so the band's deletion probabilities are matched (BCE) to
  the teacher's state after stage ``k`` (``k + 1 + teacher_offset`` stages);
* final BCE of the soft skeleton against the teacher's skeleton;
* thinning: the soft value of output pixels that are still removable
  (simple, not an end point; :func:`skelkit.core.simple.removable`);
* components (beyond the paper): BCE towards "keep" at the teacher pixels
  whose removal split the hard output (:func:`skelkit.metrics.topology.split_gaps`)
  and towards "delete" on output pieces with no teacher pixel
  (:func:`skelkit.metrics.topology.stray_components`), each averaged over its
  pixels, so the few decisions that make ``b0`` errors weigh as much as a
  whole term;
* optional clDice-style coverage of the mask's soft skeleton
  (:func:`skelkit.core.soft.soft_skeleton`).

Each term can skip the pixels near the crop faces (``margin``, :func:`interior`;
used in 3D), whose targets depend on structure outside the crop.

:func:`train_skelite` pre-generates the data once (cached in the output
folder), trains with Adam and a cosine schedule, validates on held-out full
synthetic images every ``val_every`` steps (Dice vs teacher, Betti error vs
input), checkpoints atomically and resumes deterministically (batches are a
function of ``(seed, step)``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.morphology import dilate_square
from ..core.simple import removable
from ..core.soft import soft_skeleton
from ..data.synth import KEEP, default_shape, load_or_build, teacher_state
from ..errors import SkelkitError
from ..io.atomic import atomic_write_text
from ..metrics.topology import component_errors
from ..models.skelite import Skelite, load_model
from ..models.weights import load_state, save_checkpoint


@dataclasses.dataclass
class SkeliteConfig:
    """Everything that defines a training run (saved in checkpoints and model cards)."""

    dim: int = 2
    steps: int = 2000
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup: int = 100
    n_images: int = 600  # full synthetic images for training (teacher-thinned once)
    crop: int = 64
    crops_per_image: int = 4
    image_shape: tuple | None = None  # default: 256^2 / 128^3
    max_thicken: int = 3
    n_val: int = 16
    val_shape: tuple | None = None
    val_every: int = 250
    w_step: float = 1.0
    w_final: float = 0.5
    w_thin: float = 0.5
    w_cldice: float = 0.0
    keep_weight: float = 6.0  # skeleton pixels are rare and deleting one may cut the skeleton
    w_topo: float = 0.0  # presets set it; 0 here so older checkpoints (written without it) resume as they ran
    margin: int = 0  # loss ignores pixels this close to a crop face (their targets depend on unseen context)
    teacher_offset: int = 0
    sparse: bool = True  # exact same numbers as dense, faster on thin structures
    threads: int = 1
    device: str = "cpu"
    seed: int = 0
    init: str | None = None  # start from these weights (fine-tuning) instead of a random initialisation
    vessels: float = 0.0  # share of realistic vessel volumes (trees, meshes, crops; 3D) in the training data


PRESETS = {
    ("cpu", 2): dict(steps=4000, threads=2, w_topo=0.3),
    ("cpu", 3): dict(steps=1500, batch_size=8, crop=32, n_images=600, val_every=250, n_val=3,
                     val_shape=(64, 64, 64), warmup=50, margin=4, threads=2),
    ("gpu", 2): dict(steps=20000, batch_size=64, n_images=4000, crops_per_image=8, val_every=1000, n_val=64,
                     threads=4, device="cuda", w_topo=0.3),
    ("gpu", 3): dict(steps=10000, batch_size=16, crop=48, n_images=800, crops_per_image=8, val_every=500,
                     n_val=16, val_shape=(128, 128, 128), threads=4, device="cuda", margin=4),
}


def make_config(preset: str, dim: int, **overrides) -> SkeliteConfig:
    """Preset ``"cpu"`` or ``"gpu"`` for ``dim``, with non-None ``overrides`` applied."""
    if (preset, dim) not in PRESETS:
        raise SkelkitError(f"no preset {preset!r} for {dim}D; choose cpu or gpu, dim 2 or 3")
    kw = {**PRESETS[(preset, dim)], **{k: v for k, v in overrides.items() if v is not None}}
    cfg = SkeliteConfig(dim=dim, **kw)
    if cfg.device == "cuda" and not torch.cuda.is_available():
        cfg.device = "cpu"
    return cfg


# ------------------------------------------------------------------ losses ---
def _weighted_bce(prob, target, weight, where):
    """Mean BCE over ``where`` with per-pixel ``weight``; probabilities clamped away from 0/1."""
    p = prob.clamp(1e-6, 1 - 1e-6)
    bce = F.binary_cross_entropy(p, target, reduction="none") * weight * where
    return bce.sum() / where.sum().clamp_min(1.0)


class SkeliteLoss(nn.Module):
    """Distillation loss of one Skelite forward pass.

    Parameters
    ----------
    w_step, w_final, w_thin, w_cldice, w_topo : float
        Weights of the per-step, final-skeleton, thinning, clDice and
        component (gap and stray) terms.
    keep_weight : float
        BCE weight of teacher-kept (skeleton) pixels relative to deleted ones.
    teacher_offset : int
        Per-step target of iteration ``k`` is the teacher state after
        ``k + 1 + teacher_offset`` stages.
    """

    def __init__(self, w_step=1.0, w_final=0.5, w_thin=0.5, w_cldice=0.0, keep_weight=6.0, teacher_offset=0,
                 w_topo=0.0):
        super().__init__()
        self.w_step, self.w_final, self.w_thin, self.w_cldice = w_step, w_final, w_thin, w_cldice
        self.w_topo = w_topo
        self.keep_weight, self.teacher_offset = keep_weight, teacher_offset

    def forward(self, x, out, trace, peel, valid=None):
        """Loss terms.

        Parameters
        ----------
        x : torch.Tensor (B, 1, ...) float, the binary input mask
        out : torch.Tensor, the model's (hard) output
        trace : list of (band, prob), from ``Skelite(..., trace=[])``
        peel : torch.Tensor (B, 1, ...) int16 teacher peel map
        valid : torch.Tensor, optional
            0/1 mask (broadcastable to ``x``) of the pixels the loss counts;
            default all.

        Returns
        -------
        total : torch.Tensor, scalar
        parts : dict of float
        """
        skel = (peel == KEEP).to(x.dtype)
        valid = x.new_ones(()) if valid is None else valid.to(x.dtype)
        step = x.new_zeros(())
        soft = x
        for k, (band, prob) in enumerate(trace):
            keep = teacher_state(peel, k + 1 + self.teacher_offset).to(x.dtype)
            w = 1.0 + (self.keep_weight - 1.0) * keep
            step = step + _weighted_bce(prob, 1.0 - keep, w, band * valid)
            soft = soft - prob * band  # soft counterpart of the hard output: same decisions, smooth in prob
        step = step / max(len(trace), 1)
        soft = soft.clamp(0.0, 1.0)
        final = _weighted_bce(soft, skel, 1.0 + (self.keep_weight - 1.0) * skel, x * valid)
        with torch.no_grad():
            redundant = removable(out.detach() > 0.5).to(x.dtype)
        thin = (soft * redundant * valid).sum() / (x * valid).sum().clamp_min(1.0) * 10.0
        total = self.w_step * step + self.w_final * final + self.w_thin * thin
        parts = {"l_step": step.item(), "l_final": final.item(), "l_thin": thin.item()}
        if self.w_cldice > 0:
            ref = soft_skeleton(x, num_iter=10) * valid
            cover = (ref * dilate_square(soft)).sum() / ref.sum().clamp_min(1.0)
            cl = 1.0 - cover
            total = total + self.w_cldice * cl
            parts["l_cldice"] = cl.item()
        if self.w_topo > 0:
            gaps, strays = (m * valid for m in _component_errors(out, skel))
            lg = -(torch.log(soft.clamp_min(1e-6)) * gaps).sum() / gaps.sum().clamp_min(1.0)
            ls = -(torch.log((1.0 - soft).clamp_min(1e-6)) * strays).sum() / strays.sum().clamp_min(1.0)
            total = total + self.w_topo * (lg + ls)
            parts.update(l_gap=lg.item(), l_stray=ls.item(), n_gap=gaps.sum().item(), n_stray=strays.sum().item())
        parts["loss"] = total.item()
        return total, parts


def _component_errors(out, skel) -> tuple[torch.Tensor, torch.Tensor]:
    """Float tensors like ``out``: each item's gaps and strays against the teacher's skeleton."""
    ys, ts = out.detach().cpu().numpy()[:, 0] > 0.5, skel.detach().cpu().numpy()[:, 0] > 0.5
    gaps, strays = (np.stack(m)[:, None] for m in zip(*(component_errors(y, t) for y, t in zip(ys, ts))))
    return tuple(torch.from_numpy(m).to(device=out.device, dtype=out.dtype) for m in (gaps, strays))


# -------------------------------------------------------------- validation ---
def validate(model: Skelite, peels: np.ndarray, device="cpu") -> dict:
    """Dice vs the teacher's skeleton and Betti error vs the input on full images.

    Returns
    -------
    metrics : dict
        ``dice`` (mean), ``betti_err`` (mean over images of sum_i |d b_i|),
        ``betti_changed`` (fraction of images whose topology changed), and the
        same for ``guard=True`` (``*_guard``).
    """
    from ..metrics.topology import betti_numbers

    model.eval()
    res = {"dice": [], "betti_err": [], "dice_guard": [], "betti_err_guard": []}
    with torch.no_grad():
        for peel in peels:
            mask, ref = peel > 0, peel == KEEP
            b_in = betti_numbers(mask)
            x = torch.from_numpy(mask.astype(np.float32))[None, None].to(device)
            for sfx, guard in (("", False), ("_guard", True)):
                s = model(x, guard=guard, sparse=True)[0, 0].cpu().numpy() > 0.5
                inter = np.count_nonzero(s & ref)
                res["dice" + sfx].append(2 * inter / max(s.sum() + ref.sum(), 1))
                res["betti_err" + sfx].append(sum(abs(a - b) for a, b in zip(betti_numbers(s), b_in)))
    model.train()
    out = {k: float(np.mean(v)) for k, v in res.items()}
    out["betti_changed"] = float(np.mean(np.array(res["betti_err"]) > 0))
    out["betti_changed_guard"] = float(np.mean(np.array(res["betti_err_guard"]) > 0))
    return out


# ---------------------------------------------------------------- training ---
def _batch(peel_all: np.ndarray, cfg: SkeliteConfig, step: int, device):
    """Batch for ``step``: a function of (seed, step) only, so resuming replays the same data.

    No flips or transposes here: the teacher visits border directions in a
    fixed order, so its skeleton of a flipped image is not the flipped
    skeleton; the images were flipped *before* thinning instead
    (:func:`skelkit.data.augment.augment`).
    """
    rng = np.random.default_rng([cfg.seed, step, 7])
    idx = rng.choice(len(peel_all), size=cfg.batch_size, replace=len(peel_all) < cfg.batch_size)
    peel = torch.from_numpy(peel_all[np.sort(idx)])[:, None].to(device)
    return (peel > 0).float(), peel


def interior(shape, margin: int, device="cpu") -> torch.Tensor:
    """0/1 tensor (1, 1, *shape): 1 at least ``margin`` pixels from every face.

    A crop's teacher targets near its faces depend on structure outside it
    (a tube that goes on vs one that ends), which the network cannot see;
    the loss skips them.
    """
    if min(shape) <= 2 * margin:
        raise SkelkitError(f"margin {margin} leaves nothing of a {tuple(shape)} crop")
    v = torch.zeros((1, 1) + tuple(shape), device=device)
    v[(slice(None), slice(None)) + tuple(slice(margin, n - margin) for n in shape)] = 1.0
    return v


def _lr(cfg: SkeliteConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(cfg.steps - cfg.warmup, 1)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def data_specs(cfg: SkeliteConfig) -> tuple[dict, dict]:
    """``build_dataset`` arguments of the training and the validation set (different seeds)."""
    train = dict(dim=cfg.dim, n_images=cfg.n_images, seed=cfg.seed, shape=cfg.image_shape, crop=cfg.crop,
                 crops_per_image=cfg.crops_per_image, max_thicken=cfg.max_thicken)
    if cfg.vessels:  # only then, so caches built before the option existed keep their key
        train["vessels"] = cfg.vessels
    val = dict(dim=cfg.dim, n_images=cfg.n_val, seed=cfg.seed + 1_000_003,
               shape=cfg.val_shape or default_shape(cfg.dim), crop=None, max_thicken=cfg.max_thicken)
    return train, val


def train_skelite(out, cfg: SkeliteConfig, *, resume: bool = False, progress: bool = True, log=print) -> Path:
    """Train Skelite and write ``OUT/skelite{dim}d.pt`` (weights + metadata).

    Parameters
    ----------
    out : path
        Output folder: ``data_train.npz``/``data_val.npz`` (cached data),
        ``checkpoint.pt`` (resumable), ``log.jsonl`` (validation history),
        ``skelite{dim}d.pt`` (final weights) and ``skelite{dim}d.json`` (summary).
    cfg : SkeliteConfig
    resume : bool
        Continue from ``OUT/checkpoint.pt`` (must have the same config apart
        from ``steps``).

    Returns
    -------
    path : Path of the final weights.
    """
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    t_start = time.time()
    ckpt_path = out / "checkpoint.pt"

    torch.manual_seed(cfg.seed)
    model = Skelite(cfg.dim).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed, history = 0, 0.0, []
    if resume:
        if not ckpt_path.is_file():
            raise SkelkitError(f"--resume: no checkpoint in {out}")
        ck = load_state(path=ckpt_path, map_location=device)
        # fields added since the checkpoint was written had their default then
        if {**dataclasses.asdict(SkeliteConfig()), **ck["config"], "steps": cfg.steps} != dataclasses.asdict(cfg):
            raise SkelkitError(f"--resume: {ckpt_path} was written with a different configuration")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, elapsed, history = ck["step"], ck["elapsed"], ck["history"]
        log(f"resumed at step {step}")
    elif cfg.init is not None:
        try:
            model.load_state_dict(load_model(cfg.dim, cfg.init).state_dict())  # checks dim and layout
        except SkelkitError as exc:
            raise SkelkitError(f"--init {cfg.init}: {exc}") from None
        log(f"initialised from {cfg.init}")

    train_spec, val_spec = data_specs(cfg)
    t0 = time.time()
    train_peel = load_or_build(out / "data_train.npz", progress=progress, **train_spec)
    val_peel = load_or_build(out / "data_val.npz", progress=progress, **val_spec)
    data_s = time.time() - t0
    log(f"data: {len(train_peel)} training crops {train_peel.shape[1:]}, {len(val_peel)} validation images "
        f"{val_peel.shape[1:]} ({data_s:.0f} s)")

    loss_fn = SkeliteLoss(cfg.w_step, cfg.w_final, cfg.w_thin, cfg.w_cldice, cfg.keep_weight, cfg.teacher_offset,
                          cfg.w_topo)
    valid = interior(train_peel.shape[1:], cfg.margin, device) if cfg.margin else None
    model.train()

    def save():
        save_checkpoint(ckpt_path, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                                    "elapsed": elapsed + time.time() - t_seg, "history": history,
                                    "config": dataclasses.asdict(cfg)})

    t_seg = time.time()
    bar = tqdm(total=cfg.steps, initial=step, disable=not progress, desc=f"skelite{cfg.dim}d")
    running = None
    while step < cfg.steps:
        x, peel = _batch(train_peel, cfg, step, device)
        for grp in opt.param_groups:
            grp["lr"] = _lr(cfg, step)
        trace = []
        try:
            y = model(x, trace=trace, sparse=cfg.sparse, border="continue")  # crops: structures go on outside
            loss, parts = loss_fn(x, y, trace, peel, valid)
        except RuntimeError as exc:  # e.g. BCE of NaN probabilities after a divergence
            parts = {"loss": float("nan"), "error": str(exc).splitlines()[0]}
        if not math.isfinite(parts["loss"]):
            raise SkelkitError(f"training diverged at step {step + 1} ({parts.get('error', 'loss is not finite')}); "
                               "try a lower --lr (checkpoints written so far are kept; --resume continues from the "
                               "last one)")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running = parts if running is None else {k: 0.95 * running.get(k, v) + 0.05 * v for k, v in parts.items()}
        bar.update(1)
        bar.set_postfix(loss=f"{running['loss']:.3f}")
        if step % cfg.val_every == 0 or step == cfg.steps:
            metrics = validate(model, val_peel, device)
            rec = {"step": step, "time_s": round(elapsed + time.time() - t_seg, 1),
                   **{k: round(v, 4) for k, v in running.items()}, **{k: round(v, 4) for k, v in metrics.items()}}
            history.append(rec)
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            log(json.dumps(rec))
            save()
    bar.close()
    wall = elapsed + time.time() - t_seg
    final = out / f"skelite{cfg.dim}d.pt"
    meta = {"dim": cfg.dim, "config": dataclasses.asdict(cfg), "steps": step, "train_wall_s": round(wall, 1),
            "data_wall_s": round(data_s, 1), "validation": history[-1] if history else None,
            "hardware": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                        f"{cfg.threads} thread(s), device {cfg.device}",
            "data": {"train": train_spec, "val": val_spec}}
    save_checkpoint(final, {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **meta})
    atomic_write_text(out / f"skelite{cfg.dim}d.json", json.dumps(meta, indent=1, default=list) + "\n")
    log(f"wrote {final} ({wall / 60:.1f} min training)")
    return final
