"""Batched time-stepped simulator of conductance-based LIF networks (CPU and CUDA).

One time loop, :func:`simulate`, runs B independent chains of one :class:`Network`. Every step
[t, t + dt] runs the same schedule of named slots, in this order:

1. **drive** — the conductance jumps that arrive at the end of this step: Poisson background
   (:mod:`.noise`), an external input population (:class:`PoissonInput`, e.g. an image as
   Poisson trains; its spikes act in the same step), extra Poisson drive per chain and neuron
   (:class:`PoissonDrive`, e.g. a teacher), and the recurrent jumps of the previous step.
2. **membrane, threshold, refractoriness** — :func:`lif_step` (:mod:`.neuron`).
3. **synaptic efficacy** — Tsodyks–Markram short-term plasticity per presynaptic neuron
   (:func:`stp_step`; renewing and additive synapses are its special cases).
4. **propagation** — efficacy x weights of this step's spikes, for the fixed weights and for a
   recurrent plastic projection, delivered in slot 1 of the next step (one-step delay).
5. **plasticity** — one :class:`PlasticityRule` component (``simulate(..., plasticity=...)``),
   a pure ``step(state, pre, post, weights, dt, generator) -> (state, weights)`` of this
   step's spikes; the new weights act from the next delivery on.
6. **recording** — after the burn-in: spike counts and the :class:`Record` options (spikes, z,
   joint states, traces), then any ``recorders`` callables, which see a :class:`StepView`.

Every run returns the full state after its last step (:class:`SimulationState`: membranes,
conductances, refractory countdowns, STP resources, the spikes in flight, the clock) as
``result.final_state``; ``simulate(..., initial_state=state)`` continues from it, also with
changed weights and leaks (:mod:`.state`).

A new synapse, rule or recorder is a component of one slot, never a second loop. The slot
components live in :mod:`.slots`; the rules of :mod:`lifsampling.plasticity` come as plasticity
components (``PlasticProjection``). Backends (``simulate(..., backend=...)``): the torch path
(every slot; ``"torch-compiled"`` fuses slots 1-3), and the numba CPU kernel
(:mod:`.cpu_kernel`, the default on the CPU), which runs the same schedule for what
:func:`.cpu_kernel.unsupported_reason` accepts.
"""

from .monitors import Record, SimulationResult
from .network import BACKENDS, Network, resolve_device, simulate
from .neuron import LIFConstants, LIFState, initial_state, lif_step, make_constants
from .noise import PoissonBackground
from .slots import PlasticityRule, PoissonDrive, PoissonInput, StepView, project
from .state import SimulationState
from .synapses import STPState, initial_stp_state, make_stp_constants, propagate, stp_step

__all__ = [
    "BACKENDS", "LIFConstants", "LIFState", "Network", "PlasticityRule", "PoissonBackground",
    "PoissonDrive", "PoissonInput", "Record", "STPState", "SimulationResult", "SimulationState",
    "StepView",
    "initial_state", "initial_stp_state", "lif_step", "make_constants", "make_stp_constants",
    "project", "propagate", "resolve_device", "simulate", "stp_step",
]
