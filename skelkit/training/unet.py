"""Training of the SkelNetOn U-Net (:mod:`skelkit.models.unet`).

Recipe of Panichev & Voloshyna [1]_: weighted focal loss, augmentation by 90
degree rotations and horizontal flips only, Adam, learning-rate reduction,
early stopping and checkpointing on the cross-validation SkelNetOn score
(mean per-image pixel-exact F1), binarisation threshold picked on CV, and an
optional ensemble of K models trained on different subsets of the training
split. Checkpoints are written atomically after every epoch; ``resume=True``
continues from them.

References
----------
.. [1] Panichev, O., Voloshyna, A. "U-Net Based Convolutional Neural Network
   for Skeleton Extraction", CVPR Workshops (SkelNetOn), 2019.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..core.geometry import dihedral
from ..data.skelneton import load_pairs, save_split, split_names
from ..errors import SkelkitError
from ..io.atomic import atomic_write_text
from ..losses.segmentation import make_loss
from ..models.unet import UNet, UNetPredictor, check_inputs, input_channels, input_features, load_unet
from ..models.weights import load_state, save_checkpoint

THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


@dataclass
class TrainConfig:
    """Hyper-parameters; ``CONFIGS`` holds the presets behind ``--config``."""

    width: int = 8
    depth: int = 5
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "wfocal"
    lr_patience: int = 2  # epochs without CV gain before the LR is halved
    patience: int = 6  # epochs without CV gain before stopping
    ensemble: int = 1
    seed: int = 0
    cv_fraction: float = 0.2
    holdout_classes: tuple = ()
    max_minutes: float | None = None  # wall budget per member (cumulative over resumes)
    max_train: int | None = None  # use only this many training samples (quick runs)
    device: str = "cpu"
    threads: int = 1
    channels_last: bool = True
    amp: bool = False
    half_weights: bool = True  # store shipped weights as float16 (half the file size)
    inputs: tuple = ("shape",)  # input channels (skelkit.models.unet.INPUTS)
    block: str = "paper"  # "paper" or "light" (two convs per block)
    crop: int | None = None  # train on random crops of this side containing shape (validate on whole images)
    val_every: int = 1  # epochs between validations (patience counts validations)
    init: str | None = None  # start each member from these exported weights (fine-tuning) instead of at random


CONFIGS = {
    # Two shared CPU cores: narrow net, channels_last (faster on CPU), one thread.
    "cpu": TrainConfig(),
    # The published setting: full width on a CUDA GPU with mixed precision.
    "gpu": TrainConfig(width=32, epochs=200, batch_size=16, patience=20, lr_patience=5, device="cuda",
                       threads=4, channels_last=False, amp=True),
}


def make_config(name: str = "cpu", **overrides) -> TrainConfig:
    if name not in CONFIGS:
        raise SkelkitError(f"unknown config {name!r}; choose one of {', '.join(CONFIGS)}")
    cfg = replace(CONFIGS[name], **{k: v for k, v in overrides.items() if v is not None})
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise SkelkitError(f"config {name!r} needs a CUDA GPU and none is available; use --config cpu")
    return cfg


def f1_per_image(proba: torch.Tensor, gt: torch.Tensor, thresholds) -> torch.Tensor:
    """Pixel-exact F1 of ``proba > t`` against ``gt`` for each image and threshold.

    Parameters
    ----------
    proba : torch.Tensor, shape (N, H, W), float
    gt : torch.Tensor, shape (N, H, W), bool
    thresholds : sequence of float, length T

    Returns
    -------
    f1 : torch.Tensor, shape (T, N); 1 where prediction and ground truth are both empty.
    """
    n_gt = gt.sum((1, 2)).float()
    out = []
    for t in thresholds:
        pred = proba > t
        tp = (pred & gt).sum((1, 2)).float()
        denom = pred.sum((1, 2)).float() + n_gt
        out.append(torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.ones_like(denom)))
    return torch.stack(out)


def train_step(model, optimizer, loss_fn, x: torch.Tensor, y: torch.Tensor, scaler=None) -> float:
    """One optimisation step on a batch; returns the loss before the step."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, enabled=scaler is not None):
        loss = loss_fn(model(x).float(), y)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def predict_batches(fn, shapes: np.ndarray, device, batch_size: int = 16, channels_last: bool = False):
    """Apply ``fn`` ((B, 1, H, W) mask -> probabilities) to (N, H, W) bool shapes in batches.

    Returns (N, H, W) float32 probabilities on the CPU.
    """
    out = []
    for i in range(0, len(shapes), batch_size):
        x = torch.from_numpy(shapes[i:i + batch_size]).to(device, torch.float32)[:, None]
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out.append(fn(x)[:, 0].float().cpu())
    return torch.cat(out)


def cv_score(proba: torch.Tensor, shapes: np.ndarray, skels: np.ndarray, thresholds=THRESHOLDS):
    """Best mean per-image F1 over ``thresholds`` (prediction restricted to the shape); returns (f1, threshold)."""
    proba = proba * torch.from_numpy(shapes)
    f1 = f1_per_image(proba, torch.from_numpy(skels), thresholds).mean(1)
    i = int(f1.argmax())
    return float(f1[i]), float(thresholds[i])


def _augment(feats: np.ndarray, skels: np.ndarray, rng: np.random.Generator, crop: int | None = None):
    """A random crop of side ``crop`` (when given) holding a random shape pixel, then a random flip/rotation.

    ``feats``: (B, C, H, W) input channels (channel 0 the shape); ``skels``: (B, H, W).
    """
    if crop is not None:
        xs, ys = [], []
        for f, s in zip(feats, skels):
            h, w = s.shape
            pts = np.argwhere(f[0] > 0)
            cy, cx = pts[rng.integers(len(pts))] if len(pts) else (h // 2, w // 2)
            y0 = int(np.clip(cy - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, h - crop))
            x0 = int(np.clip(cx - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, w - crop))
            xs.append(f[:, y0:y0 + crop, x0:x0 + crop])
            ys.append(s[y0:y0 + crop, x0:x0 + crop])
        feats, skels = np.stack(xs), np.stack(ys)
    ks = rng.integers(0, 8, len(feats))
    xs = np.stack([np.ascontiguousarray(dihedral(f, int(k))) for f, k in zip(feats, ks)])
    ys = np.stack([np.ascontiguousarray(dihedral(s, int(k))) for s, k in zip(skels, ks)])
    return xs, ys


def make_loss_fn(name: str):
    """A segmentation loss on logits by name; ``"a+b"`` sums terms, ``"W*a"`` weights one
    (e.g. ``"wfocal+dice"``, ``"wfocal+dice+2*block"``)."""
    parts = []
    for term in name.split("+"):
        weight, _, loss = term.strip().rpartition("*")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            w = float("nan")
        if not (np.isfinite(w) and w > 0):
            raise SkelkitError(f"loss term {term!r}: the weight must be a finite number > 0")
        parts.append((w, make_loss(loss.strip(), sigmoid=True)))
    if len(parts) == 1 and parts[0][0] == 1.0:
        return parts[0][1]
    return lambda z, y: sum(w * p(z, y) for w, p in parts)


def _member_names(train: list[str], k: int, n_members: int, seed: int) -> list[str]:
    """Member k of an ensemble trains on all training names except fold k (bagging over K folds)."""
    if n_members == 1:
        return list(train)
    rng = np.random.default_rng(seed + 7919)
    order = rng.permutation(len(train))
    fold = set(order[k::n_members].tolist())
    return [n for i, n in enumerate(train) if i not in fold]


def _load_init(model: UNet, cfg: TrainConfig, k: int) -> None:
    """Copy member ``k`` (or the last one) of the exported weights ``cfg.init`` into ``model``."""
    start = load_unet(cfg.init)
    if tuple(start.inputs) != tuple(cfg.inputs):
        raise SkelkitError(f"--init weights take inputs {','.join(start.inputs)}, this run {','.join(cfg.inputs)}")
    src = start.members[min(k, len(start.members) - 1)]
    if (src.width, src.depth, src.block) != (cfg.width, cfg.depth, cfg.block):
        raise SkelkitError(f"--init weights are width {src.width}, depth {src.depth}, {src.block} blocks; "
                           f"this run is width {cfg.width}, depth {cfg.depth}, {cfg.block} blocks")
    model.load_state_dict({kk: v.float() for kk, v in src.state_dict().items()})


def _train_member(k: int, cfg: TrainConfig, data: dict, out: Path, resume: bool, progress: bool, log):
    from tqdm.auto import tqdm

    dev = torch.device(cfg.device)
    torch.manual_seed(cfg.seed * 1000 + k)
    model = UNet(cfg.width, cfg.depth, len(cfg.inputs), cfg.block).to(dev)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=cfg.lr_patience)
    scaler = torch.amp.GradScaler("cuda") if cfg.amp and dev.type == "cuda" else None
    loss_fn = make_loss_fn(cfg.loss)
    ckpt_path = out / f"member{k}.ckpt"
    st = {"epoch": 0, "best_f1": -1.0, "best_thr": 0.5, "best_state": None, "stale": 0, "elapsed": 0.0,
          "history": []}
    names_key = data["train_key"][k]
    if resume and ckpt_path.is_file():
        ck = load_state(path=ckpt_path, map_location=dev)
        if ck.get("train_key", names_key) != names_key or ck["config"]["width"] != cfg.width:
            raise SkelkitError(f"{ckpt_path} was trained on other data or width; resume with the same settings")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        sched.load_state_dict(ck["sched"])
        st = ck["state"]
        log(f"member {k}: resumed at epoch {st['epoch']} (best CV F1 {st['best_f1']:.4f})")
    elif cfg.init:
        _load_init(model, cfg, k)
        log(f"member {k}: starts from {cfg.init}")
    rows = data["train_rows"][k]  # this member's images: rows of the shared feature and skeleton arrays
    xs_all, ys_all = data["feats"], data["skels"]
    budget = float("inf") if cfg.max_minutes is None else 60 * cfg.max_minutes
    # stopping rules are re-checked on resume, so a resumed run may be given more epochs or time
    while st["epoch"] < cfg.epochs and st["stale"] < cfg.patience and st["elapsed"] < budget:
        t0 = time.time()
        rng = np.random.default_rng([cfg.seed, k, st["epoch"]])  # per-epoch seed: resume replays exactly
        order = rows[rng.permutation(len(rows))]
        losses = []
        bar = tqdm(range(0, len(order), cfg.batch_size), desc=f"m{k} ep{st['epoch'] + 1}", disable=not progress,
                   leave=False)
        for i in bar:
            idx = order[i:i + cfg.batch_size]
            xb, yb = _augment(xs_all[idx], ys_all[idx], rng, cfg.crop)
            x = torch.from_numpy(xb).to(dev, torch.float32)
            y = torch.from_numpy(yb).to(dev, torch.float32)[:, None]
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            losses.append(train_step(model, opt, loss_fn, x, y, scaler))
            if not np.isfinite(losses[-1]) and scaler is None:  # (mixed precision skips such steps itself)
                raise SkelkitError(f"training diverged in epoch {st['epoch'] + 1} (loss {losses[-1]}); try a lower "
                                   "--lr (checkpoints written so far are kept; --resume continues from the last one)")
            bar.set_postfix(loss=f"{np.mean(losses):.4f}")
        st["epoch"] += 1
        if st["epoch"] % cfg.val_every and st["epoch"] < cfg.epochs:  # validate every val_every epochs
            st["elapsed"] += time.time() - t0
            save_checkpoint(ckpt_path, {"model": model.state_dict(), "optim": opt.state_dict(),
                                        "sched": sched.state_dict(), "state": st, "config": asdict(cfg),
                                        "train_key": names_key})
            continue
        model.eval()
        proba = predict_batches(lambda x: torch.sigmoid(model(input_channels(x, cfg.inputs))), data["cv_x"], dev,
                                channels_last=cfg.channels_last)
        f1, thr = cv_score(proba, data["cv_x"], data["cv_y"])
        sched.step(f1)
        st["elapsed"] += time.time() - t0
        if f1 > st["best_f1"]:
            st.update(best_f1=f1, best_thr=thr, stale=0,
                      best_state={kk: v.detach().cpu().clone() for kk, v in model.state_dict().items()})
        else:
            st["stale"] += 1
        rec = {"member": k, "epoch": st["epoch"], "loss": float(np.mean(losses)), "cv_f1": f1, "threshold": thr,
               "lr": opt.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1)}
        st["history"].append(rec)
        log(json.dumps(rec))
        save_checkpoint(ckpt_path, {"model": model.state_dict(), "optim": opt.state_dict(),
                                    "sched": sched.state_dict(), "state": st, "config": asdict(cfg),
                                    "train_key": names_key})
    if st["best_state"] is None:
        raise SkelkitError(f"member {k} stopped after {st['epoch']} epoch(s), before its first validation "
                           f"(every {cfg.val_every}); raise --max-minutes or --epochs")
    best = UNet(cfg.width, cfg.depth, len(cfg.inputs), cfg.block)
    best.load_state_dict(st["best_state"])
    return best, st


def train_unet(data_root, out, cfg: TrainConfig, *, resume: bool = False, progress: bool = True,
               log=print) -> Path:
    """Train the U-Net (or an ensemble) and export ``OUT/unet.pt``, ``OUT/split.json``, ``OUT/history.json``.

    Parameters
    ----------
    data_root : path
        SkelNetOn training folder (``shapes/``, ``skeletons/``).
    out : path
        Output folder (created); holds resumable per-member checkpoints.
    cfg : TrainConfig
    resume : bool
        Continue from the checkpoints in ``out``.

    Returns
    -------
    path : Path of the exported weights (load with ``skelkit.models.unet.load_unet``).
    """
    torch.set_num_threads(max(1, cfg.threads))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    names, shapes, skels = load_pairs(data_root)
    if shapes.shape[1] % 2**cfg.depth or shapes.shape[2] % 2**cfg.depth:
        raise SkelkitError(f"training images must have sides divisible by {2**cfg.depth}, got {shapes.shape[1:]}")
    split = split_names(names, cfg.cv_fraction, cfg.seed, cfg.holdout_classes)
    save_split(out / "split.json", split)
    index = {n: i for i, n in enumerate(names)}
    train = split["train"]
    if cfg.max_train is not None:
        train = list(np.random.default_rng(cfg.seed).permutation(train)[: cfg.max_train])
    cv_idx = [index[n] for n in split["cv"]]
    data = {"cv_x": shapes[cv_idx], "cv_y": skels[cv_idx], "train_rows": [], "train_key": [], "skels": skels,
            "feats": input_features(shapes, check_inputs(cfg.inputs)).astype(np.float16)}
    for k in range(cfg.ensemble):
        member = _member_names(train, k, cfg.ensemble, cfg.seed)
        data["train_key"].append(hashlib.sha1("\n".join(sorted(member)).encode()).hexdigest()[:16])
        idx = [index[n] for n in member]
        data["train_rows"].append(np.asarray(idx, np.intp))
    log(f"data: {len(train)} train, {len(cv_idx)} cv, {len(split['holdout'])} held out; config {asdict(cfg)}")
    members, states = [], []
    for k in range(cfg.ensemble):
        m, st = _train_member(k, cfg, data, out, resume, progress, log)
        members.append(m)
        states.append(st)
    pred = UNetPredictor(members, [s["best_thr"] for s in states], inputs=cfg.inputs, meta={
        "config": asdict(cfg), "members_cv_f1": [s["best_f1"] for s in states],
        "epochs": [s["epoch"] for s in states], "train_seconds": [round(s["elapsed"]) for s in states],
        "n_train": len(train), "n_cv": len(cv_idx)})
    dev = torch.device(cfg.device)
    pred.to(dev).eval()
    proba = predict_batches(pred.proba, data["cv_x"], dev)
    f1, _ = cv_score(proba, data["cv_x"], data["cv_y"], [pred.threshold])
    pred.meta["ensemble_cv_f1"] = f1
    # TTA averages 8 views and softens the map, so it gets its own threshold, also picked on CV
    proba = predict_batches(lambda x: pred.proba(x, tta=True), data["cv_x"], dev)
    pred.meta["ensemble_tta_cv_f1"], pred.meta["threshold_tta"] = cv_score(proba, data["cv_x"], data["cv_y"])
    log(f"CV F1 with TTA {pred.meta['ensemble_tta_cv_f1']:.4f} at threshold {pred.meta['threshold_tta']:.2f}")
    ckpt = pred.export()
    if cfg.half_weights:
        ckpt["members"] = [{k: v.half() if v.is_floating_point() else v for k, v in s.items()}
                           for s in ckpt["members"]]
    save_checkpoint(out / "unet.pt", ckpt)
    atomic_write_text(out / "history.json", json.dumps(
        {"history": [r for s in states for r in s["history"]], "ensemble_cv_f1": f1,
         "threshold": pred.threshold, "wall_seconds": round(time.time() - t_start)}, indent=1) + "\n")
    log(f"exported {out / 'unet.pt'}: CV F1 {f1:.4f} at threshold {pred.threshold:.2f}")
    return out / "unet.pt"
