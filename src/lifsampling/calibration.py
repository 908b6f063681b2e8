"""Measured activation function of a LIF sampler and its logistic fit (sbs-style calibration).

The leak potential E_l is the bias knob: a population of unconnected neurons, each with its own
E_l on a grid, runs under the background noise; p(z=1) is the fraction of time each neuron is
refractory (z=1 for tau_ref after a spike). A logistic 1/(1+exp(-(E_l-u0)/alpha)) is fitted with
``scipy.optimize.curve_fit``; u0 (mV) is the leak potential with p = 1/2 (sbs: ``v_p05``) and
alpha (mV) the slope scale, both in E_l space (research/lif_sampling.md §1.3 [V]).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from scipy.optimize import curve_fit

from .engine import Network, Record, simulate
from .io import read_json, write_json
from .params import NeuronParams, NoiseParams

SCHEMA = "lifsampling.calibration/1"


def logistic(u, u0: float, alpha: float):
    """1 / (1 + exp(-(u - u0) / alpha)), vectorised (numpy)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(u, dtype=float) - u0) / alpha))


@dataclass(frozen=True)
class Calibration:
    """Activation function p(z=1) against the leak potential, and its logistic fit."""

    u0_mV: float
    alpha_mV: float
    e_leak_mV: tuple[float, ...]
    p_on: tuple[float, ...]
    max_residual: float
    rms_residual: float
    neuron: NeuronParams
    noise: NoiseParams
    dt_ms: float
    duration_ms: float
    seed: int
    weight_scale_exc: float = 1.0
    weight_scale_inh: float = 1.0

    def p(self, e_leak_mV) -> np.ndarray:
        """Fitted activation p(z=1) at leak potential(s) ``e_leak_mV``."""
        return logistic(e_leak_mV, self.u0_mV, self.alpha_mV)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["neuron"] = self.neuron.to_dict()
        d["noise"] = self.noise.to_dict()
        return {"schema": SCHEMA, **d}

    def save(self, path: str | os.PathLike) -> None:
        """Write as JSON (atomically)."""
        if self.noise.time_varying:
            raise ValueError("a calibration with a time-varying background cannot be saved")
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, source: str = "calibration") -> Calibration:
        try:
            if d.get("schema") != SCHEMA:
                raise ValueError(f"unknown schema {d.get('schema')!r} (expected {SCHEMA!r})")
            cal = cls(
                u0_mV=float(d["u0_mV"]), alpha_mV=float(d["alpha_mV"]),
                e_leak_mV=tuple(map(float, d["e_leak_mV"])), p_on=tuple(map(float, d["p_on"])),
                max_residual=float(d["max_residual"]), rms_residual=float(d["rms_residual"]),
                neuron=NeuronParams(**d["neuron"]), noise=NoiseParams(**d["noise"]),
                dt_ms=float(d["dt_ms"]), duration_ms=float(d["duration_ms"]), seed=int(d["seed"]),
                weight_scale_exc=float(d.get("weight_scale_exc", 1.0)),
                weight_scale_inh=float(d.get("weight_scale_inh", 1.0)))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"{source} is not a valid calibration file: {exc}") from None
        if len(cal.p_on) != len(cal.e_leak_mV) or len(cal.p_on) < 2:
            raise ValueError(f"{source} has {len(cal.p_on)} p_on values for "
                             f"{len(cal.e_leak_mV)} leak potentials (need the same number, >= 2)")
        if not all(0.0 <= p <= 1.0 for p in cal.p_on):
            raise ValueError(f"{source} has p_on values outside [0, 1]")
        scales = (cal.weight_scale_exc, cal.weight_scale_inh)
        if not all(math.isfinite(x) and x > 0 for x in scales):
            raise ValueError(f"{source} has invalid weight scales {scales}")
        if not (math.isfinite(cal.u0_mV) and math.isfinite(cal.alpha_mV) and cal.alpha_mV > 0):
            raise ValueError(f"{source} has invalid fit values u0={cal.u0_mV}, "
                             f"alpha={cal.alpha_mV}")
        cal.neuron.validate()
        cal.noise.validate()
        return cal

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        """Read a calibration JSON written by :meth:`save`; clear errors if missing or corrupt."""
        return cls.from_dict(read_json(path, "calibration file"), f"calibration file {path}")


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


def fit_logistic(u: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Least-squares logistic fit (u0, alpha) in the units of ``u``."""
    u, p = np.asarray(u, float), np.asarray(p, float)
    mid = u[np.argmin(np.abs(p - 0.5))]
    guess = (mid, max((u[-1] - u[0]) / 10.0, 1e-6))
    try:
        (u0, alpha), _ = curve_fit(logistic, u, p, p0=guess, maxfev=10_000)
    except RuntimeError as exc:
        raise ValueError(f"logistic fit failed: {exc}") from None
    if alpha <= 0:
        raise ValueError("logistic fit gave a non-positive slope; widen the sweep")
    return float(u0), float(alpha)


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
    from .mapping import bm_to_network  # mapping imports this module

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


def self_consistent_biases(W, b, cal: Calibration, *, pilot_ms: float = 100_000.0,
                           iterations: int = 3, chains: int = 10, burn_in_ms: float = 500.0,
                           read_ms: float = 1.0, synapse=None, seed: int = 0,
                           device: str = "auto") -> torch.Tensor:
    """Bias offsets (N,) that make the mapped network obey Callen's identity for (W, b).

    Any Boltzmann distribution satisfies <z_k> = <sigma(b_k + sum_j W_kj z_j)>. The mapped LIF
    network does not quite (the renewing PSP is front-loaded, outlasts tau_ref and piles up in
    bursts, so the input a neuron receives is not exactly W z), which shows as shifted
    marginals. Each of ``iterations`` pilot runs (``pilot_ms`` of biological time split over
    ``chains``, the state read every ``read_ms``) samples the network with the current offsets
    and :func:`lifsampling.mapping.callen_bias_step` updates them. Only W, b and the network's
    own samples enter: neither the target's marginals nor its distribution are used.
    """
    from .mapping import bm_to_network, callen_bias_step, check_boltzmann

    W, b = check_boltzmann(W, b)
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if not pilot_ms > 0 or chains < 1:
        raise ValueError(f"pilot_ms must be > 0 and chains >= 1, got {pilot_ms}, {chains}")
    offset = torch.zeros_like(b)
    for it in range(iterations):
        net = bm_to_network(W, b, cal, synapse=synapse, bias_offset=offset)
        res = simulate(net, pilot_ms / chains, chains=chains, burn_in_ms=burn_in_ms,
                       dt_ms=cal.dt_ms, seed=seed + it, device=device,
                       record=Record(z_every_ms=read_ms))
        offset = offset + callen_bias_step(res.z_samples, W, b)
    return offset
