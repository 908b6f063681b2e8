"""The rules of this package as components of the engine's plasticity slot.

:class:`PlasticProjection` wraps :class:`~.calcium.BiCaLL` or
:class:`~.graupner_brunel.GraupnerBrunel` into the interface that
``lifsampling.engine.simulate(..., plasticity=...)`` calls once per step (structurally; this
package does not import the engine): ``init`` -> (state, weights), a pure ``step(state, pre,
post, weights, dt_ms, generator)`` -> (state, weights), and ``finish`` after the last step.
The weights it hands the engine are conductances in µS, ``g_uS x rule.weight(state) x mask``
(BiCaLL: binary H(w - theta_b); Graupner–Brunel: 1 or b).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from .calcium import BiCaLL, PlasticityState
from .graupner_brunel import GraupnerBrunel


class ProjectionState(NamedTuple):
    """``synapses``: the rule's state, traces (B, N_pre), (B, N_post) and hidden weights
    (1|B, N_pre, N_post); ``pre_queue``: presynaptic spikes still in transit to the rule
    (Graupner–Brunel's calcium delay D, (D / dt, B, N_pre)), or None."""

    synapses: PlasticityState
    pre_queue: torch.Tensor | None


@dataclass(frozen=True)
class PlasticProjection:
    """An excitatory plastic projection learned by ``rule`` (engine plasticity slot).

    - ``w0``: initial hidden weights (rule units), scalar or broadcastable to (1|B, N_pre, N).
    - ``g_uS``: conductance of an effective weight 1.
    - ``pre``: ``"network"`` (recurrent) or ``"input"`` (the engine's ``PoissonInput``).
    - ``shared``: one weight matrix for all chains, their updates summed
      (``BiCaLL.on_spikes(shared=True)``; BiCaLL only); otherwise one per chain.
    - ``mask``: (N_pre, N) factor on the effective weight (e.g. ``1 - eye``: no autapses).
    - ``learn``: False freezes the weights (the projection still transmits).
    - ``slow``: ``"step"`` advances the rule's continuous dynamics every step;
      ``"end"`` (BiCaLL) decays the traces every step and applies the bistable drift once over
      the whole run in ``finish`` (operator splitting, exact when tau_b >> the run).
    """

    rule: BiCaLL | GraupnerBrunel
    w0: float | torch.Tensor
    g_uS: float
    pre: str = "network"
    shared: bool = False
    mask: torch.Tensor | None = None
    learn: bool = True
    slow: str = "step"

    def __post_init__(self) -> None:
        if self.pre not in ("network", "input"):
            raise ValueError(f"pre must be 'network' or 'input', got {self.pre!r}")
        if self.slow not in ("step", "end"):
            raise ValueError(f"slow must be 'step' or 'end', got {self.slow!r}")
        bicall = isinstance(self.rule, BiCaLL)
        if (self.shared or self.slow == "end") and not bicall:
            raise ValueError("shared weights and slow='end' need the BiCaLL rule")
        if not self.g_uS >= 0:
            raise ValueError(f"g_uS must be >= 0 µS, got {self.g_uS}")

    def init(self, chains: int, n_pre: int, n_post: int, *, device: torch.device,
             dtype: torch.dtype, dt_ms: float) -> tuple[ProjectionState, torch.Tensor]:
        """Traces at 0 for every chain, hidden weights ``w0``; the weights in µS."""
        batch = 1 if self.shared else chains
        w = torch.as_tensor(self.w0, dtype=dtype, device=device)
        w = w.expand(batch, n_pre, n_post).clone()
        zeros = torch.zeros(chains, n_post, device=device, dtype=dtype)
        s = PlasticityState(torch.zeros(chains, n_pre, device=device, dtype=dtype), zeros,
                            zeros.clone(), w)
        delay = round(self.rule.pre_delay_ms / dt_ms)
        queue = (torch.zeros(delay, chains, n_pre, dtype=torch.bool, device=device)
                 if delay > 0 else None)
        return ProjectionState(s, queue), self.weights(s)

    def weights(self, s: PlasticityState) -> torch.Tensor:
        """Effective conductances (µS), (1|B, N_pre, N_post)."""
        w = self.g_uS * self.rule.weight(s)
        return w if self.mask is None else w * self.mask.to(device=w.device, dtype=w.dtype)

    def step(self, state: ProjectionState, pre: torch.Tensor, post: torch.Tensor,
             weights: torch.Tensor, dt_ms: float,
             generator: torch.Generator) -> tuple[ProjectionState, torch.Tensor]:
        """Advance the rule by one step, then this step's spikes (pre first)."""
        if not self.learn:
            return state, weights
        s, queue = state
        if queue is not None:  # calcium of a pre spike arrives D later
            queue = torch.cat([queue[1:], pre.unsqueeze(0)])
            pre = state.pre_queue[0]
        if self.slow == "end":
            s = self.rule.decay(s, dt_ms)
        else:
            s = self.rule.advance(s, dt_ms, generator)
        if self.shared:
            s = self.rule.on_spikes(s, pre, post, shared=True)
        else:
            s = self.rule.on_spikes(s, pre, post)
        return ProjectionState(s, queue), self.weights(s)

    def finish(self, state: ProjectionState, weights: torch.Tensor,
               elapsed_ms: float) -> tuple[ProjectionState, torch.Tensor]:
        """``slow="end"``: the bistable drift over the whole run."""
        if not self.learn or self.slow != "end":
            return state, weights
        s = self.rule.drift(state.synapses, elapsed_ms)
        return state._replace(synapses=s), self.weights(s)
