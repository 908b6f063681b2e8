"""The CUDA path (marked ``gpu``; skipped without CUDA): identical deterministic dynamics to the
CPU torch path in float64, the same statistics under Poisson background, and a small Boltzmann
machine sampled on the GPU within the finite-sample bound of exact enumeration."""

from __future__ import annotations

import math

import pytest
import torch

from lifsampling.boltzmann import exact_distribution
from lifsampling.engine import Network, Record, simulate
from lifsampling.mapping import bm_to_network
from lifsampling.metrics import kl_divergence
from lifsampling.params import NoiseParams, SynapseParams

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
F64 = torch.float64
SILENT = NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0)


def _tonic_net(syn: SynapseParams) -> Network:
    """Five neurons driven above threshold by their leak (no noise), coupled both ways."""
    g = torch.Generator().manual_seed(3)
    w = 0.02 * (torch.rand(5, 5, generator=g, dtype=F64) - 0.5)
    w.fill_diagonal_(0.0)
    return Network(weights_uS=w, e_leak_mV=torch.linspace(-49.9, -47.0, 5, dtype=F64),
                   noise=SILENT, synapse=syn)


@pytest.mark.parametrize("syn", [
    SynapseParams(),
    SynapseParams(kind="additive", weight_scale=0.7),
    SynapseParams(kind="tsodyks_markram", U=0.3, tau_rec_ms=50.0, weight_scale=2.0),
], ids=["renewing", "additive", "tsodyks_markram"])
def test_cuda_spikes_exactly_as_cpu_in_float64(syn):
    net = _tonic_net(syn)
    rec = Record(spikes=True, z_every_ms=1.0)
    a = simulate(net, 300.0, chains=3, dtype=F64, record=rec, device="cpu", backend="torch")
    b = simulate(net, 300.0, chains=3, dtype=F64, record=rec, device="cuda")
    assert a.spikes[0].numel() > 50
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert torch.equal(x, y.cpu())


def test_cuda_activation_matches_cpu_float32():
    """p(z=1) of unconnected neurons across the activation function: GPU (float32) and CPU
    kernel agree within 5 standard errors (~500 effective samples per neuron and device)."""
    net = Network(weights_uS=torch.zeros(6, 6), e_leak_mV=torch.linspace(-52.0, -49.0, 6),
                  noise=NoiseParams(rate_exc_hz=3000.0, rate_inh_hz=3000.0))
    a = simulate(net, 2500.0, chains=4, seed=2, device="cpu")
    b = simulate(net, 2500.0, chains=4, seed=2, device="cuda")
    diff = (a.on_fraction.mean(0) - b.on_fraction.mean(0).cpu()).abs().max().item()
    assert diff < 5 * math.sqrt(2 * 0.25 / 500)


def test_small_bm_on_cuda_against_exact():
    """A 3-unit BM, 64 chains x 2 s on the GPU: D_KL(p || p_LIF) below 0.05 (the plain sbs
    translation's documented plateau is ~0.01-0.02; the finite-sample floor 7/(2N) with
    N ~ 12,800 effective samples is 3e-4)."""
    from lifsampling.boltzmann import BoltzmannMachine
    from lifsampling.calibration import load_calibration

    W = torch.tensor([[0.0, 0.8, -0.5], [0.8, 0.0, 0.3], [-0.5, 0.3, 0.0]], dtype=F64)
    bm = BoltzmannMachine(W, torch.tensor([-0.4, 0.2, 0.1], dtype=F64))
    net = bm_to_network(bm.W, bm.b, load_calibration("sbs-tutorial"))
    res = simulate(net, 2000.0, chains=64, burn_in_ms=200.0, seed=0, device="cuda",
                   record=Record(joint_states=True))
    assert kl_divergence(exact_distribution(bm), res.joint_distribution().cpu()) < 0.05


def test_cuda_plasticity_and_backend_option():
    """The plasticity slot on CUDA: the deterministic plastic network of the equivalence matrix
    gives the CPU torch path's spikes and learned weights in float64; the kernel refuses CUDA
    with its reason and ``"auto"`` takes the torch path there."""
    from test_engine_equivalence import SYNAPSES, _rule, _tonic_net

    net = _tonic_net(SYNAPSES["tsodyks_markram"], 3, F64)
    kw = dict(chains=3, dtype=F64, record=Record(spikes=True), backend="torch")
    a = simulate(net, 100.0, device="cpu", plasticity=_rule(3), **kw)
    b = simulate(net, 100.0, device="cuda", plasticity=_rule(3), **kw)
    assert a.spikes[0].numel() > 45
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert torch.equal(x, y.cpu())
    assert torch.equal(a.plastic_weights_uS, b.plastic_weights_uS.cpu())
    with pytest.raises(ValueError, match="CPU only"):
        simulate(net, 1.0, device="cuda", backend="kernel")
    auto = simulate(net, 100.0, chains=3, dtype=F64, record=Record(spikes=True), device="cuda")
    static = simulate(net, 100.0, chains=3, dtype=F64, record=Record(spikes=True),
                      device="cpu", backend="kernel")
    for x, y in zip(static.spikes, auto.spikes, strict=True):
        assert torch.equal(x, y.cpu())
