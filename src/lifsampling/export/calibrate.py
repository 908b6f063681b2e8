"""The activation function measured on a PyNN backend, for comparison with
:mod:`lifsampling.calibrate` (sbs-style calibration, research/lif_sampling.md §1.3).

The exported network is the unconnected one of :func:`lifsampling.calibrate.measure_activation`:
one neuron per leak potential E_l of the sweep, each with its own Poisson background, sampled
through :func:`~.pynn.run_pynn`; p(z=1) is the time fraction spent refractory and the logistic
p = 1 / (1 + exp(-(E_l - u0) / alpha)) is fitted by :func:`lifsampling.calibration.fit_logistic`.
Units: mV, ms.
"""

from __future__ import annotations

import numpy as np
import torch

from ..calibration import fit_logistic
from ..engine import Network
from ..params import NeuronParams, NoiseParams
from .pynn import run_pynn


def measure_activation(neuron: NeuronParams, noise: NoiseParams, e_leak_mV: np.ndarray, *,
                       duration_ms: float, chains: int = 1, burn_in_ms: float = 500.0,
                       dt_ms: float = 0.1, seed: int = 0, simulator: str = "nest"
                       ) -> np.ndarray:
    """p(z=1) of unconnected neurons with leak potentials ``e_leak_mV`` on ``simulator``,
    pooled over ``chains`` copies of ``duration_ms`` each."""
    e_l = torch.as_tensor(np.asarray(e_leak_mV, dtype=float), dtype=torch.float64)
    if e_l.ndim != 1 or e_l.numel() == 0:
        raise ValueError("e_leak_mV must be a non-empty 1-d grid")
    net = Network(weights_uS=torch.zeros(e_l.numel(), e_l.numel(), dtype=torch.float64),
                  e_leak_mV=e_l, neuron=neuron, noise=noise)
    res = run_pynn(net, simulator, duration_ms=duration_ms, chains=chains,
                   burn_in_ms=burn_in_ms, dt_ms=dt_ms, seed=seed)
    return res.on_fraction.mean(0).numpy()


def fit_activation(e_leak_mV: np.ndarray, p_on: np.ndarray) -> tuple[float, float]:
    """(u0, alpha) in mV of the logistic through a measured activation function."""
    return fit_logistic(np.asarray(e_leak_mV, dtype=float), np.asarray(p_on, dtype=float))
