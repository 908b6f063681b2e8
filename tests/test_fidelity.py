"""Clamped-conditional fidelity of the spiking RBM against the exact RBM conditionals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lifsampling.boltzmann import RBM
from lifsampling.boltzmann.model import random_rbm
from lifsampling.calibration import load_calibration
from lifsampling.fidelity import (
    LayerCorrection,
    conditional_fit,
    fit_corrections,
    load_correction,
    measure_fidelity,
    save_correction,
)
from lifsampling.spiking_rbm import build_network, clamp_by_spiking

DURATION_MS = 2000.0
TAU_CORR_MS = 10.0  # correlation time of z(t) ~ tau_ref


@pytest.fixture(scope="module")
def cal():
    return load_calibration("fast-membrane")


@pytest.fixture(scope="module")
def rbm() -> RBM:
    """20 pixels + 2 labels, 8 hidden, weights and biases ~ ±1."""
    r = random_rbm(22, 8, seed=3, scale=1.0)
    return RBM(r.W, r.b_v, r.b_h, n_labels=2)


def _states(seed: int, n: int = 40):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 20, generator=g) < 0.4).double().numpy(), np.arange(n) % 2


@pytest.fixture(scope="module")
def states():
    return _states(0)


@pytest.fixture(scope="module")
def corrected(rbm, cal):
    """Per-layer correction fitted on pilot states (not the evaluation states)."""
    return fit_corrections(rbm, cal, *_states(100), iterations=2, duration_ms=1000.0,
                           device="cpu")


def _noise_bound(duration_ms: float) -> float:
    """Upper bound of the RMS sampling error of a time-averaged binary z over duration_ms:
    Var <= p(1-p) 2 tau / T <= (2 tau / T) / 4."""
    return float(np.sqrt(0.25 * 2 * TAU_CORR_MS / duration_ms))


def test_conditional_fit_recovers_a_known_gain_and_offset():
    """Exact probabilities of sigma(0.8 a + 0.3) give gain 0.8, offset 0.3, and RMS/max of the
    known difference; identical input gives 0 error and gain 1."""
    a = np.linspace(-4, 4, 400).reshape(20, 20)
    q = 1 / (1 + np.exp(-a))
    p = 1 / (1 + np.exp(-(0.8 * a + 0.3)))
    f = conditional_fit(p, q, a)
    assert f.gain == pytest.approx(0.8, abs=1e-6) and f.offset == pytest.approx(0.3, abs=1e-6)
    assert f.rms == pytest.approx(np.sqrt(np.mean((p - q) ** 2)))
    assert f.max == pytest.approx(np.abs(p - q).max())
    f0 = conditional_fit(q, q, a, np.stack([q, q]))
    assert f0.rms == 0 and f0.rms_noise == 0 and f0.gain == pytest.approx(1, abs=1e-8)


def test_clamp_by_spiking_holds_units_and_staggers_onsets(rbm, cal):
    """Clamped-on neurons are refractory all but a step per cycle (z > 0.97), clamped-off ones
    never fire; with stagger their first spikes spread over tau_ref instead of one step."""
    from lifsampling.engine import Record, simulate

    net = build_network(rbm, cal)
    v = torch.zeros(4, rbm.n_visible, dtype=torch.float64)
    v[:, ::2] = 1.0
    for seed, spread in ((None, 0), (5, 30)):
        clamped, sched = clamp_by_spiking(net, slice(0, rbm.n_visible), v, stagger_seed=seed)
        r = simulate(clamped, 1000.0, chains=4, seed=1, device="cpu", e_leak_schedule=sched,
                     burn_in_ms=0.0, record=Record(spikes=True))
        on = r.on_fraction[:, : rbm.n_visible].numpy()
        assert (on[:, ::2] > 0.97).all() and (on[:, 1::2] == 0).all()
        steps, ch, ids = r.spikes
        first = [int(steps[(ch == 0) & (ids == i)].min()) for i in range(0, rbm.n_visible, 2)]
        assert max(first) - min(first) >= spread
        if seed is None:
            assert max(first) - min(first) <= 1


def test_small_rbm_clamped_conditionals_match_exact(rbm, cal, states, corrected):
    """With the pilot-fitted correction, both directions on fresh states within the sampling
    error of DURATION_MS (bound from tau_ref) plus 0.02 of systematic error, logit gain within
    0.05 of 1 and offset within 0.1. The folded variant (the activation function alone, which
    no synaptic correction touches) within 0.03 and a logit gain of 0.85-1.05: the measured
    activation is ~10 % flatter in logit than its logistic fit over |b| < 2. The noise floor
    measured from the run's halves is below the bound."""
    x, y = states
    rep = measure_fidelity(rbm, cal, x, y, duration_ms=DURATION_MS, seed=1, device="cpu",
                           correction=corrected[0])
    bound = _noise_bound(DURATION_MS)
    for fit in (rep.hidden, rep.visible, rep.hidden_folded, rep.visible_folded):
        assert fit.rms_noise < bound
        assert fit.rms_ci[0] <= fit.rms <= fit.rms_ci[1]
    for fit in (rep.hidden, rep.visible):
        assert fit.rms < np.hypot(bound, 0.02)
        assert abs(fit.gain - 1) < 0.05 and abs(fit.offset) < 0.1
    for fit in (rep.hidden_folded, rep.visible_folded):
        assert fit.rms < np.hypot(bound, 0.03)
        assert 0.85 < fit.gain < 1.05 and abs(fit.offset) < 0.15
    s = rep.summary()
    for k in ("hidden_rms", "hidden_max", "hidden_gain", "hidden_offset", "visible_rms",
              "visible_max", "visible_gain", "visible_offset"):
        assert np.isfinite(s[k])


def test_uncorrected_distortion_is_measured(rbm, cal, states):
    """The plain mapping's synapses into a clamped layer are weaker than the RBM's (the
    inhibitory ones most): hidden logit gain below 0.95 and offset above +0.1 (see
    docs/fidelity.md); a network with 0.7 x the weights reads clearly weaker still."""
    x, y = states
    plain = measure_fidelity(rbm, cal, x, y, duration_ms=DURATION_MS, seed=2, device="cpu",
                             folded=False)
    assert plain.hidden.gain < 0.95 and plain.hidden.offset > 0.1
    weak = build_network(RBM(0.7 * rbm.W, rbm.b_v, rbm.b_h, n_labels=2), cal)
    true = build_network(rbm, cal)
    from lifsampling import fidelity as fid

    # same leaks, weaker synapses: swap the weights into the true network's spec
    orig = fid.build_network
    fid.build_network = lambda *a, **k: type(true)(weak.weights_uS, true.e_leak_mV,
                                                   true.neuron, true.noise, true.synapse)
    try:
        rep = measure_fidelity(rbm, cal, x, y, duration_ms=DURATION_MS, seed=2,
                               device="cpu", folded=False)
    finally:
        fid.build_network = orig
    assert rep.hidden.gain < plain.hidden.gain - 0.15
    assert rep.visible.gain < plain.visible.gain - 0.15


def test_correction_file_round_trip(corrected, tmp_path):
    """The fitted correction (inhibitory gain below the excitatory one, as measured) survives
    a save/load round trip; a corrupt file is refused with a message."""
    corr, hist = corrected
    assert len(hist) == 2
    assert corr.gain_inh_hidden < corr.gain_exc_hidden
    p = tmp_path / "c.json"
    save_correction(p, corr, pilot_images=40)
    assert load_correction(p) == corr
    p.write_text(json.dumps({"schema": "lifsampling.correction/1", "layer": {"gain_x": 1}}))
    with pytest.raises(ValueError, match="unknown correction keys"):
        load_correction(p)
    with pytest.raises(ValueError, match="> 0"):
        LayerCorrection.from_dict({"gain_hidden": -1.0})


@pytest.mark.slow
def test_clamp_phases_are_averaged_and_counted_in_the_noise_floor(cal, states):
    """Clamped-on neurons fire periodically, so the phases they start with stay fixed in a run
    and move the free units' response. With strong weights (scale 2.5) this is several times
    the sampling noise: measured, runs with the same phases differ by MSD 0.0012, with new
    phases by 0.0051. Each state is measured as ``phases`` runs with their own phases, so the
    run-to-run RMS difference (/√2) of two whole measurements falls from 0.045 at 2 phases to
    0.031 at 8 (same total time), and the noise floor from the even/odd runs matches it
    (ratio 0.93-0.97; with the phases shared by the halves it was 0.49)."""
    r = random_rbm(22, 8, seed=3, scale=2.5)
    strong = RBM(r.W, r.b_v, r.b_h, n_labels=2)
    x, y = states
    spread = {}
    for phases in (2, 8):
        a, b = (measure_fidelity(strong, cal, x, y, duration_ms=DURATION_MS, seed=s,
                                 device="cpu", folded=False, phases=phases) for s in (1, 5))
        run_to_run = np.sqrt(np.mean((a.raw["hidden"][0] - b.raw["hidden"][0]) ** 2) / 2)
        for rep in (a, b):
            assert 0.75 < rep.hidden.rms_noise / run_to_run < 1.33
        spread[phases] = run_to_run
    assert spread[8] < 0.85 * spread[2]
    with pytest.raises(ValueError, match="phases"):
        measure_fidelity(strong, cal, x, y, duration_ms=100.0, phases=1)
