r"""In-the-loop training: fine-tune an RBM so that its *spiking network's* statistics match the
data's (the way the sbs package and the Heidelberg group's code train LIF networks).

The gradient of the data log-likelihood of an RBM is <v hᵀ>_data - <v hᵀ>_model. Here the
model term comes from the spiking network itself, so whatever the mapping gets wrong
(activation shape, synaptic translation, refractory bursts) is absorbed into W and b:

* positive phase: a minibatch of training images (pixels + one-hot labels), hidden units
  replaced by their exact conditionals sigma(b_h + Wᵀv);
* negative phase: ``chains`` persistent free-running spiking chains of the network mapped
  from the current (W, b). Between updates the weights change, so each negative phase is a new
  simulation of the new network. With ``continue_state`` (default) it continues from the
  chains' full state at the end of the previous one (membranes, conductances, refractory
  clocks, synaptic resources: :class:`lifsampling.engine.SimulationState`), so the chains run
  freely across updates; otherwise (``continue_state=False``, "reimpose") it starts from their
  last binary states, imposed for tau_ref through the leak potentials. The first negative phase
  starts from training images, imposed. Each runs ``free_ms`` unread (default 10 ms when
  continuing, 50 ms when reimposing) and then reads ``samples_per_update`` states every
  ``sample_every_ms``; the hidden units enter through sigma(b_h + Wᵀv) of the sampled
  visible states (Rao–Blackwellised);
* W += lr (<v hᵀ>_data - <v hᵀ>_net), the same for b_v, b_h, with the learning rate decayed
  linearly from ``learning_rate`` to ``learning_rate * final_lr_fraction`` over the run;
* optionally (``discriminative_weight`` α > 0) plus lr · α · ∇ mean log p(y | x) of the
  minibatch, computed exactly (the classification RBM's conditional over its labels): the
  hybrid generative–discriminative objective of Larochelle & Bengio (2008, ICML), here with the
  generative part from the spiking network. It keeps the labels' read-out while the generative
  gradient reshapes W and b for the network.

Every random number comes from (seed, epoch, update), and the checkpoint (written atomically
after each epoch) holds the chains' full state, so a resumed run continues exactly as the
uninterrupted run would. Tsodyks–Markram synapses (``stp``) are renormalised once before
training; with ``continue_state`` their depression state carries across negative phases,
when reimposing it restarts with every one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .boltzmann import RBM
from .calibration import Calibration
from .engine import SimulationState
from .engine.state import TENSOR_FIELDS
from .io import read_npz, write_npz
from .params import SynapseParams
from .spiking_rbm import (
    DEFAULT_SAMPLE_EVERY_MS,
    LayerCorrection,
    _bar,
    _check_rbm,
    build_network,
    generate,
    renormalise_stp,
)

CHECKPOINT_FORMAT = "lifsampling.spiking-training-checkpoint/2"
_FORMAT_1 = "lifsampling.spiking-training-checkpoint/1"  # binary chain states only: reimposed
FREE_MS_CONTINUE, FREE_MS_REIMPOSE = 10.0, 50.0  # default free_ms of the two modes


@dataclass(frozen=True)
class SpikingTrainingConfig:
    """Hyper-parameters of :func:`train_spiking` (times in ms)."""

    epochs: int = 1
    batch_size: int = 100
    chains: int = 16
    samples_per_update: int = 1
    sample_every_ms: float = DEFAULT_SAMPLE_EVERY_MS
    free_ms: float | None = None  # unread running at the start of each negative phase;
    # None: 10 ms when continuing, 50 ms when reimposing (docs/fidelity.md)
    continue_state: bool = True  # negative chains carry their full state across updates
    learning_rate: float = 0.001
    final_lr_fraction: float = 0.1
    weight_decay: float = 0.0
    images_per_epoch: int | None = None  # None: the whole training set
    stp: bool = False
    stp_U: float = 0.1
    stp_tau_rec_ms: float = 280.0
    discriminative_weight: float = 0.0  # α of the exact ∇ log p(y | x) term (0: generative)
    seed: int = 0

    def validate(self) -> None:
        """Raise ValueError naming the first invalid field."""
        for name in ("epochs", "batch_size", "chains", "samples_per_update"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.images_per_epoch is not None and self.images_per_epoch < 1:
            raise ValueError(f"images_per_epoch must be >= 1, got {self.images_per_epoch}")
        if (not self.sample_every_ms > 0 or not self.learning_rate > 0
                or (self.free_ms is not None and self.free_ms < 0)):
            raise ValueError("sample_every_ms and learning_rate must be > 0, free_ms >= 0")
        if not 0 < self.final_lr_fraction <= 1 or self.weight_decay < 0:
            raise ValueError("need 0 < final_lr_fraction <= 1 and weight_decay >= 0")
        if self.stp and not (0 < self.stp_U <= 1 and self.stp_tau_rec_ms > 0):
            raise ValueError("need 0 < stp_U <= 1 and stp_tau_rec_ms > 0")
        if not self.discriminative_weight >= 0:
            raise ValueError("discriminative_weight must be >= 0, got "
                             f"{self.discriminative_weight!r}")

    def resolved(self) -> SpikingTrainingConfig:
        """This config with ``free_ms`` set to its mode's default where it is None."""
        if self.free_ms is not None:
            return self
        return replace(self, free_ms=FREE_MS_CONTINUE if self.continue_state
                       else FREE_MS_REIMPOSE)


@dataclass
class TrainingState:
    """Parameters (float64), persistent chain states (chains, N) uint8, the epochs done and,
    when continuing, the chains' full network state after the last negative phase."""

    W: torch.Tensor
    b_v: torch.Tensor
    b_h: torch.Tensor
    chains: torch.Tensor
    epoch: int = 0
    history: list = field(default_factory=list)
    network_state: SimulationState | None = None

    def rbm(self, n_labels: int) -> RBM:
        return RBM(self.W.clone(), self.b_v.clone(), self.b_h.clone(), n_labels=n_labels)


def save_checkpoint(path, state: TrainingState, config: SpikingTrainingConfig,
                    synapse: SynapseParams, meta: dict | None = None) -> Path:
    """Write the training state atomically (parameters in float64, the network state in its
    own dtype, so a resumed run is exact)."""
    header = {"format": CHECKPOINT_FORMAT, "epoch": state.epoch, "config": asdict(config),
              "synapse": synapse.to_dict(), "history": state.history, **(meta or {})}
    arrays = {}
    ns = state.network_state
    if ns is not None:
        header["network_state"] = {"step": int(ns.step), "dt_ms": float(ns.dt_ms)}
        arrays = {f"state_{k}": getattr(ns, k).detach().cpu().numpy() for k in TENSOR_FIELDS}
    return write_npz(path, W=state.W.numpy(), b_v=state.b_v.numpy(), b_h=state.b_h.numpy(),
                     chains=state.chains.numpy(), header=np.array(json.dumps(header)), **arrays)


def load_checkpoint(path) -> tuple[TrainingState, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`; returns (state, header)."""
    d = read_npz(path, "checkpoint")
    try:
        header = json.loads(str(d["header"]))
        if header.get("format") == _FORMAT_1:  # written before continuation: reimposed
            header["config"] = {"continue_state": False, **header["config"]}
        elif header.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"format {header.get('format')!r}")
        ns = None
        if "network_state" in header:
            ns = SimulationState(**{k: torch.from_numpy(np.array(d[f"state_{k}"]))
                                    for k in TENSOR_FIELDS},
                                 step=int(header["network_state"]["step"]),
                                 dt_ms=float(header["network_state"]["dt_ms"]))
        state = TrainingState(*(torch.from_numpy(d[k].astype(np.float64))
                                for k in ("W", "b_v", "b_h")),
                              torch.from_numpy(d["chains"].astype(np.uint8)),
                              int(header["epoch"]), list(header["history"]), ns)
    except (KeyError, ValueError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a spiking-training checkpoint ({exc})") from None
    return state, header


def _update_seed(seed: int, epoch: int, update: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, update]).generate_state(1)[0] % 2**31)


def _learning_rate(cfg: SpikingTrainingConfig, step: int, total: int) -> float:
    frac = step / max(1, total - 1)
    return cfg.learning_rate * (1.0 - (1.0 - cfg.final_lr_fraction) * frac)


def discriminative_gradient(rbm: RBM, v: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exact gradient of mean_n log p(y_n | x_n) (:meth:`RBM.label_log_probs`, the hidden
    layer and the labels summed out exactly) over (W, b_v, b_h) for a classification RBM;
    ``v`` (B, n_visible) = pixels then one-hot labels (Larochelle & Bengio 2008). Zero for the
    pixel biases, which cancel in p(y | x)."""
    params = [t.detach().clone().requires_grad_(True) for t in (rbm.W, rbm.b_v, rbm.b_h)]
    r = RBM(*params, n_labels=rbm.n_labels)
    x, y = v[:, : rbm.n_pixels], v[:, rbm.n_pixels:].argmax(1)
    log_p = r.label_log_probs(x)[torch.arange(len(y)), y].mean()
    gW, gv, gh = torch.autograd.grad(log_p, params)
    return gW, gv, gh


def _stp_synapse(rbm: RBM, calibration: Calibration, cfg: SpikingTrainingConfig,
                 correction: LayerCorrection | None, device: str) -> SynapseParams:
    """Renewing synapses, or Tsodyks–Markram ones renormalised on a pilot run of ``rbm``."""
    if not cfg.stp:
        return SynapseParams()
    syn, _ = renormalise_stp(rbm, calibration, cfg.stp_U, cfg.stp_tau_rec_ms, seed=cfg.seed,
                             device=device, correction=correction)
    return syn


def train_spiking(rbm: RBM, calibration: Calibration, data, config: SpikingTrainingConfig, *,
                  checkpoint: str | Path | None = None, resume: bool = False,
                  correction: LayerCorrection | None = None, device: str = "auto",
                  on_epoch: Callable[[TrainingState], dict | None] | None = None,
                  progress: bool = False) -> tuple[RBM, TrainingState]:
    """Fine-tune ``rbm`` in the loop of its spiking network (see module docstring).

    ``data`` (n, n_visible) binary training vectors (pixels, then one-hot labels).
    ``checkpoint``: file written after every epoch; with ``resume`` the run continues from it
    (its config must equal ``config`` except ``epochs``, which may grow: the learning-rate
    decay is then re-planned over the new total, so only an unchanged config reproduces the
    uninterrupted run exactly). ``on_epoch(state)``
    may return figures to store in the epoch's history entry (e.g. a validation accuracy).
    Returns the fine-tuned RBM and the final state.
    """
    config.validate()
    config = config.resolved()
    rbm = _check_rbm(rbm)
    v_all = torch.as_tensor(np.asarray(data), dtype=torch.float64)
    if v_all.ndim != 2 or v_all.shape[1] != rbm.n_visible or v_all.shape[0] < 1:
        raise ValueError(f"data must be (n, {rbm.n_visible}), got {tuple(v_all.shape)}")
    if not ((v_all == 0) | (v_all == 1)).all():
        raise ValueError("data must be binary (0/1)")
    cfg = config
    state = None
    if resume:
        if checkpoint is None or not Path(checkpoint).is_file():
            raise FileNotFoundError(f"no checkpoint to resume from at {checkpoint}")
        state, header = load_checkpoint(checkpoint)
        saved = dict(header["config"])
        if {**saved, "epochs": 0} != {**asdict(cfg), "epochs": 0}:
            raise ValueError("the checkpoint was written with another configuration; "
                             "resume with the same options (only --epochs may change)")
        if state.W.shape != rbm.W.shape:
            raise ValueError("the checkpoint's network has another shape than the model")
        synapse = SynapseParams(**header["synapse"])
    if state is None:
        synapse = _stp_synapse(rbm, calibration, cfg, correction, device)
        state = TrainingState(rbm.W.clone(), rbm.b_v.clone(), rbm.b_h.clone(),
                              torch.zeros(cfg.chains, rbm.n, dtype=torch.uint8))
        state.chains[:, : rbm.n_visible] = v_all[
            torch.from_numpy(np.random.default_rng(cfg.seed).integers(
                0, v_all.shape[0], cfg.chains))].to(torch.uint8)
    n = v_all.shape[0] if cfg.images_per_epoch is None else min(cfg.images_per_epoch,
                                                                  v_all.shape[0])
    per_epoch = -(-n // cfg.batch_size)
    total = per_epoch * cfg.epochs
    tau_ref = calibration.neuron.tau_ref_ms
    bar = _bar(progress, total, "training in the loop (updates)", state.epoch * per_epoch)
    try:
        while state.epoch < cfg.epochs:
            t0 = time.perf_counter()
            order = np.random.default_rng([cfg.seed, state.epoch]).permutation(
                v_all.shape[0])[:n]
            neg_pix = 0.0
            for u in range(per_epoch):
                step = state.epoch * per_epoch + u
                lr = _learning_rate(cfg, step, total)
                cur = state.rbm(rbm.n_labels)
                vd = v_all[torch.from_numpy(order[u * cfg.batch_size:(u + 1) * cfg.batch_size])]
                hd = torch.sigmoid(cur.b_h + vd @ cur.W)
                net = build_network(cur, calibration, synapse=synapse, correction=correction)
                start = state.network_state if cfg.continue_state else None
                s = generate(cur, calibration, n_samples=cfg.samples_per_update,
                             chains=cfg.chains, sample_every_ms=cfg.sample_every_ms,
                             burn_in_ms=cfg.free_ms + (0.0 if start is not None else tau_ref),
                             init=state.chains if start is None else None,
                             initial_state=start, network=net,
                             seed=_update_seed(cfg.seed, state.epoch, u), device=device)
                state.chains = s.states[:, -1].clone()
                state.network_state = s.final_state if cfg.continue_state else None
                vn = s.visible.reshape(-1, rbm.n_visible).double()
                hn = torch.sigmoid(cur.b_h + vn @ cur.W)
                gW = vd.T @ hd / vd.shape[0] - vn.T @ hn / vn.shape[0]
                gv, gh = vd.mean(0) - vn.mean(0), hd.mean(0) - hn.mean(0)
                if cfg.discriminative_weight > 0:
                    dW, dv, dh = discriminative_gradient(cur, vd)
                    a = cfg.discriminative_weight
                    gW, gv, gh = gW + a * dW, gv + a * dv, gh + a * dh
                state.W = state.W + lr * (gW - cfg.weight_decay * state.W)
                state.b_v = state.b_v + lr * gv
                state.b_h = state.b_h + lr * gh
                neg_pix += float(vn[:, : rbm.n_pixels].mean()) / per_epoch
                if bar is not None:
                    bar[0].update(bar[1], completed=step + 1)
            state.epoch += 1
            entry = {"epoch": state.epoch, "wall_s": time.perf_counter() - t0,
                     "updates": per_epoch, "images": n, "learning_rate_end": lr,
                     "negative_mean_pixel": neg_pix,
                     "data_mean_pixel": float(v_all[:, : rbm.n_pixels].mean())}
            if on_epoch is not None:
                entry.update(on_epoch(state) or {})
            state.history.append(entry)
            if checkpoint is not None:
                save_checkpoint(checkpoint, state, cfg, synapse)
            if entry.get("stop"):
                break
    finally:
        if bar is not None:
            bar[0].stop()
    return state.rbm(rbm.n_labels), state
