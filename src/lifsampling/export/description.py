"""A backend-neutral description of a mapped :class:`~lifsampling.engine.Network` (PyNN terms).

The description is plain JSON-able data, with PyNN's model and parameter names and units
(PyNN standard models, "Units" table: ms, mV, nF, µS, nA, Hz):

- ``neurons``: one ``IF_cond_exp`` population; ``v_rest`` is the per-neuron leak potential
  E_l (the bias), the membranes start at it (``initial_values.v``), as in the engine.
- ``sources``: an independent excitatory and inhibitory ``SpikeSourcePoisson`` per neuron
  (``OneToOneConnector``, ``StaticSynapse``): the background of :class:`~lifsampling.params.
  NoiseParams`, each spike adding ``w_exc_uS`` / ``w_inh_uS`` to the conductance.
- ``projections``: the recurrent synapses, split by the sign of ``weights_uS[i, j]`` (row i
  presynaptic) into an ``excitatory`` and an ``inhibitory`` projection with the conductance
  |w| · ``weight_scale`` in µS and a delay of one time step (the engine's one-step delay).

Synapse models (``SynapseParams.kind``):

- ``additive`` -> ``StaticSynapse``.
- ``renewing`` -> ``TsodyksMarkramSynapse`` with U = 1 and tau_rec = tau_syn_exc (the sbs
  "saturating" synapse, research/lif_sampling.md §3.1; the engine's
  :func:`~lifsampling.engine.synapses.make_stp_constants` takes tau_syn_exc for both signs).
- ``tsodyks_markram`` -> ``TsodyksMarkramSynapse`` with the network's U, tau_rec, tau_facil.

The Tsodyks–Markram model meant is the *two-state* one of :mod:`lifsampling.engine.synapses`
(resources R recover directly with tau_rec; NEST ``tsodyks2_synapse``), recorded as
``"variant": "two-state"``. PyNN's standard ``TsodyksMarkramSynapse`` is the three-state model
of Tsodyks, Uziel & Markram (2000), in which used resources first decay with the postsynaptic
tau_syn before they recover; see :func:`lifsampling.export.pynn.to_pynn` for how each backend
gets the two-state model.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..engine import Network
from ..params import NeuronParams, NoiseParams, SynapseParams

FORMAT = "lifsampling.network/pynn"
VERSION = 1
UNITS = {"time": "ms", "voltage": "mV", "capacitance": "nF", "conductance": "uS",
         "current": "nA", "rate": "Hz"}
NEURON_MODEL = "IF_cond_exp"
TWO_STATE = "two-state"

# PyNN IF_cond_exp parameter <- NeuronParams field (same units: PyNN's are ours)
_CELL_PARAMETERS = (("cm", "cm_nF"), ("tau_m", "tau_m_ms"), ("v_thresh", "v_thresh_mV"),
                    ("v_reset", "v_reset_mV"), ("tau_refrac", "tau_ref_ms"),
                    ("tau_syn_E", "tau_syn_exc_ms"), ("tau_syn_I", "tau_syn_inh_ms"),
                    ("e_rev_E", "e_rev_exc_mV"), ("e_rev_I", "e_rev_inh_mV"),
                    ("i_offset", "i_offset_nA"))


def synapse_description(synapse: SynapseParams, neuron: NeuronParams, delay_ms: float) -> dict:
    """The PyNN synapse type of the recurrent projections (module docstring), without weights."""
    synapse.validate()
    if synapse.kind == "additive":
        return {"model": "StaticSynapse", "delay": delay_ms}
    if synapse.kind == "renewing":
        U, tau_rec, tau_fac = 1.0, neuron.tau_syn_exc_ms, 0.0
    else:
        U, tau_rec, tau_fac = synapse.U, synapse.tau_rec_ms, synapse.tau_fac_ms
    return {"model": "TsodyksMarkramSynapse", "variant": TWO_STATE, "U": U, "tau_rec": tau_rec,
            "tau_facil": tau_fac, "delay": delay_ms}


def describe(net: Network, dt_ms: float = 0.1) -> dict:
    """The description (module docstring) of ``net`` simulated with time step ``dt_ms``.

    Needs constant background rates and one set of leak potentials (N,); raises
    ``ValueError`` otherwise.
    """
    net.validate()
    if not (dt_ms > 0 and math.isfinite(dt_ms)):
        raise ValueError(f"dt_ms must be a finite number > 0, got {dt_ms}")
    if net.noise.time_varying:
        raise ValueError("only constant background rates can be exported (SpikeSourcePoisson); "
                         "this network's rate is a function of time")
    if net.e_leak_mV.ndim != 1:
        raise ValueError("export one set of leak potentials (N,); this network has one per "
                         f"chain, shape {tuple(net.e_leak_mV.shape)}")
    nrn, noise, n = net.neuron, net.noise, net.n
    e_leak = net.e_leak_mV.detach().cpu().double().numpy().tolist()
    params: dict = {pynn: float(getattr(nrn, ours)) for pynn, ours in _CELL_PARAMETERS}
    params["v_rest"] = e_leak
    sources = []
    for sign, rate, w in (("excitatory", noise.rate_exc_hz, noise.w_exc_uS),
                          ("inhibitory", noise.rate_inh_hz, noise.w_inh_uS)):
        if rate > 0 and w > 0:
            sources.append({
                "label": f"background_{sign[:3]}", "model": "SpikeSourcePoisson", "size": n,
                "parameters": {"rate": float(rate)}, "connector": "OneToOneConnector",
                "receptor_type": sign,
                "synapse": {"model": "StaticSynapse", "weight": float(w), "delay": dt_ms}})
    w = net.weights_uS.detach().cpu().double().numpy() * net.synapse.weight_scale
    syn = synapse_description(net.synapse, nrn, dt_ms)
    projections = []
    for sign, mask in (("excitatory", w > 0), ("inhibitory", w < 0)):
        pre, post = np.nonzero(mask)
        if pre.size == 0:
            continue
        projections.append({
            "label": f"recurrent_{sign[:3]}", "pre": "neurons", "post": "neurons",
            "receptor_type": sign, "synapse": dict(syn), "connector": "FromListConnector",
            "columns": ["pre", "post", "weight", "delay"],
            "connections": [[int(i), int(j), float(abs(w[i, j])), dt_ms]
                            for i, j in zip(pre, post, strict=True)]})
    return {"format": FORMAT, "version": VERSION, "units": dict(UNITS), "timestep_ms": dt_ms,
            "neurons": {"label": "neurons", "model": NEURON_MODEL, "size": n,
                        "parameters": params, "initial_values": {"v": list(e_leak)}},
            "sources": sources, "projections": projections,
            "lifsampling": {"neuron": nrn.to_dict(), "noise": noise.to_dict(),
                            "synapse": net.synapse.to_dict(),
                            "state": "z_k = 1 for tau_refrac after each spike of neuron k"}}


def check_description(desc: dict) -> None:
    """Raise ``ValueError`` saying what is wrong if ``desc`` is not a description of this format."""
    if not isinstance(desc, dict) or desc.get("format") != FORMAT:
        raise ValueError(f"not a network description (format must be {FORMAT!r})")
    if desc.get("version") != VERSION:
        raise ValueError(f"unsupported description version {desc.get('version')!r} "
                         f"(this library reads version {VERSION})")
    for key in ("timestep_ms", "neurons", "sources", "projections"):
        if key not in desc:
            raise ValueError(f"network description lacks {key!r}")
    neurons = desc["neurons"]
    if neurons.get("model") != NEURON_MODEL:
        raise ValueError(f"neurons must be {NEURON_MODEL}, got {neurons.get('model')!r}")
    n = neurons.get("size")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"neurons.size must be a positive integer, got {n!r}")
    for proj in desc["projections"]:
        for row in proj.get("connections", []):
            if not (0 <= row[0] < n and 0 <= row[1] < n and row[2] >= 0 and row[3] > 0):
                raise ValueError(f"bad connection {row} in {proj.get('label')!r}: indices in "
                                 f"[0, {n}), weight >= 0 µS, delay > 0 ms")


def network_from_description(desc: dict) -> Network:
    """The :class:`~lifsampling.engine.Network` a description was made from (inverse of
    :func:`describe` for exported networks)."""
    check_description(desc)
    meta = desc.get("lifsampling")
    if not isinstance(meta, dict):
        raise ValueError("the description does not carry the lifsampling parameters")
    neuron = NeuronParams(**meta["neuron"])
    noise = NoiseParams(**meta["noise"])
    synapse = SynapseParams(**meta["synapse"])
    n = desc["neurons"]["size"]
    w = torch.zeros(n, n, dtype=torch.float64)
    for proj in desc["projections"]:
        sign = 1.0 if proj["receptor_type"] == "excitatory" else -1.0
        for i, j, weight, _ in proj["connections"]:
            w[i, j] = sign * weight / synapse.weight_scale
    e_leak = torch.as_tensor(desc["neurons"]["parameters"]["v_rest"], dtype=torch.float64)
    return Network(weights_uS=w, e_leak_mV=e_leak, neuron=neuron, noise=noise, synapse=synapse)
