"""Correlated Poisson input (multiple-interaction process) on both backends: the sources keep
their rates and two full-rate sources have spike-count correlation c."""

import math

import numpy as np
import pytest
import torch

from lifsampling.engine import Network, PoissonInput, simulate
from lifsampling.engine.monitors import Record
from lifsampling.params import MNIST_NEURON, NoiseParams, SynapseParams

_N_IN, _RATE, _T_MS = 40, 60.0, 4000.0


def _input_spike_counts(correlation: float, backend: str, bins_ms: float = 10.0):
    """The sources' spikes, read from one neuron per source that fires once for every input
    spike: a huge excitatory jump with a synaptic time constant far below dt (the conductance
    is gone after the step it acts in) and a refractory time below dt."""
    from dataclasses import replace

    neuron = replace(MNIST_NEURON, tau_ref_ms=0.5, tau_syn_exc_ms=0.05)
    net = Network(weights_uS=torch.zeros(_N_IN, _N_IN),
                  e_leak_mV=torch.full((_N_IN,), neuron.e_leak_mV), neuron=neuron,
                  noise=NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0),
                  synapse=SynapseParams(kind="additive"))
    rates = torch.full((_N_IN,), _RATE)
    rates[_N_IN // 2:] = _RATE / 2  # half the sources at half the rate
    inp = PoissonInput(rates, torch.eye(_N_IN) * 50.0, correlation=correlation)
    res = simulate(net, _T_MS, chains=1, dt_ms=1.0, seed=3, device="cpu", input=inp,
                   backend=backend, dtype=torch.float64, record=Record(spikes=True))
    return res


@pytest.mark.parametrize("backend", ["torch", "kernel"])
@pytest.mark.parametrize("c", [0.0, 0.2, 0.4])
def test_mip_input_keeps_rates_and_sets_the_correlation(backend, c):
    res = _input_spike_counts(c, backend)
    counts = res.spike_counts[0].double().numpy()
    # each source is Bernoulli(p) per step, iid over steps, whatever c; its read-out neuron
    # fires one step after an input spike unless it fired in that step (one step of dead
    # time), so it fires with probability p / (1 + p) per step
    p = np.r_[np.full(_N_IN // 2, _RATE), np.full(_N_IN // 2, _RATE / 2)] * 1e-3
    expected = p / (1 + p) * _T_MS
    # pooled counts within 5 s.e. (var <= mean per source; correlated sources summed)
    for half in (slice(0, _N_IN // 2), slice(_N_IN // 2, None)):
        n_src = _N_IN // 2
        mean = expected[half].sum()
        var = mean * (1 + (n_src - 1) * max(c, 1e-3))  # upper bound with correlation c
        assert abs(counts[half].sum() - mean) < 5 * math.sqrt(var)
    steps, _, ids = (t.numpy() for t in res.spikes)
    n_bins = int(_T_MS // 10)
    x = np.zeros((n_bins, _N_IN))
    np.add.at(x, (np.minimum(steps // 10, n_bins - 1), ids), 1.0)
    x = x[:, :_N_IN // 2]  # 10 ms bins of the full-rate sources
    cc = np.corrcoef(x.T)[np.triu_indices(_N_IN // 2, 1)].mean()
    # the sources' correlation is c; the read-out's dead time (it misses an input spike in the
    # step after its own) removes a fraction p = 0.06 of the spikes, biased towards coincident
    # ones: allow that bias (at most 2p c relative) plus 3 s.e. of the mean over 190 pairs of
    # 400 bins (s.e. of one pair's r ~ 1/sqrt(400) = 0.05; the pairs are not independent)
    assert c * (1 - 2 * 0.06) - 0.03 < cc < c + 0.03, cc


def test_correlation_outside_zero_one_is_refused():
    inp = PoissonInput(torch.full((4,), 20.0), torch.zeros(4, 2), correlation=1.5)
    net = Network(weights_uS=torch.zeros(2, 2), e_leak_mV=torch.full((2,), -70.0),
                  neuron=MNIST_NEURON, noise=NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0))
    for backend in ("torch", "kernel"):
        with pytest.raises(ValueError, match="correlation"):
            simulate(net, 10.0, dt_ms=1.0, input=inp, device="cpu", backend=backend)


@pytest.mark.parametrize("backend", ["torch", "kernel"])
@pytest.mark.parametrize("c", [0.0, 0.4])
def test_input_spike_counts_are_returned_at_the_asked_rate(backend, c):
    """``result.input_spike_counts`` (B, N_in), after the burn-in: 8 chains x 40 sources at
    50 Hz for 2 s = 32,000 expected spikes; within 5 s.e. (Bernoulli per step; with MIP the
    chain's 40 sources are correlated, so var <= mean (1 + 39 c) per chain)."""
    net = Network(weights_uS=torch.zeros(1, 1), e_leak_mV=torch.full((1,), -70.0),
                  neuron=MNIST_NEURON, noise=NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0))
    inp = PoissonInput(torch.full((40,), 50.0), torch.zeros(40, 1), correlation=c)
    res = simulate(net, 2000.0, chains=8, dt_ms=1.0, burn_in_ms=100.0, seed=1, device="cpu",
                   input=inp, backend=backend)
    counts = res.input_spike_counts
    assert counts.shape == (8, 40)
    mean = 8 * 40 * 50.0 * 2.0
    sd = math.sqrt(mean * (1 - 0.05) * (1 + 39 * c))
    assert abs(float(counts.sum()) - mean) < 5 * sd
