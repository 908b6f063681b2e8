"""Continuing a simulation from its full state (``result.final_state`` ->
``simulate(..., initial_state=)``), on the torch path and the kernel.

Deterministic networks (no Poisson noise, leaks above threshold): T1 then T2 spikes exactly as
one run of T1 + T2; a hand-made state's refractory clocks hold each neuron for exactly its
count of steps; the spikes in flight land through the continuing network's weights. With
Poisson noise: a continued run fires at the rates of a fresh run with a long burn-in.
"""

from __future__ import annotations

import math

import pytest
import torch
from _synapse_cases import SILENT, SYNAPSES

from lifsampling.engine import Network, Record, SimulationState, simulate
from lifsampling.params import MNIST_NEURON, NoiseParams, SynapseParams
from lifsampling.plasticity import BiCaLL, BiCaLLParams, PlasticProjection

F64 = torch.float64
DT = 0.1
BACKENDS = ("torch", "kernel")
N_REF = round(MNIST_NEURON.tau_ref_ms / DT)


def _tonic_net(syn: SynapseParams, chains: int, noise: NoiseParams = SILENT,
               scale: float = 0.004) -> Network:
    """Six coupled neurons; without noise driven above threshold by their leaks (one set of
    leaks per chain, so the chains differ)."""
    g = torch.Generator().manual_seed(3)
    w = scale * (torch.rand(6, 6, generator=g, dtype=F64) - 0.5)
    w.fill_diagonal_(0.0)
    leak = torch.linspace(-53.0, -47.0, 6, dtype=F64) + 0.5 * torch.arange(
        chains, dtype=F64).unsqueeze(1)
    return Network(weights_uS=w, e_leak_mV=leak, neuron=MNIST_NEURON, noise=noise,
                   synapse=syn)


def _spike_set(res, offset: int = 0) -> set[tuple[int, int, int]]:
    return {(s + offset, c, i) for s, c, i in zip(*(x.tolist() for x in res.spikes),
                                                   strict=True)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("syn", list(SYNAPSES))
def test_continued_run_spikes_as_the_uninterrupted_one(backend, syn):
    """simulate(T1) + simulate(T2, initial_state=) == simulate(T1 + T2): the same spike
    (step, chain, neuron) triples, and the same final state (float64), for every synapse
    kind; T1 ends mid-way through refractory periods and STP recovery."""
    net = _tonic_net(SYNAPSES[syn], chains=3)
    kw = dict(chains=3, dtype=F64, record=Record(spikes=True), backend=backend, dt_ms=DT)
    full = simulate(net, 120.0, burn_in_ms=5.0, **kw)
    first = simulate(net, 43.7, burn_in_ms=5.0, **kw)
    rest = simulate(net, 76.3, initial_state=first.final_state, **kw)
    assert len(_spike_set(full)) > 60
    assert _spike_set(full) == _spike_set(first) | _spike_set(rest, offset=437)
    assert rest.final_state.step == full.final_state.step == 1250
    for name in ("v_mV", "g_exc_uS", "g_inh_uS", "stp_resources", "stp_utilisation",
                 "efficacy"):
        torch.testing.assert_close(getattr(rest.final_state, name),
                                   getattr(full.final_state, name), rtol=0, atol=1e-12)
    assert torch.equal(rest.final_state.refrac_steps, full.final_state.refrac_steps)
    # the state at the split is not the default start: a fresh 76.3 ms run spikes otherwise
    fresh = simulate(net, 76.3, **kw)
    assert _spike_set(fresh) != _spike_set(rest)


def test_kernel_continues_its_random_stream():
    """With Poisson background the kernel's counter-based stream goes on from the state's
    clock: continued with the same seed is the uninterrupted run, spike for spike; the torch
    path seeds a new stream from (seed, clock), so it does not replay the first run."""
    net = _tonic_net(SYNAPSES["tsodyks_markram"], chains=3, noise=NoiseParams())
    net = Network(net.weights_uS, torch.full((6,), -52.0, dtype=F64), net.neuron, net.noise,
                  net.synapse)
    kw = dict(chains=3, dtype=F64, record=Record(spikes=True), seed=4, dt_ms=DT)
    full = simulate(net, 100.0, backend="kernel", **kw)
    first = simulate(net, 30.0, backend="kernel", **kw)
    rest = simulate(net, 70.0, backend="kernel", initial_state=first.final_state, **kw)
    assert len(_spike_set(full)) > 100
    assert _spike_set(full) == _spike_set(first) | _spike_set(rest, offset=300)
    a = simulate(net, 30.0, backend="torch", **kw)
    b = simulate(net, 30.0, backend="torch", initial_state=a.final_state, **kw)
    assert _spike_set(a) != _spike_set(b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refractory_clocks_of_a_given_state_hold_for_their_steps(backend):
    """Four isolated identical tonic neurons at V_reset with countdowns 0, 7, 37 and n_ref:
    neuron i is z = 1 for exactly r_i - 1 steps, then free, and first spikes r_i steps after
    the free neuron (whose first spike from V_reset comes from an independent fresh run
    started at v0 = V_reset)."""
    n = 4
    leak = torch.full((n,), -45.0, dtype=F64)
    net = Network(torch.zeros(n, n, dtype=F64), leak, MNIST_NEURON, SILENT, SynapseParams())
    refrac = torch.tensor([[0, 7, 37, N_REF]], dtype=torch.int32)
    zeros = torch.zeros(1, n, dtype=F64)
    state = SimulationState(torch.full((1, n), MNIST_NEURON.v_reset_mV, dtype=F64), zeros,
                            zeros.clone(), refrac, torch.ones(1, n, dtype=F64),
                            torch.ones(1, n, dtype=F64), zeros.clone(), 5000, DT)
    kw = dict(dtype=F64, backend=backend, dt_ms=DT, record=Record(spikes=True, z_every_ms=DT))
    res = simulate(net, 60.0, initial_state=state, **kw)
    fresh = simulate(net, 60.0, v0_mV=MNIST_NEURON.v_reset_mV, **kw)
    m0 = int(fresh.spikes[0][fresh.spikes[2] == 0].min())
    assert m0 > 0
    z = res.z_samples[:, 0, :]  # (steps, N)
    for i, r in enumerate(refrac[0].tolist()):
        first_spike = int(res.spikes[0][res.spikes[2] == i].min())
        assert first_spike == r + m0
        on = z[:first_spike, i]
        assert int(on.sum()) == max(r - 1, 0) and bool(on[: max(r - 1, 0)].all())
    assert res.final_state.step == 5000 + 600


@pytest.mark.parametrize("backend", BACKENDS)
def test_spikes_in_flight_land_through_the_new_weights(backend):
    """Neuron 0 spiked in the last step of the first run (countdown n_ref, efficacy e): the
    continuing network's weight w' to neuron 1 gives g_exc = g0 exp(-dt/tau_syn) + e w' at
    the end of its first step, whatever the first run's weight was."""
    syn = SynapseParams()
    leak = torch.tensor([-40.0, -65.0], dtype=F64)
    w_old = torch.tensor([[0.0, 0.001], [0.0, 0.0]], dtype=F64)
    w_new = torch.tensor([[0.0, 0.003], [0.0, 0.0]], dtype=F64)
    net_old = Network(w_old, leak, MNIST_NEURON, SILENT, syn)
    kw = dict(dtype=F64, backend=backend, dt_ms=DT, record=Record(spikes=True))
    first = simulate(net_old, 100.0, **kw)
    # stop the first run on one of neuron 0's spikes
    last = int(first.spikes[0][first.spikes[2] == 0].max())
    first = simulate(net_old, (last + 1) * DT, **kw)
    st = first.final_state
    assert int(st.refrac_steps[0, 0]) == N_REF and float(st.efficacy[0, 0]) > 0.3
    net_new = Network(w_new, leak, MNIST_NEURON, SILENT, syn)
    one = simulate(net_new, DT, initial_state=st, **kw).final_state
    decay = math.exp(-DT / MNIST_NEURON.tau_syn_exc_ms)
    want = float(st.g_exc_uS[0, 1]) * decay + float(st.efficacy[0, 0]) * 0.003
    assert float(one.g_exc_uS[0, 1]) == pytest.approx(want, rel=1e-12, abs=1e-15)
    assert float(st.g_exc_uS[0, 1]) > 0  # the old weights had acted before


@pytest.mark.parametrize("backend", BACKENDS)
def test_continued_rates_match_a_fresh_run_with_long_burn_in(backend):
    """Poisson background, 16 chains of 6 coupled neurons near threshold: 1 s after a 300 ms
    run, continued with another seed, against a fresh run with a 300 ms burn-in: per-neuron
    rates within 5 standard errors (chain-to-chain spread of both runs)."""
    syn = SYNAPSES["tsodyks_markram"]
    base = _tonic_net(syn, chains=1, noise=NoiseParams(), scale=0.02)
    net = Network(base.weights_uS, torch.full((6,), -52.0, dtype=F64), base.neuron,
                  base.noise, syn)
    b = 16
    kw = dict(chains=b, dtype=F64, backend=backend, dt_ms=DT)
    pre = simulate(net, 300.0, seed=1, **kw)
    cont = simulate(net, 1000.0, seed=2, initial_state=pre.final_state, **kw)
    fresh = simulate(net, 1000.0, seed=3, burn_in_ms=300.0, **kw)
    ra, rb = cont.rates_hz, fresh.rates_hz  # (B, N)
    se = torch.sqrt(ra.var(0) / b + rb.var(0) / b)
    assert float(ra.mean()) > 5.0
    assert bool(((ra.mean(0) - rb.mean(0)).abs() < 5 * se).all())


def test_mismatched_states_are_refused():
    net = _tonic_net(SynapseParams(), chains=2)
    st = simulate(net, 5.0, chains=2, dtype=F64, dt_ms=DT).final_state
    with pytest.raises(ValueError, match=r"chains, N\) = \(3, 6\)"):
        simulate(net, 5.0, chains=3, initial_state=st)
    other = Network(torch.zeros(4, 4, dtype=F64), torch.full((4,), -50.0, dtype=F64))
    with pytest.raises(ValueError, match=r"shape \(2, 6\).*\(2, 4\)"):
        simulate(other, 5.0, chains=2, initial_state=st)
    with pytest.raises(ValueError, match="dt_ms"):
        simulate(net, 5.0, chains=2, dt_ms=0.05, initial_state=st)
    with pytest.raises(ValueError, match="v0_mV"):
        simulate(net, 5.0, chains=2, v0_mV=-60.0, initial_state=st)
    with pytest.raises(ValueError, match="SimulationState"):
        simulate(net, 5.0, chains=2, initial_state=tuple(st))
    bad = st._replace(stp_resources=st.stp_resources[:1])
    with pytest.raises(ValueError, match="stp_resources"):
        simulate(net, 5.0, chains=2, initial_state=bad)


def test_kernel_names_what_it_cannot_continue():
    """A recurrent plastic projection continued from a state runs on the torch path: the
    kernel says why, and ``auto`` falls back (and continues)."""
    net = _tonic_net(SynapseParams(), chains=2)
    st = simulate(net, 5.0, chains=2, dtype=F64, dt_ms=DT).final_state
    g = torch.Generator().manual_seed(5)
    rule = PlasticProjection(BiCaLL(BiCaLLParams()), 0.5 + 0.1 * torch.rand(2, 6, 6, generator=g,
                             dtype=F64), 0.002, pre="network")
    with pytest.raises(ValueError, match="initial_state with a recurrent plastic projection"):
        simulate(net, 5.0, chains=2, dtype=F64, initial_state=st, plasticity=rule,
                 backend="kernel")
    res = simulate(net, 5.0, chains=2, dtype=F64, initial_state=st, plasticity=rule)
    assert res.final_state.step == st.step + 50
