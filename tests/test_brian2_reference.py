"""Dynamics against Brian2, an independent simulator (optional test extra ``brian2``).

Brian2 integrates the same conductance-based LIF equations with its own code generation
(numpy target, exponential Euler); its schedule applies an input that arrives at clock time t
after the state update of step t, so it moves v from t + dt on, exactly as an input added at the
end of our step [t, t + dt]. The refractory convention is explained in
:mod:`lifsampling.reference.brian2_model`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lifsampling.engine import Network, initial_state, lif_step, make_constants, simulate
from lifsampling.params import NeuronParams, NoiseParams, SynapseParams
from lifsampling.reference.brian2_model import neuron_group

b2 = pytest.importorskip("brian2")
pytestmark = pytest.mark.brian2

DT = 0.1
NEURON = NeuronParams(cm_nF=0.2, tau_m_ms=1.0, e_leak_mV=-65.0, v_thresh_mV=-50.0,
                      v_reset_mV=-50.01, tau_ref_ms=10.0)


def test_traces_with_fixed_inputs_and_recurrence_match_brian2():
    """3 neurons, fixed input spikes (exc and inh), additive recurrent synapses 0 -> 1 -> 2:
    membrane traces agree within 0.1 mV and spike times are identical."""
    n = 3
    e_leak = [-65.0, -60.0, -55.0]
    inputs = [(0, 2.0, 0.03, "ge"), (0, 2.5, 0.03, "ge"), (0, 3.0, 0.04, "ge"),
              (1, 6.0, 0.02, "ge"), (2, 9.0, 0.05, "gi"), (0, 31.0, 0.06, "ge"),
              (1, 31.5, 0.01, "gi"), (2, 40.0, 0.02, "ge")]
    w_rec = np.zeros((n, n))
    w_rec[0, 1], w_rec[1, 2] = 0.02, 0.03  # µS
    steps = 600

    g = neuron_group(n, NEURON, e_leak)
    times = [t for _, t, *_ in inputs] * b2.ms
    src = b2.SpikeGeneratorGroup(len(inputs), np.arange(len(inputs)), times)
    for k, (i, _t, w, var) in enumerate(inputs):
        s = b2.Synapses(src, g, on_pre=f"{var} += {w}*uS")
        s.connect(i=k, j=i)
        s.delay = 0 * b2.ms
        g.contained_objects.append(s)
    rec = b2.Synapses(g, g, "w : siemens", on_pre="ge += w")
    rec.connect(i=[0, 1], j=[1, 2])
    rec.w = [0.02, 0.03] * b2.uS
    rec.delay = DT * b2.ms
    mon = b2.StateMonitor(g, "v", record=True)
    spk = b2.SpikeMonitor(g)
    net = b2.Network(g, src, rec, mon, spk, *g.contained_objects)
    net.run(steps * DT * b2.ms)
    v_b2 = mon.v[:, 1:] / b2.mV  # v at t = (k+1) dt, after our step k
    b2_spikes = sorted((int(i), round(float(t / b2.ms), 1))
                       for i, t in zip(spk.i, spk.t, strict=True))

    c = make_constants(NEURON, torch.tensor(e_leak, dtype=torch.float64), DT)
    st = initial_state(1, n, c, dtype=torch.float64)
    exc = np.zeros((steps + 1, n))
    inh = np.zeros((steps + 1, n))
    for i, t, w, var in inputs:
        (exc if var == "ge" else inh)[round(t / DT), i] += w
    pending = np.zeros(n)
    v_ours, our_spikes = [], []
    for k in range(steps):
        e = torch.tensor(exc[k] + pending)[None]
        st, spikes, _ = lif_step(st, c, e, torch.tensor(inh[k])[None])
        # recurrent: a spike emitted in step k arrives one step later (delay dt)
        pending = spikes[0].double().numpy() @ w_rec
        v_ours.append(st.v[0].numpy().copy())
        our_spikes += [(int(i), round((k + 1) * DT, 1)) for i in np.nonzero(spikes[0].numpy())[0]]
    v_ours = np.array(v_ours).T
    # Brian2 stamps a spike with the clock time of its step's start
    b2_spikes = sorted((i, round(t + DT, 1)) for i, t in b2_spikes)
    assert our_spikes and sorted(our_spikes) == b2_spikes
    assert np.abs(v_ours[:, :steps - 1] - v_b2[:, :steps - 1]).max() < 0.1


E_LEAK_40 = np.linspace(-52.0, -49.0, 40)
RATE_DUR_MS, RATE_BURN_MS = 3000.0, 100.0


@pytest.fixture(scope="module")
def brian2_rates() -> np.ndarray:
    """Brian2's mean rates (Hz) of 40 sbs neurons (2 copies each) under 3 kHz background."""
    g = neuron_group(80, NeuronParams(), np.tile(E_LEAK_40, 2))
    pe = b2.PoissonInput(g, "ge", 1, 3000 * b2.Hz, weight=1 * b2.nS)
    pi = b2.PoissonInput(g, "gi", 1, 3000 * b2.Hz, weight=1 * b2.nS)
    net = b2.Network(g, pe, pi)
    net.run(RATE_BURN_MS * b2.ms)
    spk = b2.SpikeMonitor(g)
    net.add(spk)
    net.run(RATE_DUR_MS * b2.ms)
    counts = np.bincount(np.asarray(spk.i), minlength=80).reshape(2, 40)
    return counts.mean(0) / (RATE_DUR_MS * 1e-3)


@pytest.mark.parametrize("backend", ["torch", "kernel"])
def test_poisson_background_rates_match_brian2(brian2_rates, backend):
    """40 neurons on the slope of the activation function under 3 kHz background: mean rates of
    both simulators agree within 4 combined standard errors (spread across neurons), for both
    of our backends."""
    ours = simulate(Network(torch.zeros(40, 40), torch.tensor(E_LEAK_40), neuron=NeuronParams(),
                            noise=NoiseParams(), synapse=SynapseParams()),
                    RATE_DUR_MS, chains=2, burn_in_ms=RATE_BURN_MS, seed=3, backend=backend)
    r_ours = ours.rates_hz.mean(0).numpy()
    diff = r_ours - brian2_rates
    se = diff.std(ddof=1) / math.sqrt(diff.size)
    assert brian2_rates.mean() > 20.0  # the neurons really fire
    assert abs(diff.mean()) < 4 * se + 0.5
    # and the activation curves agree point-wise within a generous per-neuron band
    assert np.abs(diff).max() < 15.0
