"""The compiled CPU kernel against the torch path: identical deterministic dynamics, the same
statistics under Poisson background, reproducible whatever the thread count."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch

from lifsampling.engine import Network, Record, simulate
from lifsampling.engine.cpu_kernel import background_counts
from lifsampling.params import NoiseParams, SinusoidalRate, SynapseParams

F64 = torch.float64
SILENT = NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0)


def _tonic_net(syn: SynapseParams, chains_leak: bool = False) -> Network:
    """Five neurons driven above threshold by their leak (no noise): a deterministic network
    whose spikes depend on the recurrent synapses, excitatory and inhibitory."""
    g = torch.Generator().manual_seed(3)
    w = 0.02 * (torch.rand(5, 5, generator=g, dtype=F64) - 0.5)
    w.fill_diagonal_(0.0)
    leak = torch.linspace(-49.9, -47.0, 5, dtype=F64)
    if chains_leak:
        leak = leak + torch.tensor([[0.0], [0.7]], dtype=F64)
    return Network(weights_uS=w, e_leak_mV=leak, noise=SILENT, synapse=syn)


@pytest.mark.parametrize("syn", [
    SynapseParams(),
    SynapseParams(kind="additive", weight_scale=0.7),
    SynapseParams(kind="tsodyks_markram", U=0.3, tau_rec_ms=50.0, tau_fac_ms=20.0,
                  weight_scale=2.0),
], ids=["renewing", "additive", "tsodyks_markram"])
def test_deterministic_network_spikes_exactly_as_torch_path(syn):
    net = _tonic_net(syn, chains_leak=True)
    rec = Record(spikes=True, z_every_ms=1.0)
    a = simulate(net, 300.0, chains=2, burn_in_ms=5.0, dtype=F64, record=rec, backend="torch")
    b = simulate(net, 300.0, chains=2, burn_in_ms=5.0, dtype=F64, record=rec, backend="kernel")
    assert a.spikes[0].numel() > 50  # the recurrent synapses matter: many spikes
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert torch.equal(x, y)
    assert torch.equal(a.z_samples, b.z_samples)
    assert torch.allclose(a.on_fraction, b.on_fraction)


def test_leak_schedule_gives_the_same_spikes_as_torch_path():
    """A schedule that silences chain 1 between 100 and 150 ms and shifts all leaks after it."""
    net = _tonic_net(SynapseParams(), chains_leak=True)
    base = net.e_leak_mV.float()
    quiet = base - torch.tensor([[0.0], [5.0]])

    def schedule(t_ms: float) -> torch.Tensor:
        if t_ms < 100.0:
            return base
        return quiet if t_ms < 150.0 else base + 0.5

    rec = Record(spikes=True)
    a, b = (simulate(net, 250.0, chains=2, dtype=F64, record=rec, e_leak_schedule=schedule,
                     backend=be) for be in ("torch", "kernel"))
    late = (a.spikes[0] >= 1000) & (a.spikes[0] < 1500) & (a.spikes[1] == 1)
    assert a.spikes[0].numel() > 50 and not late.any()
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert torch.equal(x, y)


def test_leak_shift_changing_every_step_matches_torch_path():
    """A tempering-like schedule (all leaks shifted by a common amount that changes every step)
    runs as one kernel call per block and gives the torch path's spikes."""
    net = _tonic_net(SynapseParams(), chains_leak=True)
    base = net.e_leak_mV

    def schedule(t_ms: float) -> torch.Tensor:
        return base + 1.5 * math.sin(2 * math.pi * t_ms / 40.0)

    rec = Record(spikes=True)
    a, b = (simulate(net, 200.0, chains=2, dtype=F64, record=rec, e_leak_schedule=schedule,
                     backend=be) for be in ("torch", "kernel"))
    assert a.spikes[0].numel() > 50
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert torch.equal(x, y)


def test_background_counts_are_poisson_and_independent():
    """Counts of the kernel's random stream: mean, variance and P(n) of Poisson(nu dt) for a
    low (0.3) and a high (2.0, exercising the counts beyond 3) mean; exc and inh uncorrelated."""
    for lam in (0.3, 2.0):
        e, i = background_counts(seed=4, chains=4, steps=500, n=100, mean_exc=lam,
                                 mean_inh=0.1)
        n = e.size
        assert abs(e.mean() - lam) < 5 * math.sqrt(lam / n)
        assert abs(e.var() - lam) < 5 * math.sqrt((2 * lam**2 + lam) / n)
        for k in (0, 1, 3, 5):
            pk = lam**k * math.exp(-lam) / math.factorial(k)
            assert abs((e == k).mean() - pk) < 5 * math.sqrt(pk / n) + 1e-9
        assert abs(i.mean() - 0.1) < 5 * math.sqrt(0.1 / n)
        assert abs(np.corrcoef(e.ravel(), i.ravel())[0, 1]) < 5 / math.sqrt(n)


@pytest.mark.parametrize("noise", [
    NoiseParams(rate_exc_hz=3000.0, rate_inh_hz=3000.0),
    NoiseParams(rate_exc_hz=20000.0, rate_inh_hz=20000.0, w_exc_uS=0.0003, w_inh_uS=0.0003),
    NoiseParams(rate_exc_hz=SinusoidalRate(3000.0, 2000.0, 10.0),
                rate_inh_hz=SinusoidalRate(3000.0, 2000.0, 10.0)),
], ids=["3kHz", "20kHz", "sinusoidal"])
def test_activation_matches_torch_path(noise):
    """p(z=1) of six unconnected neurons across the activation function: kernel and torch
    agree within 5 standard errors (~500 effective samples per neuron and backend)."""
    net = Network(weights_uS=torch.zeros(6, 6), e_leak_mV=torch.linspace(-52.0, -49.0, 6),
                  noise=noise)
    a = simulate(net, 2500.0, chains=4, seed=2, backend="torch")
    b = simulate(net, 2500.0, chains=4, seed=2, backend="kernel")
    pa, pb = a.on_fraction.mean(0), b.on_fraction.mean(0)
    assert pb.min() < 0.3 and pb.max() > 0.7  # the sweep spans the activation function
    assert (pa - pb).abs().max().item() < 5 * math.sqrt(2 * 0.25 / 500)


def test_reproducible_for_a_seed_whatever_the_threads():
    net = _tonic_net(SynapseParams())
    net = Network(net.weights_uS, net.e_leak_mV - 2.0)  # Poisson-driven
    rec = Record(spikes=True)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = simulate(net, 200.0, chains=3, seed=9, record=rec, backend="kernel")
        numba.set_num_threads(before)
        b = simulate(net, 200.0, chains=3, seed=9, record=rec, backend="kernel")
    finally:
        numba.set_num_threads(before)
    c = simulate(net, 200.0, chains=3, seed=10, record=rec, backend="kernel")
    assert all(torch.equal(x, y) for x, y in zip(a.spikes, b.spikes, strict=True))
    assert not torch.equal(a.spike_counts, c.spike_counts)
    assert not torch.equal(a.spike_counts[0], a.spike_counts[1])


def test_joint_states_count_every_step_and_agree_with_z():
    net = Network(weights_uS=torch.zeros(3, 3), e_leak_mV=torch.tensor([-51.0, -50.5, -50.0]))
    r = simulate(net, 500.0, chains=2, record=Record(joint_states=True, z_every_ms=0.1),
                 backend="kernel")
    assert r.joint_counts.sum(1).tolist() == [5000, 5000]
    z = r.z_samples.long()
    idx = (z * torch.tensor([4, 2, 1])).sum(-1)  # (steps, chains)
    for b in range(2):
        assert torch.equal(torch.bincount(idx[:, b], minlength=8), r.joint_counts[b])


def test_kernel_refuses_what_it_cannot_record():
    net = Network(weights_uS=torch.zeros(2, 2), e_leak_mV=torch.tensor([-50.0, -50.0]))
    with pytest.raises(ValueError, match="traces"):
        simulate(net, 1.0, record=Record(trace_neurons=(0,)), backend="kernel")
    with pytest.raises(ValueError, match="backend"):
        simulate(net, 1.0, backend="numpy")
    # auto falls back to torch for traces
    r = simulate(net, 1.0, record=Record(trace_neurons=(0,)), backend="auto")
    assert r.traces["v"].shape == (10, 1, 1)


def test_one_compiled_signature_for_all_run_shapes():
    """Chain counts, recordings, schedules and time-varying rates reuse one compiled kernel per
    dtype (a second signature would recompile for seconds in the middle of a user's run)."""
    from lifsampling.engine import cpu_kernel

    net = _tonic_net(SynapseParams())
    rate = SinusoidalRate(3000.0, 1000.0, 5.0)
    varying = Network(net.weights_uS, net.e_leak_mV, noise=NoiseParams(rate, rate))
    simulate(net, 5.0, chains=1, backend="kernel")
    simulate(net, 5.0, chains=3, record=Record(spikes=True, z_every_ms=1.0), backend="kernel")
    simulate(varying, 5.0, chains=2, e_leak_schedule=lambda t: net.e_leak_mV + 0.1 * (t > 2),
             backend="kernel")
    float32 = [sig for sig in cpu_kernel.run_block.signatures if sig[0].dtype.name == "float32"]
    assert len(float32) == 1
