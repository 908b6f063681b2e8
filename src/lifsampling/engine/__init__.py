"""Batched time-stepped simulator of conductance-based LIF networks (CPU and CUDA)."""

from .monitors import Record, SimulationResult
from .network import Network, resolve_device, simulate
from .neuron import LIFConstants, LIFState, initial_state, lif_step, make_constants
from .noise import PoissonBackground
from .synapses import STPState, initial_stp_state, make_stp_constants, propagate, stp_step

__all__ = [
    "LIFConstants", "LIFState", "Network", "PoissonBackground", "Record", "STPState",
    "SimulationResult", "initial_state", "initial_stp_state", "lif_step", "make_constants",
    "make_stp_constants", "propagate", "resolve_device", "simulate", "stp_step",
]
