"""Long-term plasticity rules that plug into the engine's step functions.

Common rule interface (B independent copies of an N_pre x N_post projection, times in ms):

- ``init_state(B, N_pre, N_post, w0) -> PlasticityState``
- ``advance(state, elapsed_ms, generator)``: continuous dynamics over an elapsed time (float or
  (B,) tensor), integrated exactly (or, for Graupner–Brunel, by exact OU segments + RK4)
- ``on_spikes(state, pre, post)``: boolean spike masks (B, N_pre), (B, N_post)
- ``step(state, pre, post, dt_ms)``: ``advance`` then ``on_spikes``, for clocked networks
- ``weight(state)``: effective weight; ``is_up(state)``: bistable state

Rules: :class:`BiCaLL` (Soares Girão, Risi & Chicca 2025) and :class:`GraupnerBrunel` (2012).
In a network they are components of the engine's plasticity slot: :class:`PlasticProjection`
(``lifsampling.engine.simulate(..., plasticity=PlasticProjection(rule, ...))``). Protocols with
prescribed spike trains live in :mod:`.protocols`.
"""

from .calcium import BiCaLL, BiCaLLParams, PlasticityState, trace_closed_form
from .graupner_brunel import GB_PRESETS, GraupnerBrunel, GraupnerBrunelParams
from .projection import PlasticProjection, ProjectionState
from .protocols import (
    PROTOCOLS,
    RULES,
    frequency_protocol,
    make_rule,
    rate_protocol,
    run_spike_trains,
    stdp_protocol,
)

__all__ = [
    "GB_PRESETS", "PROTOCOLS", "RULES", "BiCaLL", "BiCaLLParams", "GraupnerBrunel",
    "GraupnerBrunelParams", "PlasticProjection", "PlasticityState", "ProjectionState",
    "frequency_protocol", "make_rule", "rate_protocol",
    "run_spike_trains", "stdp_protocol", "trace_closed_form",
]
