"""Build an exported network in a PyNN backend and sample from it there.

:func:`to_pynn` builds :func:`~.description.describe`'s description into an already set-up
PyNN backend module (``import pyNN.nest as sim; sim.setup(timestep=0.1)``), ``chains``
independent copies side by side; :func:`run_pynn` does the set-up, runs, reads the spikes
back and returns the engine's :class:`~lifsampling.engine.SimulationResult`
(:mod:`.states`), so an exported network is checked with the same metrics as ours.

Tsodyks–Markram synapses: the description means the two-state model
(:mod:`lifsampling.engine.synapses`). On NEST it is built as NEST's own ``tsodyks2_synapse``
(PyNN ``native_synapse_type``; native weights in nS, initial state recovered: x = 1,
u = U). PyNN's standard ``TsodyksMarkramSynapse`` is the three-state model of Tsodyks,
Uziel & Markram (2000) (NEST ``tsodyks_synapse``, tau_psc = the target's tau_syn): its used
resources first decay with tau_syn before they recover, so it is a different synapse, and with
the renewing synapse's tau_rec = tau_syn NEST's version transmits nothing (0/0 in its
propagator). Other backends therefore get PyNN's standard model only when asked for it
(``standard_stp=True``), knowing that it is not the synapse the network was mapped with.

Install: ``pip install "lifsampling[nest]"`` (PyNN 0.13 and the nest-simulator wheel). PyNN
tries to compile its NEST extension module at import; against the wheel that fails (a warning,
silenced here) and is not needed: the models used here are NEST's built-ins.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import time
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ..engine import Network, Record, SimulationResult
from .description import TWO_STATE, check_description, describe, network_from_description
from .states import result_from_spikes, spike_steps

SIMULATORS = ("nest", "brian2", "neuron")
NEST_SYNAPSE = "tsodyks2_synapse"
_NEST_WEIGHT_PER_US = 1000.0  # NEST's native weights are in nS


@dataclass
class PyNNNetwork:
    """What :func:`to_pynn` built: the neuron population (chain b, neuron j at index b N + j),
    the background sources and the recurrent projections, by label."""

    sim: ModuleType
    neurons: Any
    chains: int
    n: int
    sources: dict[str, Any] = field(default_factory=dict)
    projections: dict[str, Any] = field(default_factory=dict)


def import_backend(simulator: str) -> ModuleType:
    """``pyNN.<simulator>``, with a readable error when PyNN or the simulator is missing."""
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; use one of {', '.join(SIMULATORS)}")
    try:
        with warnings.catch_warnings():  # PyNN's attempt to compile its NEST extension
            warnings.simplefilter("ignore")
            return importlib.import_module(f"pyNN.{simulator}")
    except ImportError as exc:
        extra = "nest" if simulator == "nest" else simulator
        raise ValueError(f"simulator {simulator!r} needs PyNN and {extra}: pip install "
                         f"'lifsampling[nest]' ({exc})") from None


def is_nest(sim: ModuleType) -> bool:
    return sim.__name__.rsplit(".", 1)[-1] == "nest"


def _nest_two_state(syn: dict) -> Any:
    """NEST's ``tsodyks2_synapse`` with the description's parameters as the defaults of a copy
    of the model, and a PyNN native synapse type that passes only weights and delays.

    PyNN's own native type passes U, u, x, tau_rec and tau_fac per connection, and sets them
    with one list-valued ``SetStatus`` after its first ``Connect``, which NEST refuses in
    MPI-parallel runs ("Passing lists of synapse parameter values is not supported"). PyNN
    connects through the labelled variant ``<model>_lbl``, so that is the model copied."""
    import nest
    from pyNN.nest.synapses import NativeSynapseType

    params = {"U": float(syn["U"]), "u": float(syn["U"]), "x": 1.0,
              "tau_rec": float(syn["tau_rec"]), "tau_fac": float(syn["tau_facil"])}
    key = hashlib.sha1(repr(sorted(params.items())).encode()).hexdigest()[:12]
    name = f"lifsampling_{NEST_SYNAPSE}_{key}"
    if f"{name}_lbl" not in nest.synapse_models:
        nest.CopyModel(f"{NEST_SYNAPSE}_lbl", f"{name}_lbl", params)
    kind = type(name, (NativeSynapseType,),
                {"nest_name": name, "default_parameters": {"weight": 0.0, "delay": syn["delay"]}})
    return kind(delay=syn["delay"])


def _projection_type(sim: ModuleType) -> Any:
    """``sim.Projection``; on NEST a subclass that knows from the start that its connections
    carry no parameters besides weight and delay (true of every synapse type built here: the
    static synapse, and the two-state one of :func:`_nest_two_state`).

    Without that, PyNN probes the first connection it makes with ``GetConnections`` between
    ``Connect`` calls, to find the synapse model's common properties. Under MPI, NEST 3.10 then
    delivered the spikes of the connections made before the probe twice (a deterministic
    3-neuron network: the first target on rank 0 received double conductance jumps, and its
    spikes differed from the 1-process run with the same virtual processes); without the probe
    1 and 2 processes fire identically."""
    if not is_nest(sim):
        return sim.Projection

    class Projection(sim.Projection):
        _common_synapse_property_names = property(lambda self: [], lambda self, value: None)

    return Projection


def _synapse_type(sim: ModuleType, syn: dict, standard_stp: bool) -> tuple[Any, float]:
    """(PyNN synapse type without weights, factor from µS to the type's weight unit)."""
    delay = syn["delay"]
    if syn["model"] == "StaticSynapse":
        return sim.StaticSynapse(delay=delay), 1.0
    if syn["model"] != "TsodyksMarkramSynapse" or syn.get("variant") != TWO_STATE:
        raise ValueError(f"unknown synapse model {syn['model']!r} ({syn.get('variant')!r})")
    if is_nest(sim):
        return _nest_two_state(syn), _NEST_WEIGHT_PER_US
    if not standard_stp:
        raise ValueError(
            f"{sim.__name__} has no two-state Tsodyks-Markram synapse: PyNN's standard "
            "TsodyksMarkramSynapse is the three-state model (a different synapse); pass "
            "standard_stp=True to use it anyway, or run on NEST")
    return sim.TsodyksMarkramSynapse(delay=delay, U=syn["U"], tau_rec=syn["tau_rec"],
                                     tau_facil=syn["tau_facil"]), 1.0


def to_pynn(network: Network | dict, sim: ModuleType, *, chains: int = 1,
            standard_stp: bool = False) -> PyNNNetwork:
    """Build ``network`` (a :class:`~lifsampling.engine.Network` or its description) into the
    set-up PyNN backend ``sim``, ``chains`` independent copies.

    The recurrent delay is the backend's time step (the engine's one-step delay); the
    description's own ``timestep_ms`` is used only when building from a description, and must
    match ``sim.get_time_step()``.
    """
    if chains < 1:
        raise ValueError(f"chains must be >= 1, got {chains}")
    dt = float(sim.get_time_step())
    desc = describe(network, dt) if isinstance(network, Network) else network
    check_description(desc)
    if not math.isclose(desc["timestep_ms"], dt):
        raise ValueError(f"the description was made for dt = {desc['timestep_ms']} ms, the "
                         f"backend runs dt = {dt} ms")
    nd = desc["neurons"]
    n = nd["size"]
    params = {k: (np.tile(v, chains) if isinstance(v, list) else v)
              for k, v in nd["parameters"].items()}
    neurons = sim.Population(chains * n, sim.IF_cond_exp(**params), label=nd["label"])
    neurons.initialize(v=np.tile(nd["initial_values"]["v"], chains))
    built = PyNNNetwork(sim=sim, neurons=neurons, chains=chains, n=n)
    projection = _projection_type(sim)
    for src in desc["sources"]:
        pop = sim.Population(chains * src["size"], sim.SpikeSourcePoisson(**src["parameters"]),
                             label=src["label"])
        syn = src["synapse"]
        built.sources[src["label"]] = pop
        built.projections[src["label"]] = projection(
            pop, neurons, sim.OneToOneConnector(),
            sim.StaticSynapse(weight=syn["weight"], delay=syn["delay"]),
            receptor_type=src["receptor_type"], label=src["label"])
    for proj in desc["projections"]:
        syn_type, scale = _synapse_type(sim, proj["synapse"], standard_stp)
        rows = np.asarray(proj["connections"], dtype=float)
        conns = [(int(i) + b * n, int(j) + b * n, w * scale, d)
                 for b in range(chains) for i, j, w, d in rows]
        built.projections[proj["label"]] = projection(
            neurons, neurons, sim.FromListConnector(conns, column_names=["weight", "delay"]),
            syn_type, receptor_type=proj["receptor_type"], label=proj["label"])
    return built


def _all_processes(local: dict[int, np.ndarray], processes: int) -> dict[int, np.ndarray]:
    """The spike trains of every MPI process's neurons, on every process. PyNN's
    ``get_data(gather=True)`` gathers onto rank 0 only (and through Neo blocks); an allgather of
    the (index, times) pairs gives each process the complete set."""
    if processes == 1:
        return local
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError(f"the backend runs {processes} MPI processes; gathering their spikes "
                           "needs mpi4py (pip install mpi4py)") from None
    parts = MPI.COMM_WORLD.allgather(local)
    merged = {k: v for part in parts for k, v in part.items()}
    if len(merged) != sum(map(len, parts)):
        raise RuntimeError("a neuron's spikes came back from more than one MPI process")
    return merged


def run_pynn(network: Network | dict, simulator: str = "nest", *, duration_ms: float,
             chains: int = 1, burn_in_ms: float = 0.0, seed: int = 0, dt_ms: float = 0.1,
             record: Record | None = None, threads: int = 1,
             virtual_processes: int | None = None,
             standard_stp: bool = False) -> SimulationResult:
    """Sample ``network`` on a PyNN backend; returns what :func:`lifsampling.engine.simulate`
    returns for the same arguments (spike counts, ``on_fraction``, and the ``record`` options
    spikes, z and joint states; not traces). ``network`` may be a description
    (:func:`~.description.describe`, e.g. read from ``export-pynn``'s JSON).

    ``seed`` seeds the backend's random numbers (NEST ``rng_seed``); the same seed gives the
    same spikes on the same backend and number of NEST virtual processes (MPI processes ×
    threads), not the engine's spikes. ``threads`` is NEST's ``local_num_threads``;
    ``virtual_processes`` (NEST only) instead fixes the total, each of the K MPI processes then
    runs ``virtual_processes / K`` threads, so one script gives the same spikes under any K
    that divides it.

    Under MPI (``mpirun -np K python ...``, a NEST built with MPI, and mpi4py) every process
    builds the whole description, NEST places each neuron on one process, and the spikes of
    all processes are exchanged (``MPI_Allgather``) before the states are rebuilt: every
    process returns the same, complete result (write it from rank 0 only).
    """
    if not (duration_ms > 0 and math.isfinite(duration_ms)):
        raise ValueError(f"duration_ms must be a finite number > 0, got {duration_ms}")
    if burn_in_ms < 0 or not dt_ms > 0:
        raise ValueError("burn_in_ms must be >= 0 and dt_ms > 0")
    if chains < 1 or threads < 1:
        raise ValueError(f"chains and threads must be >= 1, got {chains}, {threads}")
    rec = record or Record()
    if rec.trace_neurons:
        raise ValueError("membrane traces are not recorded through the export")
    if not isinstance(network, Network):
        network = network_from_description(network)
    desc = describe(network, dt_ms)  # refuses what cannot be exported before the backend starts
    if virtual_processes is not None and virtual_processes < 1:
        raise ValueError(f"virtual_processes must be >= 1, got {virtual_processes}")
    sim = import_backend(simulator)
    if virtual_processes is not None:
        if not is_nest(sim):
            raise ValueError("virtual_processes is a NEST setting; use threads elsewhere")
        procs = sim.num_processes()
        if virtual_processes % procs:
            raise ValueError(f"virtual_processes = {virtual_processes} is not a multiple of "
                             f"the {procs} MPI processes")
        threads = virtual_processes // procs
    extra = {"rng_seed": int(seed) + 1} if is_nest(sim) else {}  # NEST refuses rng_seed 0
    if is_nest(sim):
        extra.update(threads=threads, verbosity="error", spike_precision="on_grid")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyNN/NEST deprecation chatter
        sim.setup(timestep=dt_ms, min_delay=dt_ms, **extra)
        try:
            built = to_pynn(desc, sim, chains=chains, standard_stp=standard_stp)
            built.neurons.record("spikes")
            sim.run(burn_in_ms + duration_ms)
            trains = built.neurons.get_data("spikes", gather=False).segments[0].spiketrains
            by_index = _all_processes({int(st.annotations.get("source_index", k)):
                                       np.asarray(st.magnitude) for k, st in enumerate(trains)},
                                      sim.num_processes())
        finally:
            sim.end()
    n = network.n
    if sorted(by_index) != list(range(chains * n)):
        raise RuntimeError(f"spikes of {len(by_index)} of the {chains * n} neurons came back "
                           "from the backend")
    empty = np.zeros(0)
    steps = [[spike_steps(by_index.get(b * n + j, empty), dt_ms) for j in range(n)]
             for b in range(chains)]
    return result_from_spikes(steps, dt_ms=dt_ms, duration_ms=duration_ms,
                              burn_in_ms=burn_in_ms, tau_ref_ms=network.neuron.tau_ref_ms,
                              record=rec, wall_s=time.perf_counter() - t0)
