"""What a simulation records, and the result it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .state import SimulationState


@dataclass(frozen=True)
class Record:
    """Recording options.

    - ``spikes``: every spike as (step, chain, neuron) index triples.
    - ``z_every_ms``: the binary state z (B, N) sampled every this many ms (sbs reads every 10 ms).
    - ``joint_states``: time-weighted histogram of the joint state per chain (N <= 20 only),
      unit 0 = most significant bit, as sbs; this is the continuous-time distribution of sbs.
    - ``trace_neurons``: record v (mV), g_exc and g_inh (µS) of these neurons every step.
    """

    spikes: bool = False
    z_every_ms: float | None = None
    joint_states: bool = False
    trace_neurons: tuple[int, ...] = ()


@dataclass
class SimulationResult:
    """Outputs of :func:`lifsampling.engine.simulate` (times exclude the burn-in)."""

    dt_ms: float
    duration_ms: float
    chains: int
    spike_counts: torch.Tensor  # (B, N) int64
    on_fraction: torch.Tensor  # (B, N) fraction of steps with z = 1 (the sampled marginals)
    spikes: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # steps, chains, ids
    z_samples: torch.Tensor | None = None  # (S, B, N) bool
    joint_counts: torch.Tensor | None = None  # (B, 2**N) steps spent in each joint state
    traces: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (T, B, k)
    wall_s: float = 0.0
    plasticity_state: Any = None  # the plasticity component's state after the run
    input_spike_counts: torch.Tensor | None = None  # (B, N_in) spikes of the input population
    plastic_weights_uS: torch.Tensor | None = None  # its weights after the run, (1|B, N_pre, N)
    final_state: SimulationState | None = None  # to continue: simulate(..., initial_state=)

    @property
    def rates_hz(self) -> torch.Tensor:
        """Firing rate of every neuron in every chain (Hz)."""
        return self.spike_counts.double() / (self.duration_ms * 1e-3)

    def joint_distribution(self) -> torch.Tensor:
        """Time-weighted joint-state distribution pooled over chains (2**N,)."""
        if self.joint_counts is None:
            raise ValueError("simulate(..., record=Record(joint_states=True)) was not asked for")
        c = self.joint_counts.sum(0).double()
        return c / c.sum()
