"""Recurrent synapses: per-presynaptic Tsodyks–Markram efficacy and spike propagation.

All outgoing synapses of neuron i see the same spike train and share one parameter set, so the
short-term-plasticity state (R_i available resources, u_i utilisation) is kept per presynaptic
neuron and scales row i of the weight matrix (research/lif_sampling.md §3.1 [D]).

Tsodyks–Markram (seed 000; Fuhrmann et al. 2002; NEST ``tsodyks2_synapse``), between spikes::

    dR/dt = (1 - R) / tau_rec          du/dt = (U - u) / tau_fac

At a presynaptic spike: first ``u <- u + U (1 - u)`` (facilitation; with tau_fac = 0, u = U),
the synapse transmits ``weight_scale * u * R * |w_ij|``, then ``R <- R (1 - u)``.
With U = 1 and tau_rec = tau_syn this is the *renewing* synapse: the jump w (1 - exp(-h/tau_syn))
tops the decayed conductance w exp(-h/tau_syn) back up to exactly w.

Propagation costs O(number of spikes x N), not O(N^2) per step: only the rows of spiking neurons
are gathered and added into their chain's conductance with ``index_add_``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..params import NeuronParams, SynapseParams


class STPState(NamedTuple):
    """Per-presynaptic short-term-plasticity state, (B, N) each."""

    resources: torch.Tensor  # R in [0, 1]
    utilisation: torch.Tensor  # u in [0, 1]


class STPConstants(NamedTuple):
    U: float
    decay_rec: float  # exp(-dt / tau_rec); 0 = recovers within one step
    decay_fac: float  # exp(-dt / tau_fac); 0 = no facilitation
    weight_scale: float
    static: bool  # additive synapses: efficacy is always weight_scale


def make_stp_constants(syn: SynapseParams, neuron: NeuronParams, dt_ms: float) -> STPConstants:
    """Step constants for ``syn``; renewing synapses take tau_rec = tau_syn_exc of ``neuron``."""
    syn.validate()
    if syn.kind == "additive":
        return STPConstants(1.0, 0.0, 0.0, syn.weight_scale, True)
    if syn.kind == "renewing":
        return STPConstants(1.0, math.exp(-dt_ms / neuron.tau_syn_exc_ms), 0.0,
                            syn.weight_scale, False)
    decay_rec = math.exp(-dt_ms / syn.tau_rec_ms) if syn.tau_rec_ms > 0 else 0.0
    decay_fac = math.exp(-dt_ms / syn.tau_fac_ms) if syn.tau_fac_ms > 0 else 0.0
    return STPConstants(syn.U, decay_rec, decay_fac, syn.weight_scale, False)


def initial_stp_state(batch: int, n: int, c: STPConstants, device: torch.device,
                      dtype: torch.dtype) -> STPState:
    """Fully recovered synapses (R = 1, u = U)."""
    return STPState(torch.ones(batch, n, device=device, dtype=dtype),
                    torch.full((batch, n), c.U, device=device, dtype=dtype))


def stp_step(state: STPState, c: STPConstants,
             spikes: torch.Tensor) -> tuple[STPState, torch.Tensor]:
    """Recover over one step, then apply the spikes of this step.

    Returns the new state and the efficacy (B, N) of each neuron's spike in this step (0 where
    it did not spike), already multiplied by ``weight_scale``.
    """
    if c.static:
        return state, spikes.to(state.resources.dtype) * c.weight_scale
    r = 1.0 - (1.0 - state.resources) * c.decay_rec
    u = c.U + (state.utilisation - c.U) * c.decay_fac
    s = spikes.to(r.dtype)
    if c.decay_fac > 0.0:  # facilitation first (NEST tsodyks2 order)
        u = u + s * c.U * (1.0 - u)
    efficacy = s * u * r
    r = r - efficacy
    return STPState(r, u), efficacy * c.weight_scale


def propagate(efficacy: torch.Tensor, spikes: torch.Tensor, w_split: torch.Tensor,
              n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Conductance jumps (exc, inh), each (B, N), caused by this step's spikes.

    ``w_split`` is the (N, 2N) matrix ``[max(W, 0) | max(-W, 0)]`` in µS (row = presynaptic).
    Returns ``None`` when nothing spiked.
    """
    chain, pre = torch.nonzero(spikes, as_tuple=True)
    if chain.numel() == 0:
        return None
    batch = spikes.shape[0]
    if chain.numel() * 8 > spikes.numel():  # dense is cheaper when many neurons fire together
        jumps = efficacy @ w_split
    else:
        rows = w_split.index_select(0, pre) * efficacy[chain, pre].unsqueeze(1)
        jumps = torch.zeros(batch, 2 * n, device=w_split.device, dtype=w_split.dtype)
        jumps.index_add_(0, chain, rows)
    return jumps[:, :n], jumps[:, n:]
