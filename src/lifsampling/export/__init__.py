"""Export of mapped networks to the field's simulators: a backend-neutral JSON description in
PyNN terms (:mod:`.description`), its build into any PyNN backend and sampling there
(:mod:`.pynn`), and the engine's result rebuilt from recorded spikes (:mod:`.states`).
PyNN and a simulator are optional (``pip install "lifsampling[nest]"``); they are imported only
when a network is built."""

from .description import FORMAT, UNITS, check_description, describe, network_from_description
from .pynn import SIMULATORS, PyNNNetwork, import_backend, run_pynn, to_pynn
from .states import result_from_spikes, spike_steps

__all__ = ["FORMAT", "SIMULATORS", "UNITS", "PyNNNetwork", "check_description", "describe",
           "import_backend", "network_from_description", "result_from_spikes", "run_pynn",
           "spike_steps", "to_pynn"]
