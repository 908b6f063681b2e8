"""The LIF neuron of :mod:`lifsampling.params` as a Brian2 ``NeuronGroup`` (needs ``brian2``).

Same equations as the engine (PyNN ``IF_cond_exp``), integrated by Brian2's own exponential
Euler. Brian2 stamps a spike with the start of its step and ends the refractory period tau_ref
after that stamp; NEST and this engine stamp it at the step's end and hold the membrane for
tau_ref after it, one step longer. The group therefore gets ``refractory = tau_ref + dt``,
which makes both hold the membrane for the same n_ref = tau_ref/dt steps.
"""

from __future__ import annotations

import numpy as np

from ..params import NeuronParams

EQUATIONS = """
dv/dt = (g_l*(E_l - v) + ge*(E_e - v) + gi*(E_i - v))/C : volt (unless refractory)
dge/dt = -ge/tau_e : siemens
dgi/dt = -gi/tau_i : siemens
E_l : volt
"""


def neuron_group(n: int, neuron: NeuronParams, e_leak_mV, v0_mV=None, *, dt_ms: float = 0.1,
                 target: str = "numpy"):
    """A fresh Brian2 scope with ``defaultclock.dt = dt_ms`` and a group of ``n`` neurons."""
    import brian2 as b2

    b2.prefs.codegen.target = target
    b2.start_scope()
    b2.defaultclock.dt = dt_ms * b2.ms
    ns = {"C": neuron.cm_nF * b2.nF, "g_l": neuron.g_leak_uS * b2.uS,
          "E_e": neuron.e_rev_exc_mV * b2.mV, "E_i": neuron.e_rev_inh_mV * b2.mV,
          "tau_e": neuron.tau_syn_exc_ms * b2.ms, "tau_i": neuron.tau_syn_inh_ms * b2.ms,
          "v_th": neuron.v_thresh_mV * b2.mV, "v_reset": neuron.v_reset_mV * b2.mV}
    g = b2.NeuronGroup(n, EQUATIONS, threshold="v >= v_th", reset="v = v_reset",
                       refractory=(neuron.tau_ref_ms + dt_ms) * b2.ms,
                       method="exponential_euler", namespace=ns)
    g.E_l = np.broadcast_to(np.asarray(e_leak_mV, dtype=float), (n,)) * b2.mV
    g.v = np.broadcast_to(np.asarray(e_leak_mV if v0_mV is None else v0_mV, dtype=float),
                          (n,)) * b2.mV
    return g
