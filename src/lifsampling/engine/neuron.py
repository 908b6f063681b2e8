"""The conductance-based LIF step function (NEST ``iaf_cond_exp`` semantics), pure and batched.

Equations (units ms, mV, nF, µS, nA)::

    C_m du/dt   = g_l (E_l - u) + g_exc (E_exc - u) + g_inh (E_inh - u) + I_offset
    dg_x/dt     = -g_x / tau_syn_x                  (+ jumps from input spikes)

Schedule of one step [t, t + dt] (fixed; tests pin it):

1. **Membrane.** Non-refractory neurons relax exactly towards their effective reversal potential
   ``u_inf = (g_l E_l + g_e E_e + g_i E_i + I) / g_tot`` with time constant ``C_m / g_tot``, where
   the conductances are their exact averages over the step (``g * tau/dt * (1 - exp(-dt/tau))``),
   so the update is stable for any ``tau_eff`` (the high-conductance state has tau_eff << dt).
   Refractory neurons are held at ``V_reset`` and count down.
2. **Threshold.** Non-refractory neurons with ``u >= V_th`` spike: ``u <- V_reset`` and they are
   held at ``V_reset`` for the next ``n_ref = tau_ref / dt`` steps (as NEST and Brian2 do), so
   the earliest next spike is ``tau_ref + dt`` later. The sampling state is z = 1 for
   ``t - t_spike < tau_ref`` (sbs ``generate_states``): the spike step and the ``n_ref - 1``
   steps after it.
3. **Conductances.** ``g <- g exp(-dt/tau_syn)``, then the inputs that arrive at the end of the
   step are added (background counts of this step; recurrent spikes of the previous step, i.e. a
   one-step synaptic delay). As in NEST, an input arriving at time t changes g in the step that
   ends at t, so it moves u from the next step on.

All tensors are (B, N): dimension 0 is the chain.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ..params import NeuronParams


class LIFState(NamedTuple):
    """Dynamic state of B x N neurons."""

    v: torch.Tensor  # membrane potential (mV)
    g_exc: torch.Tensor  # excitatory conductance (µS)
    g_inh: torch.Tensor  # inhibitory conductance (µS)
    refrac_left: torch.Tensor  # remaining clamped steps (int32)


class LIFConstants(NamedTuple):
    """Per-neuron constants, precomputed once for a given dt. Shapes broadcast against (B, N)."""

    g_leak: float  # µS
    cm: float  # nF
    e_leak: torch.Tensor  # (N,) mV; the bias knob
    i_offset: torch.Tensor  # (N,) or scalar, nA
    v_thresh: float
    v_reset: float
    e_exc: float
    e_inh: float
    decay_exc: float  # exp(-dt/tau_syn_exc)
    decay_inh: float
    mean_exc: float  # average of exp(-s/tau) over the step: tau/dt (1 - exp(-dt/tau))
    mean_inh: float
    dt: float  # ms
    n_ref: int  # refractory period in steps


def make_constants(params: NeuronParams, e_leak_mV: torch.Tensor, dt_ms: float,
                   i_offset_nA: torch.Tensor | float | None = None) -> LIFConstants:
    """Precompute the step constants for leak potentials ``e_leak_mV`` (N,) and step ``dt_ms``."""
    te, ti = params.tau_syn_exc_ms, params.tau_syn_inh_ms
    i_off = params.i_offset_nA if i_offset_nA is None else i_offset_nA
    i_off = torch.as_tensor(i_off, dtype=e_leak_mV.dtype, device=e_leak_mV.device)
    return LIFConstants(
        g_leak=params.g_leak_uS, cm=params.cm_nF, e_leak=e_leak_mV, i_offset=i_off,
        v_thresh=params.v_thresh_mV, v_reset=params.v_reset_mV,
        e_exc=params.e_rev_exc_mV, e_inh=params.e_rev_inh_mV,
        decay_exc=math.exp(-dt_ms / te), decay_inh=math.exp(-dt_ms / ti),
        mean_exc=te / dt_ms * (1.0 - math.exp(-dt_ms / te)),
        mean_inh=ti / dt_ms * (1.0 - math.exp(-dt_ms / ti)),
        dt=dt_ms, n_ref=max(1, round(params.tau_ref_ms / dt_ms)),
    )


def initial_state(batch: int, n: int, c: LIFConstants, *, v0_mV: float | None = None,
                  device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> LIFState:
    """All neurons at ``v0_mV`` (default: their leak potential), no conductance, not refractory."""
    if v0_mV is None:
        v = c.e_leak.to(device=device, dtype=dtype).expand(batch, n).clone()
    else:
        v = torch.full((batch, n), v0_mV, device=device, dtype=dtype)
    zeros = torch.zeros(batch, n, device=device, dtype=dtype)
    return LIFState(v=v, g_exc=zeros, g_inh=zeros.clone(),
                    refrac_left=torch.zeros(batch, n, device=device, dtype=torch.int32))


def lif_step(state: LIFState, c: LIFConstants, in_exc: torch.Tensor | None,
             in_inh: torch.Tensor | None) -> tuple[LIFState, torch.Tensor, torch.Tensor]:
    """Advance one step (schedule in the module docstring).

    ``in_exc``/``in_inh`` are the conductance jumps (µS) arriving at the end of this step.
    Returns ``(new_state, spikes, z)``: ``spikes`` marks neurons that fired in this step and ``z``
    neurons that are "on" (fired less than tau_ref ago) in it; both boolean (B, N).
    """
    ge = state.g_exc * c.mean_exc
    gi = state.g_inh * c.mean_inh
    g_tot = c.g_leak + ge + gi
    u_inf = (c.g_leak * c.e_leak + ge * c.e_exc + gi * c.e_inh + c.i_offset) / g_tot
    v_free = u_inf + (state.v - u_inf) * torch.exp(-c.dt / c.cm * g_tot)
    refractory = state.refrac_left > 0
    spikes = (v_free >= c.v_thresh) & ~refractory
    v = torch.where(refractory | spikes, torch.full_like(v_free, c.v_reset), v_free)
    refrac_left = torch.where(spikes, torch.full_like(state.refrac_left, c.n_ref),
                              (state.refrac_left - 1).clamp_(min=0))
    g_exc = state.g_exc * c.decay_exc
    g_inh = state.g_inh * c.decay_inh
    if in_exc is not None:
        g_exc = g_exc + in_exc
    if in_inh is not None:
        g_inh = g_inh + in_inh
    return LIFState(v, g_exc, g_inh, refrac_left), spikes, spikes | (state.refrac_left > 1)
