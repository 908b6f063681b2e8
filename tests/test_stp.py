"""Tsodyks–Markram short-term plasticity: closed forms, NEST 3.10 reference, renormalisation,
and more mode switches in a two-mode Boltzmann machine."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from lifsampling.calibration import load_calibration
from lifsampling.engine import Record, simulate
from lifsampling.engine.synapses import (
    initial_stp_state,
    make_stp_constants,
    poisson_mean_efficacy,
    regular_train_efficacy,
    renewal_mean_efficacy,
    renormalised_stp,
    replay_efficacies,
    replay_mean_efficacy,
    stp_step,
)
from lifsampling.mapping import bm_to_network
from lifsampling.params import NeuronParams, SynapseParams

NEST_FILE = Path(__file__).resolve().parent / "fixtures" / "nest_reference.json"  # NEST 3.10
DT = 0.1


def run_train(syn: SynapseParams, spike_steps, n_steps: int, batch: int = 1,
              dt: float = DT) -> np.ndarray:
    """Efficacies (n_steps, batch) of the engine's ``stp_step`` for the given spike raster."""
    c = make_stp_constants(syn, NeuronParams(), dt)
    st = initial_stp_state(batch, 1, c, torch.device("cpu"), torch.float64)
    raster = torch.zeros(n_steps, batch, 1, dtype=torch.bool)
    raster[spike_steps] = True
    out = np.zeros((n_steps, batch))
    for k in range(n_steps):
        st, eff = stp_step(st, c, raster[k])
        out[k] = eff[:, 0].numpy()
    return out


@pytest.mark.parametrize("U,tau_rec,isi", [(0.01, 280.0, 10.0), (0.2, 100.0, 10.0),
                                           (0.5, 50.0, 3.0)])
def test_regular_train_matches_closed_form(U, tau_rec, isi):
    n = 40
    steps = [round(i * isi / DT) for i in range(n)]
    eff = run_train(SynapseParams("tsodyks_markram", U=U, tau_rec_ms=tau_rec), steps,
                    steps[-1] + 1)[steps, 0]
    np.testing.assert_allclose(eff, regular_train_efficacy(U, tau_rec, isi, n), rtol=1e-9)
    # the stationary value agrees with the renewal formula for constant intervals
    stationary = regular_train_efficacy(U, tau_rec, isi, 5000)[-1]
    assert stationary == pytest.approx(renewal_mean_efficacy(U, tau_rec, [isi]), rel=1e-9)


@pytest.mark.parametrize("key", ["U=0.01,tau_rec=280.0", "U=0.2,tau_rec=100.0",
                                 "U=1.0,tau_rec=10.0"])
def test_jumps_match_nest_tsodyks2(key):
    jumps = np.asarray(json.loads(NEST_FILE.read_text())["tsodyks2"]["jumps"][key])
    U = float(key.split(",")[0].split("=")[1])
    tau = float(key.split("=")[2])
    times = [10.0 * (i + 1) for i in range(30)] + [600.0]  # 10, 20, ..., 300 ms, then 600
    steps = [round(t / DT) for t in times]
    syn = SynapseParams("tsodyks_markram", U=U, tau_rec_ms=tau)
    eff = run_train(syn, steps, steps[-1] + 1)[steps, 0] * 1.0  # weight 1 nS
    np.testing.assert_allclose(eff, jumps, rtol=1e-9, atol=1e-12)
    replay = replay_efficacies(np.asarray(times), np.zeros(len(times), dtype=int), U, tau)
    np.testing.assert_allclose(replay, jumps, rtol=1e-9, atol=1e-12)
    if U == 1.0:  # the renewing synapse of the sampling networks is the same thing
        ren = run_train(SynapseParams("renewing"), steps, steps[-1] + 1)[steps, 0]
        np.testing.assert_allclose(ren, jumps, rtol=1e-9, atol=1e-12)


def test_replay_matches_engine_on_random_trains():
    g = torch.Generator().manual_seed(3)
    n_steps, batch = 5000, 6
    raster = torch.rand(n_steps, batch, generator=g) < 0.004
    syn = SynapseParams("tsodyks_markram", U=0.3, tau_rec_ms=120.0)
    eff = run_train(syn, raster.nonzero(as_tuple=True), n_steps, batch)
    k, b = raster.nonzero(as_tuple=True)
    replay = replay_efficacies(k.numpy() * DT, b.numpy(), 0.3, 120.0)
    np.testing.assert_allclose(replay, eff[k.numpy(), b.numpy()], rtol=1e-9)


def test_renormalised_mean_efficacy_equals_target():
    """Poisson trains (20 Hz): the renormalised synapse transmits on average exactly the weight;
    tolerance 4 standard errors of the mean over independent trains."""
    U, tau, rate, dt = 0.1, 280.0, 20.0, 0.5
    expected = poisson_mean_efficacy(U, tau, rate)
    syn = renormalised_stp(U, tau, expected)
    assert syn.weight_scale == pytest.approx(1.0 / expected)
    batch, n_steps, skip = 400, 16_000, 2000  # 8 s per train, first 1 s only sets the state
    g = torch.Generator().manual_seed(0)
    raster = torch.rand(n_steps, batch, generator=g) < rate * dt * 1e-3
    c = make_stp_constants(syn, NeuronParams(), dt)
    st = initial_stp_state(batch, 1, c, torch.device("cpu"), torch.float64)
    total, count = torch.zeros(batch, dtype=torch.float64), torch.zeros(batch)
    for k in range(n_steps):
        st, eff = stp_step(st, c, raster[k, :, None])
        if k >= skip:
            total += eff[:, 0]
            count += raster[k]
    per_train = (total / count).numpy()
    se = per_train.std(ddof=1) / math.sqrt(batch)
    assert abs(per_train.mean() - 1.0) < 4 * se
    assert se < 0.01  # the test has power
    # replay of the same trains gives the same mean
    k, b = raster.nonzero(as_tuple=True)
    m = replay_mean_efficacy(k.numpy() * dt, b.numpy(), U, tau, skip_ms=skip * dt)
    assert m * syn.weight_scale == pytest.approx(float(total.sum() / count.sum()), rel=1e-9)


def _mode_switches(z: np.ndarray) -> int:
    """Switches between the modes 'group A on' and 'group B on' of the 2x3-unit BM."""
    a, b = z[..., :3].sum(-1), z[..., 3:].sum(-1)
    mode = np.where((a >= 2) & (b <= 1), 1, np.where((b >= 2) & (a <= 1), 2, 0))
    total = 0
    for m in mode:
        m = m[m > 0]
        total += int((m[1:] != m[:-1]).sum())
    return total


def test_stp_increases_mode_switches_in_two_mode_bm():
    """Two groups of 3 units, +2 within and -2 across, biases -1: modes 'A on' and 'B on'.
    STP (U = 0.1, tau_rec = 280 ms, renormalised to the renewing synapses' mean jump on a
    pilot run) must switch modes clearly more often than renewing synapses in the same 2.5 s
    of biological time (20 chains), while keeping the units' mean activity."""
    cal = load_calibration("sbs-tutorial")
    n, w = 6, 2.0
    W = torch.full((n, n), -w, dtype=torch.float64)
    W[:3, :3] = w
    W[3:, 3:] = w
    W.fill_diagonal_(0.0)
    b = torch.full((n,), -1.0, dtype=torch.float64)
    U, tau = 0.1, 280.0
    syn = SynapseParams("tsodyks_markram", U=U, tau_rec_ms=tau, weight_scale=1.0 / U)
    pilot = simulate(bm_to_network(W, b, cal, synapse=syn), 1000.0, chains=20, seed=5,
                     record=Record(spikes=True), device="cpu")
    steps, ch, ids = pilot.spikes
    t_ms, keys = steps.numpy() * DT, ch.numpy() * n + ids.numpy()
    syn = renormalised_stp(U, tau, replay_mean_efficacy(t_ms, keys, U, tau, skip_ms=500.0),
                           replay_mean_efficacy(t_ms, keys, 1.0, 10.0, skip_ms=500.0))
    counts, act = {}, {}
    for name, s in (("renewing", SynapseParams()), ("stp", syn)):
        r = simulate(bm_to_network(W, b, cal, synapse=s), 2500.0, chains=20, burn_in_ms=100.0,
                     seed=1, record=Record(z_every_ms=10.0), device="cpu")
        counts[name] = _mode_switches(r.z_samples.permute(1, 0, 2).numpy())
        act[name] = float(r.on_fraction.mean())
    # renewing: ~30 switches; 2x with Poisson errors on both is > 4 sigma
    assert counts["renewing"] >= 10
    assert counts["stp"] >= 2 * counts["renewing"], counts
    assert abs(act["stp"] - act["renewing"]) < 0.1, act
