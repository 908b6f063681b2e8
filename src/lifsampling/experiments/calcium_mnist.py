"""Supervised MNIST with the BiCaLL rule only (no gradients), feed-forward and recurrent.

The paper's network sizes, rates, presentation times and accuracies were not available
(research note §4); the set-up follows the Brader, Senn & Fusi (2007) lineage of the first
author's own prototype (§2d), with every number below *chosen* here:

- Input: 784 Poisson trains, rate = ``input_rate_hz`` x pixel intensity (0..1), dt = 1 ms,
  ``present_ms`` per image; all state (membranes, traces) is reset between images.
- Output: 10 pools of ``pool`` conductance-based LIF neurons (``params.MNIST_NEURON``, run by
  ``engine.simulate``: input, teacher and plastic synapses are components of its slots), all-to-all
  plastic input -> output synapses: conductance jump ``g_in_uS`` x w_eff (binary BiCaLL weight).
- Coding-level inhibition: every input spike also gives every output neuron an inhibitory
  conductance jump ``g_inh_per_input_uS``, i.e. an inhibitory drive proportional to the number of
  active inputs (the input's coding level) that normalises the response across digits.
- Teacher (training only): Poisson excitation at ``teacher_rate_hz`` x ``g_teacher_uS`` onto the
  target pool; the non-target pools get Poisson inhibition at the same rate x ``g_anti_uS``,
  which moves their input-driven rates into the rule's depression range.
- Learning: BiCaLL with the stop-learning gate, bistability and binary weights. Depression on pre
  spikes (c_d1) is stronger than in the LR3 set (chosen: -0.05 instead of -0.021) so that the
  rule is BCM-like in the *post* rate: for a 50-60 Hz input and independent Poisson spiking it
  gives LTD for post rates up to roughly 80-100 Hz and LTP above (rate protocol, c_d1 = -0.06
  panel). Non-target pools, pushed down by the anti-teacher, depress the inputs that still drive
  them; the teacher-driven target pool (about 100 Hz from the teacher alone, 150-250 Hz with a
  matching input) potentiates its active inputs. The stop trace is faster than in LR3 (chosen:
  tau_stop 20 ms, jump 0.2, window 0.1 < x_stop < 0.5, i.e. roughly 5-200 Hz) so that it
  settles within one 100 ms presentation; it stops learning in silent neurons and in target
  neurons that the input already drives well. All learning constants are scaled by ``lr``
  (chosen 0.1) so that one image moves a hidden weight by about 0.01-0.03. These values were
  chosen by short runs (4,000 training images, 500-1,000 test images) among ~12 settings; a
  higher upper stop threshold (0.55-0.6) lets the templates grow into the union of all pixels
  of a class (accuracy falls to 55-60 %).
- Recurrent version: the output neurons are also connected all-to-all (no self-connections) by
  excitatory BiCaLL synapses (conductance ``g_rec_uS`` x w_eff, hidden weights start at 0.15,
  i.e. DOWN), learned by the same rule at the same time, and every output spike inhibits all
  outputs by ``g_rec_inh_uS`` (global recurrent inhibition, a soft winner-take-all). Recurrent
  spikes arrive one step (1 ms) later.
- Mini-batches of ``batch`` images are presented in parallel to the *same* network: each has
  its own neurons and traces, their weight updates are summed (``BiCaLL.on_spikes(shared=True)``).
  ``batch=1`` is strictly online learning.
- Test: teacher and plasticity off, ``test_present_ms`` per image (300 ms in the first
  configuration: it lowers the spike-count noise, 0.735 with 100 ms -> 0.761 with the same 60k
  training; 1,000 ms by default, +0.5 points on seed 0); class = pool with most spikes (ties:
  lowest class index, so an image without output spikes counts as class 0). The leak's size
  term at test is ``test_size_inh_mV`` (0.2 mV, chosen on training images; None: training's).

The bullets describe the first configuration (one pool per class taught as a whole, c_d1 =
-0.05, lr = 0.1). The defaults of :class:`MnistConfig` add the MNIST-scale mechanisms of
docs/calcium.md §8 (populations, a winner teacher, lateral inhibition, the size term, adaptive
thresholds, spontaneous input, two epochs).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..engine import Network, PoissonDrive, PoissonInput, simulate
from ..params import MNIST_NEURON, NoiseParams, SynapseParams
from ..plasticity.calcium import BiCaLL, BiCaLLParams
from ..plasticity.projection import PlasticProjection

__all__ = ["MNIST_NEURON", "CalciumClassifier", "MnistConfig", "evaluate", "load_mnist"]

_NO_BACKGROUND = NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0)


@dataclass(frozen=True)
class MnistConfig:
    architecture: str = "feedforward"
    n_train: int = 60000
    n_test: int = 10000
    epochs: int = 2
    pool: int = 40
    n_in: int = 784
    n_classes: int = 10
    present_ms: float = 100.0
    test_present_ms: float = 1000.0
    dt_ms: float = 1.0
    input_rate_hz: float = 60.0
    spont_rate_hz: float = 2.0
    g_in_uS: float = 0.0008
    g_inh_per_input_uS: float = 0.0006
    teacher_rate_hz: float = 1500.0
    g_teacher_uS: float = 0.002
    g_anti_uS: float = 0.0008
    g_rec_uS: float = 0.0005
    g_rec_inh_uS: float = 0.0002
    lr: float = 1.0
    c_d1: float = -0.021
    c_d2: float = -0.04
    tau_stop_ms: float = 20.0
    a_stop: float = 0.2
    theta_stop_high: float = 0.5
    w_init_p_up: float = 0.1
    batch: int = 16
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"  # simulate backend: "auto" (kernel where it can), "kernel", "torch"
    # mechanisms at MNIST scale (calcium_mnist_study.ABLATIONS switches each off)
    lateral_inh_uS: float = 0.006  # every output spike inhibits all other outputs (WTA)
    size_inh_mV: float = 0.1  # leak potential lowered per UP input synapse of the neuron
    test_size_inh_mV: float | None = 0.2  # the same at test (read-out); None: as in training
    homeostasis_mV: float = 0.5  # adaptive threshold: raise per taught image (training)
    homeostasis_tau_images: float = 1000.0  # its decay time, in training images
    lr_decay: float = 0.5  # the learning rate is multiplied by this after every epoch
    p_transition: float = 1.0  # probability that a crossing of theta_b is kept (stochastic)
    stop_learning: bool = True
    bistable: bool = True
    input_correlation: float = 0.0  # MIP correlation of the input trains (rates unchanged)
    probe_every: int = 10  # batches between predict-then-learn probes (running train accuracy)
    teacher: str = "winner"  # "winner": the target pool's most active neuron; "pool": all
    probe_ms: float = 50.0

    def validate(self) -> None:
        """ValueError naming the first field out of range."""
        if self.architecture not in ("feedforward", "recurrent"):
            raise ValueError(f"architecture must be feedforward or recurrent, got "
                             f"{self.architecture!r}")
        if self.teacher not in ("pool", "winner"):
            raise ValueError(f"teacher must be pool or winner, got {self.teacher!r}")
        for name in ("n_train", "n_test", "epochs", "pool", "n_in", "n_classes", "batch"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("present_ms", "test_present_ms", "dt_ms", "probe_ms", "lr", "lr_decay",
                     "homeostasis_tau_images"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("input_rate_hz", "spont_rate_hz", "g_in_uS", "g_inh_per_input_uS",
                     "teacher_rate_hz", "g_teacher_uS", "g_anti_uS", "lateral_inh_uS",
                     "size_inh_mV", "homeostasis_mV", "probe_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.test_size_inh_mV is not None and self.test_size_inh_mV < 0:
            raise ValueError(f"test_size_inh_mV must be >= 0 or null, got "
                             f"{self.test_size_inh_mV}")
        if not 0 < self.p_transition <= 1:
            raise ValueError(f"p_transition must be in (0, 1], got {self.p_transition}")
        if not 0 <= self.input_correlation <= 1:
            raise ValueError(f"input_correlation must be in [0, 1], got "
                             f"{self.input_correlation}")
        self.rule_params().validate()

    def rule_params(self, epoch: int = 0) -> BiCaLLParams:
        """BiCaLL parameters of ``epoch``: the learning constants scaled by lr x lr_decay^epoch."""
        base = BiCaLLParams(c_d1=self.c_d1, c_d2=self.c_d2, tau_stop_ms=self.tau_stop_ms,
                            a_stop=self.a_stop, theta_stop_high=self.theta_stop_high)
        lr = self.lr * self.lr_decay ** epoch
        base = replace(base, c_p=base.c_p * lr, c_d1=base.c_d1 * lr, c_d2=base.c_d2 * lr)
        off = [f for f in ("stop_learning", "bistable") if not getattr(self, f)]
        return base.without(*off) if off else base


# -- data -----------------------------------------------------------------------------------
def load_mnist(data_dir: str | Path | None = None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test); images as float32 in [0, 1], (n, 784).

    Through :func:`lifsampling.datasets.load_mnist` (SHA-256 verified): ``data_dir`` is a folder
    with the four IDX files (or one holding them in ``mnist/``), ``"builtin"`` the shipped
    subset; ``None`` searches ``$LIFSAMPLING_DATA`` and the cache, without downloading.
    """
    from ..datasets import load_mnist as _load

    if data_dir is None:
        m = _load("mnist", download=False)
    elif str(data_dir) in ("builtin", "auto"):
        m = _load(str(data_dir), download=False)
    else:
        d = Path(data_dir)
        m = _load(d / "mnist" if (d / "mnist").is_dir() else d)
    return (m.x_train.astype(np.float32) / 255.0, m.y_train.astype(np.int64),
            m.x_test.astype(np.float32) / 255.0, m.y_test.astype(np.int64))


# -- network --------------------------------------------------------------------------------
class CalciumClassifier:
    """Input Poisson layer -> plastic BiCaLL synapses -> n_classes x pool LIF outputs
    (+ plastic recurrence). Works for any input size ``n_in`` (e.g. random patterns in tests).

    A presentation is one :func:`lifsampling.engine.simulate` run of the output neurons (one
    chain per image of the batch): the image is a :class:`~lifsampling.engine.PoissonInput`
    whose fixed projection is the coding-level inhibition, the teacher a
    :class:`~lifsampling.engine.PoissonDrive`, and the plastic synapses
    :class:`~lifsampling.plasticity.PlasticProjection` components of the plasticity slot
    (shared by the batch, traces reset per presentation, bistable drift once per presentation).
    """

    def __init__(self, cfg: MnistConfig, device: torch.device) -> None:
        cfg.validate()
        self.cfg, self.dev = cfg, device
        self.n_out = cfg.n_classes * cfg.pool
        self.rule = BiCaLL(cfg.rule_params())
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed)
        w0 = (torch.rand(1, cfg.n_in, self.n_out, generator=self.gen, device=device)
              < cfg.w_init_p_up).float() * 0.7 + 0.15  # hidden weights 0.15 or 0.85
        self.ff = self.rule.init_state(1, cfg.n_in, self.n_out, w0, device=device)
        self.recurrent = cfg.architecture == "recurrent"
        self.w_fixed = torch.zeros(self.n_out, self.n_out)
        if self.recurrent:
            self.rec = self.rule.init_state(1, self.n_out, self.n_out, 0.15, device=device)
            self.no_self = 1.0 - torch.eye(self.n_out, device=device)
            self.w_fixed -= cfg.g_rec_inh_uS  # every output spike inhibits all outputs
        if cfg.lateral_inh_uS:  # lateral inhibition between different output neurons
            self.w_fixed -= cfg.lateral_inh_uS * (1.0 - torch.eye(self.n_out))
        self.theta = torch.zeros(self.n_out, dtype=torch.float64)  # adaptive threshold (mV)
        self.w_inh_in = torch.full((cfg.n_in, self.n_out), -cfg.g_inh_per_input_uS,
                                   device=device)  # coding-level inhibition
        self.pool_of = torch.arange(self.n_out, device=device) // cfg.pool
        self._presented = 0
        self._probes = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the learning rate of ``epoch`` (lr x lr_decay^epoch) from now on."""
        self.rule = BiCaLL(self.cfg.rule_params(epoch))

    def leak_mV(self, readout: bool = False) -> torch.Tensor:
        """Leak potentials (n_out,) in mV: E_L - size_inh (n_up - <n_up>) - (theta - <theta>),
        with n_up a neuron's UP input synapses and theta its adaptive threshold, both taken
        relative to their mean over the output neurons (so the mean excitability stays at
        E_L while neurons with larger templates or more recent activity are held back).
        ``readout`` (test presentations) uses ``test_size_inh_mV`` for size_inh."""
        size = self.cfg.size_inh_mV
        if readout and self.cfg.test_size_inh_mV is not None:
            size = self.cfg.test_size_inh_mV
        n_up = (self.ff.w[0] > self.rule.p.theta_bistable).sum(0).cpu().double()
        shift = size * (n_up - n_up.mean()) + (self.theta - self.theta.mean())
        return (MNIST_NEURON.e_leak_mV - shift).float()

    def _network(self, readout: bool = False) -> Network:
        return Network(weights_uS=self.w_fixed, e_leak_mV=self.leak_mV(readout),
                       neuron=MNIST_NEURON,
                       noise=_NO_BACKGROUND, synapse=SynapseParams(kind="additive"))

    def present(self, images: torch.Tensor, labels: torch.Tensor | None,
                learn: bool, duration_ms: float | None = None,
                teach: torch.Tensor | None = None, readout: bool = False) -> torch.Tensor:
        """Present B images for ``duration_ms`` (default ``present_ms``); returns output spike
        counts (B, n_out). ``labels`` switch the teacher on: excitation of the target pool
        (or of the neurons in the mask ``teach`` (B, n_out)), inhibition of the others.
        With ``learn``, the plastic weights change (summed over the batch),
        a crossing of theta_b is kept with probability ``p_transition``, and the adaptive
        threshold of every taught neuron rises by ``homeostasis_mV`` (all decay with
        ``homeostasis_tau_images``). ``readout`` marks a test presentation (its leak uses
        ``test_size_inh_mV``)."""
        cfg = self.cfg
        rates = cfg.spont_rate_hz + images * (cfg.input_rate_hz - cfg.spont_rate_hz)
        rules = [PlasticProjection(self.rule, self.ff.w, cfg.g_in_uS, pre="input", shared=True,
                                   learn=learn, slow="end")]
        if self.recurrent:
            rules.append(PlasticProjection(self.rule, self.rec.w, cfg.g_rec_uS, pre="network",
                                           shared=True, mask=self.no_self, learn=learn,
                                           slow="end"))
        drive = []
        if labels is not None:
            if teach is None:
                teach = (self.pool_of.unsqueeze(0) == labels.unsqueeze(1)).float()
            drive.append(PoissonDrive(cfg.teacher_rate_hz * teach, cfg.g_teacher_uS,
                                      cfg.teacher_rate_hz * (1 - teach), cfg.g_anti_uS))
        if learn or labels is not None:
            self._presented += 1
            seed = (cfg.seed << 32) + self._presented
        else:  # a probe or test: its own stream, so that probing never changes the training
            self._probes += 1
            seed = (cfg.seed << 32) + (1 << 31) + self._probes
        res = simulate(self._network(readout), duration_ms or cfg.present_ms,
                       chains=images.shape[0], dt_ms=cfg.dt_ms, seed=seed, device=self.dev,
                       input=PoissonInput(rates, self.w_inh_in, cfg.input_correlation),
                       drive=drive, plasticity=rules, backend=cfg.backend)
        counts = res.spike_counts.to(device=self.dev, dtype=torch.float32)
        if learn:
            ff = res.plasticity_state[0].synapses
            if cfg.p_transition < 1.0:
                ff = ff._replace(w=self._stochastic(self.ff.w, ff.w, seed))
            self.ff = ff
            if self.recurrent:
                self.rec = res.plasticity_state[1].synapses
            if cfg.homeostasis_mV > 0 and labels is not None:
                decay = float(np.exp(-images.shape[0] / cfg.homeostasis_tau_images))
                taught = teach if teach is not None else (
                    self.pool_of.unsqueeze(0) == labels.unsqueeze(1)).float()
                self.theta = self.theta * decay + cfg.homeostasis_mV * taught.sum(0).cpu().double()
        return counts

    def _stochastic(self, w_old: torch.Tensor, w_new: torch.Tensor, seed: int) -> torch.Tensor:
        """Keep each crossing of theta_b (a change of the binary weight) with probability
        ``p_transition``; a rejected synapse keeps its hidden weight from before the
        presentation (Brader, Senn & Fusi 2007: rare stochastic transitions)."""
        th = self.rule.p.theta_bistable
        crossed = (w_old > th) != (w_new > th)
        if not bool(crossed.any()):
            return w_new
        gen = torch.Generator(device=w_new.device).manual_seed(seed)
        keep = torch.rand(w_new.shape, generator=gen, device=w_new.device) < self.cfg.p_transition
        return torch.where(crossed & ~keep, w_old, w_new)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything training changes (hidden weights, thresholds, stream counters)."""
        out = {"w_hidden_ff": self.ff.w[0].cpu().numpy(), "theta_mV": self.theta.numpy(),
               "presented": np.array(self._presented), "probes": np.array(self._probes)}
        if self.recurrent:
            out["w_hidden_rec"] = self.rec.w[0].cpu().numpy()
        return out

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        w = torch.as_tensor(d["w_hidden_ff"], device=self.dev).unsqueeze(0)
        if w.shape != self.ff.w.shape:
            raise ValueError(f"checkpoint weights {tuple(w.shape[1:])} do not fit this network "
                             f"{tuple(self.ff.w.shape[1:])}")
        self.ff = self.ff._replace(w=w.to(self.ff.w.dtype))
        if self.recurrent:
            self.rec = self.rec._replace(
                w=torch.as_tensor(d["w_hidden_rec"], device=self.dev).unsqueeze(0))
        self.theta = torch.as_tensor(d["theta_mV"], dtype=torch.float64)
        self._presented, self._probes = int(d["presented"]), int(d["probes"])

    def winners(self, counts: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Teacher mask (B, n_out) of the most active neuron of each image's target pool in a
        teacher-free presentation (``counts``); ties go to the lowest adaptive threshold, then
        to a random neuron (seeded by the presentation count)."""
        gen = torch.Generator().manual_seed((self.cfg.seed << 32) + (1 << 30) + self._presented)
        jitter = torch.rand(counts.shape, generator=gen).to(self.dev) * 1e-6
        theta = self.theta.to(device=self.dev, dtype=torch.float32)
        score = counts - 1e-3 * theta / (1.0 + theta.abs().max()) + jitter
        score = torch.where(self.pool_of.unsqueeze(0) == labels.unsqueeze(1), score, -1e9)
        mask = torch.zeros_like(counts)
        mask[torch.arange(len(labels)), score.argmax(1)] = 1.0
        return mask

    def predict(self, counts: torch.Tensor) -> torch.Tensor:
        per_class = counts.reshape(counts.shape[0], self.cfg.n_classes, self.cfg.pool).sum(-1)
        return per_class.argmax(1)


def evaluate(net: CalciumClassifier, x: torch.Tensor, y: torch.Tensor,
             batch: int = 500) -> float:
    """Test accuracy: plasticity and teacher off, ``test_present_ms`` per image, class = the
    pool with most spikes (population vote)."""
    correct = 0
    for i in range(0, x.shape[0], batch):
        counts = net.present(x[i:i + batch], None, learn=False,
                             duration_ms=net.cfg.test_present_ms, readout=True)
        correct += int((net.predict(counts) == y[i:i + batch]).sum())
    return correct / x.shape[0]


def plot_weights(w_hidden: np.ndarray, pool: int, path: str | Path, title: str = "",
                 n_classes: int = 10, theta: float = 0.5, per_class: int = 8) -> None:
    """Save the learned templates as a PNG: one row per class, its first ``per_class``
    neurons' binary input weights (UP = dark) as 28 x 28 images, and in the last column the
    fraction of the class's population that is UP at each pixel."""
    from ..plots import new_figure, save_figure

    side = int(round(np.sqrt(w_hidden.shape[0])))
    up = (w_hidden > theta).astype(np.float32).reshape(-1, n_classes, pool)
    cols = min(per_class, pool) + 1
    fig, axes = new_figure(n_classes, cols, figsize=(1.0 * cols, 1.0 * n_classes),
                           squeeze=False)
    for c in range(n_classes):
        for j in range(cols):
            img = up[:, c, j] if j < cols - 1 else up[:, c].mean(-1)
            axes[c, j].imshow(img.reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
            axes[c, j].axis("off")
        axes[c, 0].set_title(f"class {c}", fontsize=6, loc="left")
    axes[0, cols - 1].set_title("population", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    save_figure(fig, path)
