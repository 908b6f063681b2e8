"""LIF sampling of small random Boltzmann machines against exact enumeration and Gibbs sampling.

The test of Petrovici et al. (2016) and the sbs tutorial: random W, b drawn uniformly from
[-1, 1] (W symmetric, zero diagonal), mapped with a calibration onto LIF samplers with renewing
synapses; D_KL(p_target || p_sampled) and the marginals are compared with exact enumeration and
with Gibbs sampling given the same number of samples (one LIF sample per tau_ref = 10 ms).
Many machines run at once as one block-diagonal network, batched over chains.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ..boltzmann import BoltzmannMachine, exact_distribution, gibbs_sample
from ..calibrate import calibrate_couplings
from ..calibration import Calibration
from ..corrections import self_consistent_biases
from ..engine import Record, simulate
from ..mapping import bm_to_network
from ..metrics import kl_divergence, marginals_from_distribution, state_histogram
from ..params import SynapseParams
from ..plots import new_figure, save_figure
from . import _validate as check


def uniform_bm(n: int, seed: int, low: float = -1.0, high: float = 1.0) -> BoltzmannMachine:
    """Random machine with W_ij = W_ji and b_i uniform in [low, high], zero diagonal."""
    if n < 1:
        raise ValueError(f"units must be >= 1, got {n}")
    g = torch.Generator().manual_seed(seed)
    W = low + (high - low) * torch.rand(n, n, generator=g, dtype=torch.float64)
    W = torch.triu(W, 1)
    b = low + (high - low) * torch.rand(n, generator=g, dtype=torch.float64)
    return BoltzmannMachine(W + W.T, b)


def block_diagonal(machines: list[BoltzmannMachine]) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) of independent machines side by side."""
    return (torch.block_diag(*[m.W for m in machines]), torch.cat([m.b for m in machines]))


@dataclass
class SmallBMResult:
    kl_lif: list[float]  # per machine, full duration
    kl_gibbs: list[float]
    marginals_max_err: list[float]  # LIF, per machine
    marginals_max_err_gibbs: list[float]
    times_ms: list[float]  # total biological sampling time per point of the KL curves
    kl_lif_curve: np.ndarray  # (machines, times)
    kl_gibbs_curve: np.ndarray  # Gibbs with the same number of samples as LIF at each time
    wall_s: float
    correction: str = "none"
    weight_scales: tuple[float, float] = (1.0, 1.0)  # (exc, inh) used in the mapping
    bias_offset_rms: float = 0.0  # rms of the self-consistent bias offsets (bias units)
    correction_wall_s: float = 0.0  # pair calibration + pilot runs

    def summary(self) -> dict:
        return {
            "machines": len(self.kl_lif),
            "kl_lif": _stat(self.kl_lif), "kl_gibbs": _stat(self.kl_gibbs),
            "marginals_max_err": float(np.max(self.marginals_max_err)),
            "marginals_max_err_median": float(np.median(self.marginals_max_err)),
            "marginals_max_err_gibbs": float(np.max(self.marginals_max_err_gibbs)),
            "kl_lif_per_machine": self.kl_lif, "kl_gibbs_per_machine": self.kl_gibbs,
            "times_ms": self.times_ms,
            "kl_lif_median_curve": np.median(self.kl_lif_curve, 0).tolist(),
            "kl_gibbs_median_curve": np.median(self.kl_gibbs_curve, 0).tolist(),
            "wall_s": self.wall_s, "correction": self.correction,
            "weight_scales": list(self.weight_scales), "bias_offset_rms": self.bias_offset_rms,
            "correction_wall_s": self.correction_wall_s,
        }


def _stat(x: list[float]) -> dict:
    return {"median": float(np.median(x)), "min": float(np.min(x)), "max": float(np.max(x))}


CORRECTIONS = ("none", "couplings", "biases", "full")
SIMULATORS = ("engine", "nest")
MAX_UNITS = 16  # exact enumeration of 2**units states


@dataclass(frozen=True)
class SmallBMConfig:
    """How the small machines are sampled: ``duration_ms`` of biological time in total per
    machine (ms, > 0) split over ``chains`` (>= 1), after ``burn_in_ms`` (ms, >= 0), with
    ``synapses`` renewing or additive, ``seed`` on ``device``; ``curve_points`` (>= 1) of the
    D_KL-vs-time curve; the mapping ``correction`` (:data:`CORRECTIONS`) with
    ``pilot_iterations`` (>= 1) pilot runs of ``pilot_ms`` (ms, > 0; None: ``duration_ms``);
    ``simulator`` engine or nest. ``units`` (1 to :data:`MAX_UNITS`) and ``machines`` (>= 1)
    say which random machines :meth:`random_machines` draws (seeds ``seed``, ``seed + 1``,
    ...). Validated on construction (ValueError naming the field)."""

    units: int = 5
    machines: int = 1
    duration_ms: float = 100_000.0
    chains: int = 10
    burn_in_ms: float = 500.0
    synapses: str = "renewing"
    seed: int = 0
    device: str = "auto"
    curve_points: int = 7
    correction: str = "none"
    pilot_ms: float | None = None
    pilot_iterations: int = 2
    simulator: str = "engine"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "units", check.whole("units", self.units, at_least=1))
        if self.units > MAX_UNITS:
            raise ValueError(f"units must be between 1 and {MAX_UNITS} (exact enumeration), "
                             f"got {self.units}")
        set_(self, "machines", check.whole("machines", self.machines, at_least=1))
        set_(self, "duration_ms", check.number("duration_ms", self.duration_ms, above=0.0))
        set_(self, "chains", check.whole("chains", self.chains, at_least=1))
        set_(self, "burn_in_ms", check.number("burn_in_ms", self.burn_in_ms, at_least=0.0))
        check.choice("synapses", self.synapses, ("renewing", "additive"))
        set_(self, "seed", check.whole("seed", self.seed, at_least=0))
        check.device(self.device)
        set_(self, "curve_points", check.whole("curve_points", self.curve_points, at_least=1))
        check.choice("correction", self.correction, CORRECTIONS)
        if self.pilot_ms is not None:
            set_(self, "pilot_ms", check.number("pilot_ms", self.pilot_ms, above=0.0))
        set_(self, "pilot_iterations", check.whole("pilot_iterations", self.pilot_iterations,
                                                   at_least=1))
        check.choice("simulator", self.simulator, SIMULATORS)

    def random_machines(self) -> list[BoltzmannMachine]:
        """The random machines: ``units`` units each, W and b uniform in [-1, 1]."""
        return [uniform_bm(self.units, self.seed + k) for k in range(self.machines)]


def run_small_bms(machines: list[BoltzmannMachine], calibration: Calibration,
                  config: SmallBMConfig | None = None, *, synapse: SynapseParams | None = None,
                  progress: bool = False, **params) -> SmallBMResult:
    """Sample every machine for ``duration_ms`` of biological time in total (split over
    ``chains`` chains) and compare with exact enumeration and with Gibbs sampling; the settings
    are ``config`` or ``SmallBMConfig(**params)`` (its ``units``/``machines`` are not used:
    ``machines`` are sampled; ``synapse``, where given, replaces its ``synapses``).

    The LIF state is read every 1 ms for the D_KL-vs-time curve (times from 100 ms to
    ``duration_ms`` on a log grid); the full-duration values use the time-continuous joint
    distribution (every step), as sbs does.

    ``correction`` of the mapping: ``none`` (sbs theory weights); ``couplings`` (exc/inh weight
    scales measured on 2-unit machines by :func:`calibrate_couplings`, unless the calibration
    already carries scales); ``biases`` (self-consistent bias offsets from
    ``pilot_iterations`` pilot runs of ``pilot_ms`` each, default ``duration_ms``:
    :func:`self_consistent_biases`); ``full`` (both). Pilots use seeds other than the sampling.
    ``simulator="nest"`` samples the mapped network on NEST through the PyNN export
    (:func:`lifsampling.export.run_pynn`); corrections are measured on the engine either way.
    """
    cfg = check.configured(SmallBMConfig, config, params)
    duration_ms, chains, burn_in_ms, seed = cfg.duration_ms, cfg.chains, cfg.burn_in_ms, cfg.seed
    device, curve_points, correction = cfg.device, cfg.curve_points, cfg.correction
    pilot_ms, pilot_iterations, simulator = cfg.pilot_ms, cfg.pilot_iterations, cfg.simulator
    if synapse is None:
        synapse = SynapseParams(kind=cfg.synapses)
    if not machines:
        raise ValueError("no machines given")
    per_chain = duration_ms / chains
    W, b = block_diagonal(machines)
    t0 = time.perf_counter()
    scaled = (calibration.weight_scale_exc, calibration.weight_scale_inh) != (1.0, 1.0)
    if correction in ("couplings", "full") and not scaled:
        calibration = calibrate_couplings(calibration, seed=seed + 7919, device=device)
    offset = None
    if correction in ("biases", "full"):
        offset = self_consistent_biases(W, b, calibration, pilot_ms=pilot_ms or duration_ms,
                                        iterations=pilot_iterations, chains=chains,
                                        burn_in_ms=burn_in_ms, synapse=synapse,
                                        seed=seed + 104_729, device=device)
    correction_wall_s = time.perf_counter() - t0
    net = bm_to_network(W, b, calibration, synapse=synapse, bias_offset=offset)
    read_ms = 1.0
    if simulator == "engine":
        res = simulate(net, per_chain, chains=chains, burn_in_ms=burn_in_ms, seed=seed,
                       device=device, record=Record(z_every_ms=read_ms), progress=progress)
    else:
        from ..export import run_pynn

        res = run_pynn(net, simulator, duration_ms=per_chain, chains=chains,
                       burn_in_ms=burn_in_ms, seed=seed, record=Record(z_every_ms=read_ms))
    z = res.z_samples.double()  # (S, B, N_total)
    tau_ref = calibration.neuron.tau_ref_ms
    times = np.unique(np.geomspace(100.0, duration_ms, curve_points).round()).tolist()
    kl_l, kl_g, m_l, m_g = [], [], [], []
    curve_l = np.zeros((len(machines), len(times)))
    curve_g = np.zeros_like(curve_l)
    start = 0
    for i, m in enumerate(machines):
        sl = slice(start, start + m.n)
        start += m.n
        p = exact_distribution(m)
        zi = z[:, :, sl].permute(1, 0, 2)  # (B, S, n)
        q = state_histogram(zi)
        kl_l.append(kl_divergence(p, q))
        m_exact = marginals_from_distribution(p)
        m_l.append(float((marginals_from_distribution(q) - m_exact).abs().max()))
        n_lif = max(1, int(duration_ms / tau_ref))  # LIF samples: one per tau_ref
        g_chains = chains
        g_samples = gibbs_sample(m, max(1, n_lif // g_chains), chains=g_chains, seed=seed + i,
                                 burn_in=20)
        qg = state_histogram(g_samples)
        kl_g.append(kl_divergence(p, qg))
        m_g.append(float((marginals_from_distribution(qg) - m_exact).abs().max()))
        for j, t in enumerate(times):
            steps = max(1, int(t / chains / read_ms))
            curve_l[i, j] = kl_divergence(p, state_histogram(zi[:, :steps]))
            ns = max(1, int(t / tau_ref / g_chains))
            curve_g[i, j] = kl_divergence(p, state_histogram(g_samples[:, :ns]))
    return SmallBMResult(
        kl_l, kl_g, m_l, m_g, times, curve_l, curve_g, res.wall_s, correction,
        (calibration.weight_scale_exc, calibration.weight_scale_inh),
        0.0 if offset is None else float(offset.pow(2).mean().sqrt()), correction_wall_s)


def plot_kl_curves(result: SmallBMResult, path) -> None:
    """D_KL against sampling time, LIF beside Gibbs (medians and per-machine lines)."""
    fig, ax = new_figure(figsize=(5, 3.6))
    t = result.times_ms
    for row in result.kl_lif_curve:
        ax.loglog(t, row, color="C0", alpha=0.2)
    for row in result.kl_gibbs_curve:
        ax.loglog(t, row, color="C1", alpha=0.2)
    ax.loglog(t, np.median(result.kl_lif_curve, 0), "o-", color="C0", label="LIF (median)")
    ax.loglog(t, np.median(result.kl_gibbs_curve, 0), "s-", color="C1",
              label="Gibbs, same #samples (median)")
    ax.set_xlabel("biological sampling time (ms)")
    ax.set_ylabel(r"$D_{KL}(p_{target}\,\|\,p_{sampled})$")
    ax.legend(frameon=False, fontsize=8)
    save_figure(fig, path)
