r"""Corrections of the Boltzmann -> LIF mapping measured on the network's own samples.

**Self-consistent biases.** The renewing synapse's PSP does not follow z_j exactly (it is
front-loaded, piles up in bursts and has a tail after tau_ref), so the input a neuron receives
differs from sum_j W_kj z_j by a state-dependent amount that shifts the marginals. Every
Boltzmann distribution obeys Callen's identity

    <z_k> = <sigma(b_k + sum_j W_kj z_j)>   (average over the distribution itself);

:func:`callen_bias_step` measures how far a set of samples violates it and returns the bias
change that removes the violation to first order; :func:`self_consistent_biases` iterates it
on pilot runs of the mapped network and returns offsets for
``mapping.bm_to_network(..., bias_offset=...)``. Only W, b and the network's own samples enter.
"""

from __future__ import annotations

import torch

from .calibration import Calibration
from .engine import Record, simulate
from .mapping import bm_to_network, check_boltzmann

__all__ = ["callen_bias_step", "self_consistent_biases"]


def callen_bias_step(z, W, b) -> torch.Tensor:
    """Bias change (N,) that removes, to first order, the violation of Callen's identity
    <z_k> = <sigma(h_k)>, h_k = b_k + sum_j W_kj z_j, by the samples ``z`` (..., N) of 0/1.

    For samples of the Boltzmann machine (W, b) itself the result is zero up to sampling noise;
    for samples of (W, b + delta) it is about -delta. The step is a Newton step on the bias:
    -(<z_k> - <sigma(h_k)>) / <sigma'(h_k)>.
    """
    W, b = check_boltzmann(W, b)
    z = torch.as_tensor(z).to(torch.float64).reshape(-1, b.numel())
    if z.shape[0] == 0:
        raise ValueError("no samples given")
    s = torch.sigmoid(b + z @ W)  # W symmetric: row k of W is the input to k
    return -(z.mean(0) - s.mean(0)) / (s * (1 - s)).mean(0).clamp_min(1e-6)


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
    and :func:`callen_bias_step` updates them. Only W, b and the network's
    own samples enter: neither the target's marginals nor its distribution are used.
    """
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
