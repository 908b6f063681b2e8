"""Measured activation function of a LIF sampler and its logistic fit (sbs-style calibration).

The leak potential E_l is the bias knob: a population of unconnected neurons, each with its own
E_l on a grid, runs under the background noise; p(z=1) is the fraction of time each neuron is
refractory (z=1 for tau_ref after a spike). A logistic 1/(1+exp(-(E_l-u0)/alpha)) is fitted with
``scipy.optimize.curve_fit``; u0 (mV) is the leak potential with p = 1/2 (sbs: ``v_p05``) and
alpha (mV) the slope scale, both in E_l space (research/lif_sampling.md §1.3 [V]).

This module is the saved artefact only (the :class:`Calibration` record, its JSON file and the
shipped presets behind :func:`load_calibration`); it imports neither the engine nor the
mapping. Measuring one is :mod:`lifsampling.calibrate`; corrections of the mapping that need
pilot runs are :mod:`lifsampling.corrections`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit

from .io import read_json, write_json
from .params import NeuronParams, NoiseParams

SCHEMA = "lifsampling.calibration/1"


def logistic(u, u0: float, alpha: float):
    """1 / (1 + exp(-(u - u0) / alpha)), vectorised (numpy)."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(u, dtype=float) - u0) / alpha))


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


# Shipped calibrations (files in lifsampling/data/), by name. Both neurons are the sbs tutorial
# neuron (params.SBS_TUTORIAL_NEURON) under its 3 kHz +-1 nS background (SBS_TUTORIAL_NOISE).
PRESETS: dict[str, tuple[str, str]] = {
    "sbs-tutorial": ("calibration_sbs.json",
                     "sbs tutorial neuron, tau_m = 1 ms: u0 = -50.60 mV, alpha = 0.80 mV "
                     "(36 leak potentials x 100 s)"),
    "fast-membrane": ("calibration_fast_membrane.json",
                      "sbs tutorial neuron with tau_m = 0.1 ms (g_l = 2 uS): u0 = -50.08 mV, "
                      "alpha = 0.074 mV (21 leak potentials x 4 s)"),
}


def load_calibration(name_or_path: str | os.PathLike) -> Calibration:
    """A shipped calibration by name (a key of :data:`PRESETS`) or a calibration JSON by path.

    A string that is a preset name always means the preset (write ``./fast-membrane`` for a
    file of that name). Any other string is taken as a path if it names an existing file or
    looks like one (a folder separator or a suffix such as ``.json``); otherwise it is an
    unknown name and a ValueError lists the presets.
    """
    if isinstance(name_or_path, str) and name_or_path in PRESETS:
        ref = resources.files("lifsampling") / "data" / PRESETS[name_or_path][0]
        with resources.as_file(ref) as p:
            return Calibration.load(p)
    path = Path(name_or_path)
    if not isinstance(name_or_path, str) or path.exists() or len(path.parts) > 1 or path.suffix:
        return Calibration.load(path)
    raise ValueError(f"unknown calibration {name_or_path!r}: give a preset "
                     f"({', '.join(PRESETS)}) or the path of a calibration JSON")
