"""Measuring a calibration: the activation function of unconnected LIF samplers and the
effective couplings of 2-unit networks (sbs-style calibration, research/lif_sampling.md §1.3).

p(z=1) at leak potential E_l is the time fraction a neuron is refractory; the logistic
1/(1+exp(-(E_l-u0)/alpha)) is fitted by :func:`lifsampling.calibration.fit_logistic` and the
result stored as a :class:`lifsampling.calibration.Calibration`. Units: mV, ms.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .calibration import Calibration, fit_logistic, logistic
from .engine import Network, Record, simulate
from .mapping import bm_to_network
from .params import NeuronParams, NoiseParams

__all__ = ["calibrate", "calibrate_couplings", "effective_coupling", "find_range",
           "measure_activation"]


def measure_activation(neuron: NeuronParams, noise: NoiseParams, e_leak_mV: np.ndarray, *,
                       duration_ms: float, chains: int = 1, burn_in_ms: float = 500.0,
                       dt_ms: float = 0.1, seed: int = 0, device: str = "auto",
                       dtype: torch.dtype = torch.float32) -> np.ndarray:
    """p(z=1) of unconnected neurons with leak potentials ``e_leak_mV`` (time fraction refractory),
    pooled over ``chains`` independent runs of ``duration_ms`` each."""
    e_l = torch.as_tensor(np.asarray(e_leak_mV, dtype=float), dtype=torch.float64)
    if e_l.ndim != 1 or e_l.numel() == 0:
        raise ValueError("e_leak_mV must be a non-empty 1-d grid")
    net = Network(weights_uS=torch.zeros(e_l.numel(), e_l.numel()), e_leak_mV=e_l,
                  neuron=neuron, noise=noise)
    res = simulate(net, duration_ms, chains=chains, burn_in_ms=burn_in_ms, dt_ms=dt_ms,
                   seed=seed, device=device, dtype=dtype)
    return res.on_fraction.mean(0).numpy()


def find_range(neuron: NeuronParams, noise: NoiseParams, *, dt_ms: float = 0.1, seed: int = 0,
               device: str = "auto", p_low: float = 0.02, p_high: float = 0.98,
               ) -> tuple[float, float]:
    """Pre-calibration: a coarse E_l sweep (-100..0 mV, 0.5 mV, 1 s) bracketing the slope."""
    grid = np.arange(-100.0, 0.0 + 1e-9, 0.5)
    p = measure_activation(neuron, noise, grid, duration_ms=1000.0, burn_in_ms=100.0,
                           dt_ms=dt_ms, seed=seed, device=device)
    below, above = np.nonzero(p < p_low)[0], np.nonzero(p > p_high)[0]
    if below.size == 0 or above.size == 0:
        raise ValueError("could not bracket the activation function between -100 and 0 mV; "
                         "check the neuron and noise parameters")
    lo = grid[below[below < above[0]].max()] if (below < above[0]).any() else grid[0]
    hi = grid[above[above > lo].min()]
    return float(lo), float(hi)


def calibrate(neuron: NeuronParams | None = None, noise: NoiseParams | None = None, *,
              e_leak_range_mV: tuple[float, float] | None = None, points: int = 41,
              duration_ms: float = 10_000.0, chains: int = 4, burn_in_ms: float = 500.0,
              dt_ms: float = 0.1, seed: int = 0, device: str = "auto") -> Calibration:
    """Measure p(z=1) on ``points`` leak potentials and fit the logistic.

    Each point is simulated for ``chains x duration_ms`` of biological time (defaults: 4 x 10 s).
    ``e_leak_range_mV`` defaults to the bracket found by :func:`find_range`. Units: mV, ms.
    """
    neuron = neuron or NeuronParams()
    noise = noise or NoiseParams()
    if points < 5:
        raise ValueError(f"points must be >= 5, got {points}")
    if e_leak_range_mV is None:
        e_leak_range_mV = find_range(neuron, noise, dt_ms=dt_ms, seed=seed + 1, device=device)
    lo, hi = e_leak_range_mV
    if not lo < hi:
        raise ValueError(f"empty leak-potential range [{lo}, {hi}] mV")
    grid = np.linspace(lo, hi, points)
    p = measure_activation(neuron, noise, grid, duration_ms=duration_ms, chains=chains,
                           burn_in_ms=burn_in_ms, dt_ms=dt_ms, seed=seed, device=device)
    u0, alpha = fit_logistic(grid, p)
    resid = p - logistic(grid, u0, alpha)
    return Calibration(u0_mV=u0, alpha_mV=alpha, e_leak_mV=tuple(grid.tolist()),
                       p_on=tuple(p.tolist()), max_residual=float(np.abs(resid).max()),
                       rms_residual=float(np.sqrt(np.mean(resid**2))), neuron=neuron,
                       noise=noise, dt_ms=dt_ms, duration_ms=duration_ms * chains, seed=seed)


def effective_coupling(joint: np.ndarray) -> float:
    """Coupling W_eff = log(p11 p00 / (p01 p10)) of a sampled 2-unit joint distribution."""
    q = np.maximum(np.asarray(joint, dtype=float), 1e-12)
    return float(np.log(q[3] * q[0] / (q[1] * q[2])))


def calibrate_couplings(cal: Calibration, *, test_weight: float = 1.0,
                        duration_ms: float = 10_000.0, chains: int = 16, seed: int = 0,
                        device: str = "auto") -> Calibration:
    """Correct the theoretical weight translation by measured effective couplings.

    The translation of :mod:`lifsampling.mapping` matches the mean PSP over tau_ref, but the
    renewing conductance outlasts the refractory period (exponential tail, bursts holding it at
    its peak), so the realised coupling differs from the target; excitation and inhibition
    differ (shunting). For W = +test_weight and -test_weight (b = -W/2, so both states are
    balanced) a 2-unit network is sampled and W_eff = log(p11 p00 / (p01 p10)) measured; the
    returned calibration carries ``weight_scale_exc/inh = W / W_eff`` (multiplied into the
    existing scales), which :func:`lifsampling.mapping.weights_to_conductances` applies.
    """
    if not test_weight > 0:
        raise ValueError(f"test_weight must be > 0, got {test_weight}")
    scales = []
    for k, w in enumerate((test_weight, -test_weight)):
        W = np.array([[0.0, w], [w, 0.0]])
        net = bm_to_network(W, np.array([-w / 2, -w / 2]), cal)
        res = simulate(net, duration_ms, chains=chains, burn_in_ms=200.0, dt_ms=cal.dt_ms,
                       seed=seed + k, device=device, record=Record(joint_states=True))
        w_eff = effective_coupling(res.joint_distribution().numpy())
        if w_eff * w <= 0:
            raise ValueError("measured coupling has the wrong sign; calibration unusable")
        scales.append(w / w_eff)
    return replace(cal, weight_scale_exc=cal.weight_scale_exc * scales[0],
                   weight_scale_inh=cal.weight_scale_inh * scales[1])
