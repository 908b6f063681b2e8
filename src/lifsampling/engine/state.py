"""The full dynamic state of a simulation, to continue it: :class:`SimulationState`.

``simulate(...)`` returns the state after its last step as ``result.final_state``, and
``simulate(..., initial_state=state)`` starts from it instead of the default start (membranes
at their leak, no conductance, nothing refractory, synapses recovered). Everything a step of
the schedule (:mod:`lifsampling.engine`) carries over to the next is here:

- the membrane (``v_mV``), conductances (``g_exc_uS``, ``g_inh_uS``) and refractory countdown
  (``refrac_steps``) of :class:`.neuron.LIFState`;
- the Tsodyks–Markram state per presynaptic neuron (``stp_resources`` R, ``stp_utilisation``
  u of :class:`.synapses.STPState`);
- the recurrent jumps still in flight: the last step's spikes (the neurons whose countdown was
  just set, ``refrac_steps == n_ref``) with their efficacy ``efficacy`` (u R x weight_scale).
  They are delivered through the *continuing* network's weights at the end of its first step,
  so weights may change between the two runs (in-the-loop training);
- the clock ``step`` (steps since the first run began, burn-in included), which time-varying
  background rates and leak schedules read, and which the kernel's counter-based random
  stream continues from.

A run continued from the state of a deterministic run spikes exactly as the uninterrupted one.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class SimulationState(NamedTuple):
    """State of B chains of N neurons after a step; tensors (B, N) on the run's device."""

    v_mV: torch.Tensor  # membrane potential (mV)
    g_exc_uS: torch.Tensor  # excitatory conductance (µS)
    g_inh_uS: torch.Tensor  # inhibitory conductance (µS)
    refrac_steps: torch.Tensor  # remaining clamped steps (int32); n_ref: spiked in the last step
    stp_resources: torch.Tensor  # R in [0, 1] (1 without short-term depression)
    stp_utilisation: torch.Tensor  # u in [0, 1] (U without facilitation)
    efficacy: torch.Tensor  # efficacy of the last step's spikes (0 where none), in flight
    step: int  # steps run since the first simulation of this state began
    dt_ms: float  # the time step the countdown and the clock count in (ms)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.v_mV.shape)

    def to(self, device: torch.device | str, dtype: torch.dtype) -> SimulationState:
        """The state on ``device``, floats in ``dtype``, the countdown int32."""
        f = [t.to(device=device, dtype=dtype) for t in
             (self.v_mV, self.g_exc_uS, self.g_inh_uS)]
        s = [t.to(device=device, dtype=dtype) for t in
             (self.stp_resources, self.stp_utilisation, self.efficacy)]
        return SimulationState(*f, self.refrac_steps.to(device=device, dtype=torch.int32), *s,
                               int(self.step), float(self.dt_ms))


TENSOR_FIELDS = ("v_mV", "g_exc_uS", "g_inh_uS", "refrac_steps", "stp_resources",
                 "stp_utilisation", "efficacy")


def check_state(state: SimulationState, chains: int, n: int, dt_ms: float,
                v0_mV: float | None) -> None:
    """Raise ValueError unless ``state`` can start a run of ``chains`` x ``n`` neurons at
    ``dt_ms`` (shapes (chains, n), same time step, a clock >= 0, no ``v0_mV`` besides it)."""
    if not isinstance(state, SimulationState):
        raise ValueError(f"initial_state must be an engine.SimulationState (a run's "
                         f"result.final_state), got {type(state).__name__}")
    if v0_mV is not None:
        raise ValueError("give either initial_state or v0_mV, not both (the state holds the "
                         "membranes)")
    for name in TENSOR_FIELDS:
        shape = tuple(getattr(state, name).shape)
        if shape != (chains, n):
            raise ValueError(f"initial_state.{name} has shape {shape}, but this run has "
                             f"(chains, N) = ({chains}, {n}): continue with as many chains "
                             "and neurons as the run that produced the state")
    if abs(float(state.dt_ms) - dt_ms) > 1e-12 * max(1.0, dt_ms):
        raise ValueError(f"initial_state was simulated with dt_ms = {state.dt_ms}, this run "
                         f"has dt_ms = {dt_ms}: the refractory countdown counts steps")
    if int(state.step) < 0:
        raise ValueError(f"initial_state.step must be >= 0, got {state.step}")
    for name in ("v_mV", "g_exc_uS", "g_inh_uS", "stp_resources", "stp_utilisation",
                 "efficacy"):
        if not bool(torch.isfinite(getattr(state, name)).all()):
            raise ValueError(f"initial_state.{name} must be finite")


def continued_seed(seed: int, step: int) -> int:
    """Seed of the torch generator of a run that starts at clock ``step``: ``seed`` itself at
    0, otherwise a splitmix64 mix of the two (so a continuation never replays the random
    numbers of the run before it)."""
    if step == 0:
        return seed
    mask = (1 << 64) - 1
    z = (seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + 1) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return (z ^ (z >> 31)) & ((1 << 63) - 1)
