r"""Effective temperature of a LIF sampler as a function of its Poisson background rate.

Balanced background (excitatory and inhibitory Poisson trains of the same rate nu and weight)
keeps the mean free membrane potential (nearly) fixed but changes its fluctuations, so the
activation function p(z=1) = sigma((E_l - u0)/alpha) keeps its place and changes its slope
(seed 002, Korcsak-Gorzo et al. 2017 poster / PLoS Comput. Biol. 2022). A network mapped with
the calibration at a reference rate nu0 (``E_l = u0(nu0) + alpha(nu0) b``, weights translated
with ``alpha(nu0)``) and then run at rate nu therefore samples (research notes
tempering_and_metrics.md §1.5 [D])

    p_nu(z) ∝ exp(beta(nu) [½ zᵀWz + bᵀz]),   beta(nu) = alpha(nu0) / alpha(nu),

provided the midpoint drift u0(nu) - u0(nu0) is compensated through the leak potentials
(:func:`leak_schedule`). The temperature is T(nu) = 1/beta(nu).

**Theory.** Free-membrane statistics (Campbell; :func:`lifsampling.hcs.free_membrane`):
sigma_u^2 = sum_x nu_x w_x^2 tau_x (E_x - mu)^2 / (2 g_tot^2) * tau_x / (tau_x + tau_eff); a
bias moves mu by dE_l g_l / g_tot, so in E_l units the sbs slope estimate is

    alpha_free(nu) = sqrt(2 pi)/4 * sigma_u(nu) * g_tot(nu) / g_l      (mV).

In the high-conductance limit (g_tot ∝ nu, tau_eff << tau_syn) sigma_u ∝ sqrt(nu)/g_tot, so
alpha_free ∝ sqrt(nu) and **T ∝ sqrt(nu / nu0)**, i.e. ``nu = nu0 T^2`` (§1.5). The HCS module
(:func:`lifsampling.hcs.theory_calibration`) gives a second prediction including the burst
statistics. :class:`TemperatureMap` holds measured (or predicted) u0(nu), alpha(nu) on a grid
and interpolates them (log-log for alpha, linear in log nu for u0).

**Weights.** The weight translation (:func:`lifsampling.mapping.weight_factors`) scales with
alpha and, weakly, with tau_eff; ``TemperatureMap.beta_weights`` reports the ratio of the
factors, which is the inverse temperature seen by the couplings (equal to beta up to the
tau_eff correction).

Units: Hz, mV, ms.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from .calibrate import calibrate
from .hcs import default_leak_range, free_membrane, leak_for_mu, theory_calibration
from .io import read_json, write_json
from .mapping import weight_factors
from .params import NeuronParams, NoiseParams

SCHEMA = "lifsampling.temperature_map/1"


def balanced_noise(rate_hz: float, base: NoiseParams | None = None) -> NoiseParams:
    """``base`` with both excitatory and inhibitory rates set to ``rate_hz`` (weights kept)."""
    base = base or NoiseParams()
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"background rate must be a finite rate > 0 Hz, got {rate_hz}")
    return replace(base, rate_exc_hz=float(rate_hz), rate_inh_hz=float(rate_hz))


def alpha_free_membrane(neuron: NeuronParams, noise: NoiseParams,
                        e_leak_mV: float | None = None) -> float:
    """sbs's slope estimate in E_l units: sqrt(2 pi)/4 sigma_u g_tot / g_l (mV), evaluated at
    the leak potential that puts the mean membrane at threshold (default)."""
    if e_leak_mV is None:
        e_leak_mV = float(leak_for_mu(neuron, noise, neuron.v_thresh_mV))
    fm = free_membrane(neuron, noise, e_leak_mV)
    return float(fm.alpha_theo_mV * fm.g_tot_uS / neuron.g_leak_uS)


@dataclass(frozen=True)
class TemperatureMap:
    """u0(nu), alpha(nu) of the activation function on a grid of balanced background rates.

    ``rates_hz`` ascending (per population, exc = inh); ``u0_mV``, ``alpha_mV`` in E_l space;
    ``reference_rate_hz`` is the rate whose calibration maps the network (temperature 1);
    ``source``: "measured", "hcs" or "free_membrane".
    """

    rates_hz: tuple[float, ...]
    u0_mV: tuple[float, ...]
    alpha_mV: tuple[float, ...]
    reference_rate_hz: float
    neuron: NeuronParams
    noise: NoiseParams
    source: str = "measured"

    def __post_init__(self) -> None:
        r = np.asarray(self.rates_hz, float)
        if r.ndim != 1 or r.size < 2 or not (np.diff(r) > 0).all() or not (r > 0).all():
            raise ValueError("rates_hz must be at least two ascending rates > 0 Hz")
        if len(self.u0_mV) != r.size or len(self.alpha_mV) != r.size:
            raise ValueError("u0_mV and alpha_mV must match rates_hz")
        if not all(a > 0 for a in self.alpha_mV):
            raise ValueError("alpha_mV must be > 0")
        if not (self.reference_rate_hz > 0 and math.isfinite(self.reference_rate_hz)):
            raise ValueError(f"reference_rate_hz must be > 0, got {self.reference_rate_hz}")

    # --- interpolation ----------------------------------------------------------------------
    def _check(self, rate) -> np.ndarray:
        r = np.asarray(rate, float)
        if (r <= 0).any() or not np.isfinite(r).all():
            raise ValueError("rates must be finite and > 0 Hz")
        return r

    def alpha(self, rate_hz) -> np.ndarray:
        """alpha (mV) at ``rate_hz``: power law between grid points (log-log), extrapolated."""
        lr = np.log(self._check(rate_hz))
        x, y = np.log(self.rates_hz), np.log(self.alpha_mV)
        return np.exp(_interp_extrap(lr, x, y))

    def u0(self, rate_hz) -> np.ndarray:
        """Activation midpoint u0 (mV) at ``rate_hz`` (linear in log rate)."""
        lr = np.log(self._check(rate_hz))
        return _interp_extrap(lr, np.log(self.rates_hz), np.asarray(self.u0_mV, float))

    def beta(self, rate_hz) -> np.ndarray:
        """Effective inverse temperature alpha(nu0)/alpha(nu) of a network mapped at nu0."""
        return self.alpha(self.reference_rate_hz) / self.alpha(rate_hz)

    def temperature(self, rate_hz) -> np.ndarray:
        """T(nu) = alpha(nu)/alpha(nu0)."""
        return 1.0 / self.beta(rate_hz)

    def beta_weights(self, rate_hz, e_leak_mV: float | None = None) -> np.ndarray:
        """Inverse temperature of the couplings: the ratio of weight-translation factors
        (µS per unit W, excitatory) at nu0 and at nu, each with its own alpha."""
        e_l = self.neuron.v_thresh_mV if e_leak_mV is None else e_leak_mV

        def factor(r: float) -> float:
            fe, _ = weight_factors(self.neuron, balanced_noise(r, self.noise),
                                   float(self.alpha(r)), np.asarray(e_l))
            return float(fe)

        ref = factor(self.reference_rate_hz)
        return np.array([ref / factor(float(r)) for r in np.atleast_1d(rate_hz)])

    def leak_shift(self, rate_hz) -> np.ndarray:
        """u0(nu) - u0(nu0) (mV): add to every leak potential to keep the midpoint in place."""
        return self.u0(rate_hz) - self.u0(self.reference_rate_hz)

    def rate_for_temperature(self, temperature) -> np.ndarray:
        """Balanced rate (Hz) at which a network mapped at nu0 runs at ``temperature``.

        Inverts the interpolated T(nu) (monotone on the grid); outside the grid the end
        segments' power laws extrapolate.
        """
        t = np.asarray(temperature, float)
        if (t <= 0).any() or not np.isfinite(t).all():
            raise ValueError("temperatures must be finite and > 0")
        T = self.temperature(np.asarray(self.rates_hz))
        if not (np.diff(T) > 0).all():
            raise ValueError("T(nu) is not monotone on this grid; cannot invert it")
        return np.exp(_interp_extrap(np.log(t), np.log(T), np.log(self.rates_hz)))

    def anchored(self, rate_hz: float, u0_mV: float, alpha_mV: float) -> TemperatureMap:
        """The map's shape (alpha ratios, u0 differences) moved so that it passes through a
        measured calibration (u0_mV, alpha_mV) at ``rate_hz`` — e.g. a theory map anchored to a
        shipped calibration where the theory's absolute alpha is off."""
        k = alpha_mV / float(self.alpha(rate_hz))
        du = u0_mV - float(self.u0(rate_hz))
        return replace(self, alpha_mV=tuple(a * k for a in self.alpha_mV),
                       u0_mV=tuple(u + du for u in self.u0_mV), source=f"{self.source}-anchored")

    def with_reference(self, rate_hz: float) -> TemperatureMap:
        """The same map with another reference (temperature-1) rate."""
        return replace(self, reference_rate_hz=float(rate_hz))

    # --- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "rates_hz": list(self.rates_hz), "u0_mV": list(self.u0_mV),
                "alpha_mV": list(self.alpha_mV), "reference_rate_hz": self.reference_rate_hz,
                "neuron": self.neuron.to_dict(), "noise": self.noise.to_dict(),
                "source": self.source}

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> TemperatureMap:
        d = read_json(path, "temperature map")
        try:
            if d.get("schema") != SCHEMA:
                raise ValueError(f"unknown schema {d.get('schema')!r} (expected {SCHEMA!r})")
            return cls(tuple(map(float, d["rates_hz"])), tuple(map(float, d["u0_mV"])),
                       tuple(map(float, d["alpha_mV"])), float(d["reference_rate_hz"]),
                       NeuronParams(**d["neuron"]), NoiseParams(**d["noise"]),
                       str(d.get("source", "measured")))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path} is not a valid temperature map: {exc}") from None


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """np.interp with linear extrapolation from the end segments."""
    xp, fp = np.asarray(xp, float), np.asarray(fp, float)
    y = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    y = np.where(lo, fp[0] + (x - xp[0]) * (fp[1] - fp[0]) / (xp[1] - xp[0]), y)
    return np.where(hi, fp[-1] + (x - xp[-1]) * (fp[-1] - fp[-2]) / (xp[-1] - xp[-2]), y)


def _leak_range(neuron: NeuronParams, noise: NoiseParams) -> tuple[float, float]:
    return default_leak_range(neuron, noise, n_sigma=(-4.5, 4.0))


def measure_temperature_map(rates_hz: Sequence[float], *, reference_rate_hz: float,
                            neuron: NeuronParams | None = None, noise: NoiseParams | None = None,
                            points: int = 25, duration_ms: float = 10_000.0, chains: int = 2,
                            seed: int = 0, device: str = "cpu",
                            progress: Callable[[str], None] | None = None) -> TemperatureMap:
    """Calibrate (simulate and fit the logistic) at every balanced rate in ``rates_hz``.

    Each rate costs ``points`` unconnected neurons x ``chains`` x ``duration_ms`` of biological
    time; the E_l sweep spans mu from V_th - 4.5 sigma to V_th + 4 sigma (free-membrane
    sigma), so no pre-calibration sweep is needed.
    """
    neuron = neuron or NeuronParams()
    noise = noise or NoiseParams()
    rates = sorted(float(r) for r in rates_hz)
    u0, alpha = [], []
    for i, r in enumerate(rates):
        nz = balanced_noise(r, noise)
        cal = calibrate(neuron, nz, e_leak_range_mV=_leak_range(neuron, nz), points=points,
                        duration_ms=duration_ms, chains=chains, burn_in_ms=200.0,
                        seed=seed + i, device=device)
        u0.append(cal.u0_mV)
        alpha.append(cal.alpha_mV)
        if progress:
            progress(f"{r:8.0f} Hz: u0 = {cal.u0_mV:.3f} mV, alpha = {cal.alpha_mV:.4f} mV")
    return TemperatureMap(tuple(rates), tuple(u0), tuple(alpha), float(reference_rate_hz),
                          neuron, noise, "measured")


def theory_temperature_map(rates_hz: Sequence[float], *, reference_rate_hz: float,
                           neuron: NeuronParams | None = None, noise: NoiseParams | None = None,
                           source: str = "hcs", dt_ms: float = 0.1) -> TemperatureMap:
    """Predicted map: ``source="hcs"`` fits the HCS module's activation function
    (:func:`lifsampling.hcs.theory_calibration`); ``"free_membrane"`` uses
    :func:`alpha_free_membrane` with u0 = the leak that puts mu at threshold."""
    neuron = neuron or NeuronParams()
    noise = noise or NoiseParams()
    rates = sorted(float(r) for r in rates_hz)
    u0, alpha = [], []
    for r in rates:
        nz = balanced_noise(r, noise)
        if source == "hcs":
            cal = theory_calibration(neuron, nz, e_leak_range_mV=_leak_range(neuron, nz),
                                     points=81, dt_ms=dt_ms)
            u0.append(cal.u0_mV)
            alpha.append(cal.alpha_mV)
        elif source == "free_membrane":
            u0.append(float(leak_for_mu(neuron, nz, neuron.v_thresh_mV)))
            alpha.append(alpha_free_membrane(neuron, nz))
        else:
            raise ValueError(f"unknown source {source!r}; use 'hcs' or 'free_membrane'")
    return TemperatureMap(tuple(rates), tuple(u0), tuple(alpha), float(reference_rate_hz),
                          neuron, noise, source)


def rate_for_temperature(temperature, reference_rate_hz: float,
                         tmap: TemperatureMap | None = None) -> np.ndarray:
    """Balanced background rate (Hz) for the wanted temperature(s) of a network mapped at
    ``reference_rate_hz``: from ``tmap`` when given, else the HCS limit nu = nu0 T^2."""
    if tmap is not None:
        return tmap.with_reference(reference_rate_hz).rate_for_temperature(temperature)
    t = np.asarray(temperature, float)
    if (t <= 0).any() or not np.isfinite(t).all():
        raise ValueError("temperatures must be finite and > 0")
    if not reference_rate_hz > 0:
        raise ValueError(f"reference_rate_hz must be > 0, got {reference_rate_hz}")
    return reference_rate_hz * t**2


def leak_schedule(e_leak_mV, tmap: TemperatureMap, rate_fn: Callable[[float], float],
                  dt_ms: float = 0.1, resolution_hz: float = 5.0
                  ) -> Callable[[float], torch.Tensor]:
    """``e_leak_schedule`` for :func:`lifsampling.engine.simulate` that keeps the activation
    midpoint in place under a time-varying rate: E_l(t) = E_l + u0(nu(t)) - u0(nu0).

    ``rate_fn(t_ms)`` is the background rate (Hz); it is evaluated at the step's midpoint, as
    the engine does for the noise. Shifts are cached per ``resolution_hz`` of rate.
    """
    base = torch.as_tensor(e_leak_mV, dtype=torch.float64)
    out_dtype = torch.float32
    cache: dict[int, torch.Tensor] = {}

    def schedule(t_ms: float) -> torch.Tensor:
        r = max(float(rate_fn(t_ms + 0.5 * dt_ms)), 1e-3)
        key = int(round(r / resolution_hz))
        out = cache.get(key)
        if out is None:
            out = (base + float(tmap.leak_shift(max(key * resolution_hz, 1e-3)))).to(out_dtype)
            cache[key] = out
        return out

    return schedule
