r"""Training RBMs by contrastive divergence (CD-k) and persistent CD (PCD), and model files.

Gradient of the average log-likelihood (research notes tempering_and_metrics.md §2.6):

    ∂⟨log p(v)⟩/∂W = ⟨v p(h|v)ᵀ⟩_data − ⟨v hᵀ⟩_model,

with the model term from k block-Gibbs steps started at the minibatch (CD-k, Hinton 2002) or at
persistent fantasy chains that are never reset (PCD, Tieleman 2008). Hidden probabilities, not
samples, enter the statistics. Updates use momentum μ (0.5 for the first ``momentum_switch``
epochs, then 0.9: Hinton's practical guide 2010 [R]), L2 weight decay on W and a learning-rate
schedule (constant, linear decay to ``lr_final_fraction``·lr, or 1/(1 + t/τ)):

    Δθ ← μ Δθ + η_t (∇θ − λ W·[θ = W]),   θ ← θ + Δθ.

Visible biases start at log(p_i/(1 − p_i)) of the data means (clipped to [1e-3, 1 − 1e-3]),
weights at N(0, 0.01²), hidden biases at 0 (practical guide).

Optionally (``discriminative_weight`` α > 0) the exact gradient of α·log p(y|x) of the label
units is added (hybrid training, Larochelle & Bengio 2008); the default α = 0 is purely
generative.

A model file is an npz with arrays ``W`` (n_v, n_h), ``b_v``, ``b_h`` and ``header``: a JSON
string with the format tag, sizes, hyperparameters, data provenance and training history.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..io import read_npz, write_npz
from .model import RBM

MODEL_FORMAT = "lifsampling.rbm"
MODEL_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of CD/PCD training (η: learning rate per minibatch-averaged gradient)."""

    n_hidden: int = 500
    epochs: int = 20
    batch_size: int = 100
    lr: float = 0.05
    lr_schedule: str = "linear"          # constant | linear | inverse
    lr_final_fraction: float = 0.1       # linear: η at the end = fraction·lr
    lr_tau_epochs: float = 5.0           # inverse: η_t = lr / (1 + epoch/τ)
    momentum_initial: float = 0.5
    momentum: float = 0.9
    momentum_switch: int = 5             # epochs at momentum_initial
    weight_decay: float = 2e-4           # λ, L2 on W
    cd_k: int = 1
    persistent: bool = False             # PCD when True
    n_persistent: int = 100              # PCD fantasy chains
    discriminative_weight: float = 0.0   # α of the hybrid term α·log p(y|x)
    init_std: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.n_hidden >= 1, "n_hidden must be >= 1"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0, "lr must be > 0"),
            (self.lr_schedule in ("constant", "linear", "inverse"),
             "lr_schedule must be constant, linear or inverse"),
            (0 <= self.momentum_initial < 1 and 0 <= self.momentum < 1,
             "momentum must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.cd_k >= 1, "cd_k must be >= 1"),
            (self.n_persistent >= 1, "n_persistent must be >= 1"),
            (self.discriminative_weight >= 0, "discriminative_weight must be >= 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def lr_at(self, epoch_fraction: float) -> float:
        """η at a (fractional) epoch count t ∈ [0, epochs]."""
        if self.lr_schedule == "constant":
            return self.lr
        if self.lr_schedule == "linear":
            f = min(1.0, epoch_fraction / self.epochs)
            return self.lr * (1.0 - (1.0 - self.lr_final_fraction) * f)
        return self.lr / (1.0 + epoch_fraction / self.lr_tau_epochs)


def init_rbm(v_data: torch.Tensor, n_hidden: int, n_labels: int = 0, init_std: float = 0.01,
             seed: int = 0) -> RBM:
    """Initial RBM: W ~ N(0, init_std²), b_v = logit of the data means, b_h = 0."""
    g = torch.Generator(device=v_data.device).manual_seed(seed)
    n_v = v_data.shape[1]
    W = init_std * torch.randn(n_v, n_hidden, generator=g, device=v_data.device,
                               dtype=v_data.dtype)
    p = v_data.mean(0).clamp(1e-3, 1 - 1e-3)
    return RBM(W, torch.log(p / (1 - p)), torch.zeros(n_hidden, dtype=v_data.dtype,
                                                      device=v_data.device), n_labels)


def classification_accuracy(rbm: RBM, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images whose argmax_y p(y|x) (label units, hidden summed out) is right."""
    pred = rbm.classify(x.to(rbm.device, rbm.dtype))
    return float((pred.cpu() == torch.as_tensor(y).cpu()).double().mean())


def train_rbm(v_train: torch.Tensor, config: TrainConfig = TrainConfig(), n_labels: int = 0,
              eval_data: tuple[torch.Tensor, torch.Tensor] | None = None,
              progress: bool = True, init: RBM | None = None,
              log=None, checkpoint=None) -> tuple[RBM, list[dict]]:
    """Train an RBM on binary visible vectors by CD-k or PCD.

    Args:
        v_train: (n, n_v) 0/1 training vectors (for a classification RBM: pixels then one-hot
            labels, ``n_labels`` = 10).
        config: hyperparameters.
        eval_data: optional (x_test (m, n_pixels), y_test (m,)) for the per-epoch accuracy of
            the label units.
        progress: show a rich progress bar with the running reconstruction error.
        init: start from this RBM instead of :func:`init_rbm`.
        log: optional callable receiving each epoch's history dict.
        checkpoint: optional callable ``checkpoint(rbm, history)`` after every epoch (e.g. to
            save the model so an interrupted run keeps its last complete epoch).
    Returns:
        (rbm, history): history holds one dict per epoch (``epoch``, ``recon_error`` = mean
        squared error per visible unit of the one-step reconstruction p(v|h), ``lr``,
        ``momentum``, ``wall_s`` cumulative, ``test_accuracy`` if eval_data was given).
    """
    v_train = torch.as_tensor(v_train)
    if v_train.ndim != 2 or v_train.shape[0] == 0:
        raise ValueError(f"training data must be (n, n_visible), got {tuple(v_train.shape)}")
    if config.discriminative_weight > 0 and n_labels == 0:
        raise ValueError("discriminative_weight > 0 needs label units (n_labels > 0)")
    dev, dt = v_train.device, v_train.dtype if v_train.is_floating_point() else torch.float32
    v_train = v_train.to(dt)
    g = torch.Generator(device=dev).manual_seed(config.seed)
    rbm = init or init_rbm(v_train, config.n_hidden, n_labels, config.init_std, config.seed)
    W, bv, bh = rbm.W.clone(), rbm.b_v.clone(), rbm.b_h.clone()
    dW, dbv, dbh = torch.zeros_like(W), torch.zeros_like(bv), torch.zeros_like(bh)
    n, B = v_train.shape[0], config.batch_size
    n_batches = math.ceil(n / B)
    chains = None
    if config.persistent:
        chains = torch.bernoulli(torch.sigmoid(bv).expand(config.n_persistent, -1).contiguous(),
                                 generator=g)
    history: list[dict] = []
    t0 = time.perf_counter()

    bar = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                       TimeRemainingColumn(), transient=False)
        bar.start()
        task = bar.add_task("train RBM", total=config.epochs * n_batches, info="")
    try:
        for epoch in range(config.epochs):
            mom = config.momentum_initial if epoch < config.momentum_switch else config.momentum
            perm = torch.randperm(n, generator=g, device=dev)
            err_acc = torch.zeros((), dtype=dt, device=dev)
            err_n = 0
            for bi in range(n_batches):
                lr = config.lr_at(epoch + bi / n_batches)
                v0 = v_train[perm[bi * B:(bi + 1) * B]]
                ph0 = torch.sigmoid(torch.addmm(bh, v0, W))
                if chains is None:                     # CD-k: chain starts at the data
                    h = torch.bernoulli(ph0, generator=g)
                    vk = v0
                else:                                  # PCD: chain continues
                    vk = chains
                    h = torch.bernoulli(torch.sigmoid(torch.addmm(bh, vk, W)), generator=g)
                for step in range(config.cd_k):
                    pv = torch.sigmoid(torch.addmm(bv, h, W.T))
                    if step == 0 and chains is None:
                        err_acc += ((pv - v0) ** 2).sum()
                    vk = torch.bernoulli(pv, generator=g)
                    phk = torch.sigmoid(torch.addmm(bh, vk, W))
                    if step < config.cd_k - 1:
                        h = torch.bernoulli(phk, generator=g)
                if chains is not None:
                    chains = vk
                    pv_rec = torch.sigmoid(torch.addmm(bv, torch.bernoulli(ph0, generator=g),
                                                       W.T))
                    err_acc += ((pv_rec - v0) ** 2).sum()
                err_n += v0.numel()
                # Δθ ← μΔθ + η(<v p(h|v)>_data − <v p(h|v)>_model − λW); fused, in place
                nb0, nbk = v0.shape[0], vk.shape[0]
                dW.mul_(mom).addmm_(v0.T, ph0, alpha=lr / nb0).addmm_(vk.T, phk, alpha=-lr / nbk)
                if config.weight_decay:
                    dW.add_(W, alpha=-lr * config.weight_decay)
                dbv.mul_(mom).add_(v0.sum(0), alpha=lr / nb0).add_(vk.sum(0), alpha=-lr / nbk)
                dbh.mul_(mom).add_(ph0.sum(0), alpha=lr / nb0).add_(phk.sum(0), alpha=-lr / nbk)
                if config.discriminative_weight > 0:
                    dgW, dgbv, dgbh = _discriminative_grad(W, bv, bh, v0, n_labels)
                    a = lr * config.discriminative_weight
                    dW.add_(dgW, alpha=a)
                    dbv.add_(dgbv, alpha=a)
                    dbh.add_(dgbh, alpha=a)
                W.add_(dW)
                bv.add_(dbv)
                bh.add_(dbh)
                if bar is not None and (bi % 50 == 0 or bi == n_batches - 1):
                    bar.update(task, completed=epoch * n_batches + bi + 1,
                               info=f"epoch {epoch + 1} recon {float(err_acc) / err_n:.4f}")
            err_sum = float(err_acc)
            if not torch.isfinite(W).all():
                raise FloatingPointError("training diverged (non-finite weights); lower lr")
            entry = {"epoch": epoch + 1, "recon_error": err_sum / max(err_n, 1), "lr": lr,
                     "momentum": mom, "wall_s": time.perf_counter() - t0}
            if eval_data is not None:
                cur = RBM(W, bv, bh, n_labels)
                entry["test_accuracy"] = classification_accuracy(cur, *eval_data)
                entry["wall_s"] = time.perf_counter() - t0
            history.append(entry)
            if log is not None:
                log(entry)
            if checkpoint is not None:
                checkpoint(RBM(W.clone(), bv.clone(), bh.clone(), n_labels), history)
            if bar is not None and "test_accuracy" in entry:
                bar.update(task, info=f"epoch {epoch + 1} recon {entry['recon_error']:.4f} "
                                      f"acc {entry['test_accuracy']:.4f}")
    finally:
        if bar is not None:
            bar.stop()
    return RBM(W, bv, bh, n_labels), history


def _discriminative_grad(W, bv, bh, v0, n_labels):
    """Gradient of mean log p(y|x) w.r.t. (W, b_v, b_h) for a classification minibatch."""
    Wd = W.detach().clone().requires_grad_(True)
    bvd = bv.detach().clone().requires_grad_(True)
    bhd = bh.detach().clone().requires_grad_(True)
    npix = W.shape[0] - n_labels
    x, y = v0[:, :npix], v0[:, npix:].argmax(1)
    rbm = _GradRBM(Wd, bvd, bhd, n_labels)
    ll = rbm.label_log_probs(x).gather(1, y[:, None]).mean()
    gW, gbv, gbh = torch.autograd.grad(ll, (Wd, bvd, bhd))
    return gW, gbv, gbh


class _GradRBM(RBM):
    """RBM without validation/copies, so autograd can flow through its parameters."""

    def __init__(self, W, b_v, b_h, n_labels):  # noqa: D107 - bypass dataclass checks
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b_v", b_v)
        object.__setattr__(self, "b_h", b_h)
        object.__setattr__(self, "n_labels", n_labels)


# --------------------------------------------------------------------------------------------
# model files
# --------------------------------------------------------------------------------------------
def save_rbm(path, rbm: RBM, hyperparameters: dict | TrainConfig | None = None,
             data: dict | None = None, history: list | None = None, extra: dict | None = None
             ) -> Path:
    """Write an RBM as npz (W, b_v, b_h, header JSON) atomically."""
    from .. import __version__

    if isinstance(hyperparameters, TrainConfig):
        hyperparameters = asdict(hyperparameters)
    header = {
        "format": MODEL_FORMAT, "version": MODEL_VERSION, "library_version": __version__,
        "n_visible": rbm.n_visible, "n_hidden": rbm.n_hidden, "n_labels": rbm.n_labels,
        "energy": "E(v,h) = -b_v.v - b_h.h - v.W.h; label units are the last n_labels visible",
        "hyperparameters": hyperparameters or {}, "data": data or {}, "history": history or [],
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    return write_npz(path, W=rbm.W.detach().cpu().numpy().astype(np.float32),
                     b_v=rbm.b_v.detach().cpu().numpy().astype(np.float32),
                     b_h=rbm.b_h.detach().cpu().numpy().astype(np.float32),
                     header=np.array(json.dumps(header, default=str)))


def load_rbm(path, device=None, dtype=torch.float32) -> tuple[RBM, dict]:
    """Read a model file written by :func:`save_rbm`; returns (rbm, header)."""
    d = read_npz(path, "model file")
    missing = [k for k in ("W", "b_v", "b_h", "header") if k not in d]
    if missing:
        raise ValueError(f"{path} is not an RBM model file (missing {', '.join(missing)})")
    try:
        header = json.loads(str(d["header"]))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: model header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: model header must be a JSON object, got "
                         f"{type(header).__name__}")
    if header.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not an RBM model file (format {header.get('format')!r})")
    W, bv, bh = d["W"], d["b_v"], d["b_h"]
    if W.ndim != 2 or bv.shape != (W.shape[0],) or bh.shape != (W.shape[1],):
        raise ValueError(f"{path}: inconsistent shapes W {W.shape}, b_v {bv.shape}, "
                         f"b_h {bh.shape}")
    rbm = RBM(torch.from_numpy(W).to(device=device, dtype=dtype),
              torch.from_numpy(bv).to(device=device, dtype=dtype),
              torch.from_numpy(bh).to(device=device, dtype=dtype),
              int(header.get("n_labels", 0)))
    return rbm, header
