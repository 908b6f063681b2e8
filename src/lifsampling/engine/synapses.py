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

The update order is NEST 3's ``tsodyks2_synapse`` (efficacy ``U x`` of the current spike, *then*
``x <- x - U x``), which the tests pin against conductance jumps recorded from NEST 3.10
(``shared/data/nest_reference``). sbs ran NEST 2.x, which updates first; with the sbs initial
state (x = 0 "just fired") that only changes the very first spike.

**Mean efficacy and renormalisation** (Leng et al. 2018, seed 001: "with an appropriate choice of
parameters, the expectation value of synaptic weights can be maintained"). Without facilitation
(u = U) and a presynaptic train with inter-spike intervals h_k, R before spike k+1 obeys
``R_{k+1} = 1 - (1 - (1 - U) R_k) exp(-h_k / tau_rec)``. For a *renewal* train (h i.i.d.,
independent of R) the stationary mean is ``E[R] = (1 - phi) / (1 - (1 - U) phi)`` with
``phi = E[exp(-h/tau_rec)]`` (:func:`renewal_mean_efficacy`; Poisson rate nu:
``U E[R] = U / (1 + U nu tau_rec)``, Tsodyks & Markram 1997). A regular train has the closed
form :func:`regular_train_efficacy`. For the spike
trains a network actually produces (bursts, not renewal) :func:`replay_mean_efficacy` replays the
recursion exactly on recorded spikes. Dividing the weights by the mean efficacy
(``weight_scale = 1 / E[u R]``, :func:`renormalised_stp`) keeps the time-averaged synaptic drive
equal to the static weight, while a unit that keeps firing is first stronger
(recovered synapses transmit ``U / E[u R] > 1`` times the weight: the attractor deepens) and then
weaker (depressed). sbs/Leng's own choice ``weight_scale = 1 / U`` only makes the *first* spike of
a recovered synapse transmit the weight (research/lif_sampling.md §3.2).

Conductance jumps *add* (as in NEST): with small U a burst at 1/tau_ref stacks conductance like an
additive synapse (by 1/(1 - e^{-tau_ref/tau_syn}) = 1.58 for tau_ref = tau_syn), whereas the
LIF-sampling mapping is calibrated for renewing synapses, whose jump is ``1 - e^{-h/tau_syn}``.
So the LIF-sampling networks renormalise to the renewing synapse's mean jump on the same spikes
(``target_efficacy`` of :func:`renormalised_stp`): the same mean conductance drive per spike as
the network the calibration describes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
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
    if not bool(spikes.any()):
        return None
    # A sparse (COO) efficacy matrix times the weights touches only the spiking rows; measured
    # 10x faster than gathering the rows and index_add_-ing them (B = 256, N = 1294, 2000
    # spikes per step) and never slower than the dense product at LIF-sampling rates.
    jumps = torch.sparse.mm(efficacy.to_sparse(), w_split)
    return jumps[:, :n], jumps[:, n:]


# --------------------------------------------------------------------------------------------
# closed forms, replay and renormalisation (no facilitation: u = U)
# --------------------------------------------------------------------------------------------
def regular_train_efficacy(U: float, tau_rec_ms: float, isi_ms: float, n_spikes: int) -> np.ndarray:
    """Efficacy ``U R_k`` of spikes k = 1..n of a regular train into a recovered synapse.

    Closed form of the recursion ``R_{k+1} = 1 - (1 - (1 - U) R_k) d``, ``d = exp(-isi/tau_rec)``,
    ``R_1 = 1``: ``R_k = R* + (1 - R*) q^(k-1)``, ``q = (1 - U) d``, ``R* = (1 - d) / (1 - q)``.
    """
    if not (0 < U <= 1 and tau_rec_ms > 0 and isi_ms > 0 and n_spikes >= 1):
        raise ValueError("need 0 < U <= 1, tau_rec_ms > 0, isi_ms > 0 and n_spikes >= 1")
    d = math.exp(-isi_ms / tau_rec_ms)
    q = (1.0 - U) * d
    r_inf = (1.0 - d) / (1.0 - q)
    k = np.arange(n_spikes, dtype=float)
    return U * (r_inf + (1.0 - r_inf) * q**k)


def renewal_mean_efficacy(U: float, tau_rec_ms: float, isi_ms) -> float:
    """Stationary mean efficacy ``U E[R]`` per spike of a renewal train with these intervals (ms).

    ``E[R] = (1 - phi) / (1 - (1 - U) phi)``, ``phi = mean(exp(-h / tau_rec))`` (module docstring).
    """
    h = np.asarray(isi_ms, dtype=float)
    if h.size == 0 or (h <= 0).any():
        raise ValueError("isi_ms must be a non-empty array of positive intervals")
    phi = float(np.mean(np.exp(-h / tau_rec_ms)))
    return U * (1.0 - phi) / (1.0 - (1.0 - U) * phi)


def poisson_mean_efficacy(U: float, tau_rec_ms: float, rate_hz: float) -> float:
    """``U / (1 + U nu tau_rec)``: stationary mean efficacy of a Poisson train of rate nu (Hz)."""
    return U / (1.0 + U * rate_hz * 1e-3 * tau_rec_ms)


def replay_efficacies(times_ms: np.ndarray, keys: np.ndarray, U: float,
                      tau_rec_ms: float) -> np.ndarray:
    """Efficacy ``U R`` of every spike, replaying the recursion on recorded trains.

    ``keys`` identifies the train of each spike (e.g. ``chain * N + neuron``); every train starts
    recovered (R = 1). Returns efficacies in the order of the input. Vectorised over trains: the
    loop runs over the spike rank within a train.
    """
    t = np.asarray(times_ms, dtype=float)
    key = np.asarray(keys, dtype=np.int64)
    if t.shape != key.shape:
        raise ValueError("times_ms and keys must have the same shape")
    out = np.empty_like(t)
    if t.size == 0:
        return out
    order = np.lexsort((t, key))
    ks, ts = key[order], t[order]
    start = np.r_[True, ks[1:] != ks[:-1]]
    first = np.flatnonzero(start)
    rank = np.arange(ks.size) - np.repeat(first, np.diff(np.r_[first, ks.size]))
    eff_sorted = np.empty_like(ts)
    r = np.ones(first.size)
    last_t = ts[first]
    train_of = np.cumsum(start) - 1
    for k in range(int(rank.max()) + 1):
        idx = np.flatnonzero(rank == k)
        tr = train_of[idx]
        if k > 0:
            d = np.exp(-(ts[idx] - last_t[tr]) / tau_rec_ms)
            r[tr] = 1.0 - (1.0 - r[tr]) * d
        eff_sorted[idx] = U * r[tr]
        r[tr] -= U * r[tr]
        last_t[tr] = ts[idx]
    out[order] = eff_sorted
    return out


def replay_mean_efficacy(times_ms, keys, U: float, tau_rec_ms: float,
                         skip_ms: float = 0.0) -> float:
    """Spike-weighted mean efficacy ``U R`` of recorded trains (see :func:`replay_efficacies`);
    spikes before ``skip_ms`` only set the synaptic state (transient from the recovered start)."""
    t = np.asarray(times_ms, dtype=float)
    eff = replay_efficacies(t, keys, U, tau_rec_ms)
    keep = t >= skip_ms
    if not keep.any():
        raise ValueError("no spikes to average over: run longer or lower skip_ms")
    return float(eff[keep].mean())


def renormalised_stp(U: float, tau_rec_ms: float, mean_efficacy: float,
                     target_efficacy: float = 1.0, tau_fac_ms: float = 0.0) -> SynapseParams:
    """Tsodyks–Markram synapse whose spike-averaged jump equals ``target_efficacy`` times the
    weight: ``weight_scale = target_efficacy / mean_efficacy`` (``mean_efficacy`` =
    spike-averaged ``u R``). ``target_efficacy = 1``: the static (additive) weight; the mean
    jump of a renewing synapse on the same spikes (``replay_mean_efficacy(..., U=1,
    tau_rec_ms=tau_syn)``): the conductance drive the LIF-sampling calibration assumed."""
    if not 0 < mean_efficacy <= 1 or not 0 < target_efficacy <= 1:
        raise ValueError(f"mean and target efficacy must be in (0, 1], got {mean_efficacy}, "
                         f"{target_efficacy}")
    return SynapseParams(kind="tsodyks_markram", U=U, tau_rec_ms=tau_rec_ms,
                         tau_fac_ms=tau_fac_ms, weight_scale=target_efficacy / mean_efficacy)
