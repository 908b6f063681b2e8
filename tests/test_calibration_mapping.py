"""Calibration, Boltzmann <-> LIF mapping, and LIF sampling of small machines vs exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lifsampling.boltzmann import exact_distribution
from lifsampling.calibrate import calibrate, effective_coupling
from lifsampling.calibration import Calibration, load_calibration, logistic
from lifsampling.corrections import callen_bias_step, self_consistent_biases
from lifsampling.engine import simulate
from lifsampling.experiments.small_bm import run_small_bms, uniform_bm
from lifsampling.mapping import (
    biases_to_leak,
    bm_to_network,
    network_to_bm,
    weight_factors,
)
from lifsampling.params import SBS_TUTORIAL_NEURON, SBS_TUTORIAL_NOISE


def test_weight_factor_matches_sbs_value():
    """sbs formula for the tutorial neuron, 3 kHz noise, alpha = alpha_theo = 0.636 mV, bias 0:
    0.00423 µS per unit (research/lif_sampling.md §1.4, computed from the sbs code)."""
    fe, fi = weight_factors(SBS_TUTORIAL_NEURON, SBS_TUTORIAL_NOISE, 0.636, np.array([-50.0]))
    assert fe[0] == pytest.approx(0.00423, abs=5e-6)
    assert fi[0] == pytest.approx(fe[0], rel=1e-12)  # E_E - mu = mu - E_I = 50 mV


def test_mapping_round_trip_and_errors():
    cal = load_calibration("sbs-tutorial")
    bm = uniform_bm(6, seed=1)
    net = bm_to_network(bm.W, bm.b, cal)
    W, b = network_to_bm(net, cal)
    assert torch.allclose(W, bm.W, atol=1e-12) and torch.allclose(b, bm.b, atol=1e-12)
    u0 = biases_to_leak(torch.zeros(1), cal)
    assert u0.item() == pytest.approx(cal.u0_mV)
    assert (net.weights_uS[bm.W > 0] > 0).all() and (net.weights_uS[bm.W < 0] < 0).all()
    with pytest.raises(ValueError, match="symmetric"):
        bm_to_network(torch.tensor([[0.0, 1.0], [0.5, 0.0]]), torch.zeros(2), cal)
    with pytest.raises(ValueError, match="diagonal"):
        bm_to_network(torch.eye(2), torch.zeros(2), cal)


def _logistic(u, u0, alpha):  # written out here, independent of calibration.logistic
    return 1.0 / (1.0 + np.exp(-(np.asarray(u, float) - u0) / alpha))


@pytest.mark.parametrize("name", ["calibration_sbs.json", "calibration_fast_membrane.json"])
def test_shipped_calibration_is_the_least_squares_logistic_of_its_points(name):
    """The stored (u0, alpha) are the least-squares logistic of the stored p_on points: a refit
    with scipy's curve_fit reproduces them to the optimizer's tolerance (curve_fit stops at
    ~1.5e-8 relative change; we allow 1e-5 mV / 1e-5 relative, still >= 200x below the fit's
    own standard error, 0.002-0.008 mV); the stored residuals are those of that fit."""
    from importlib import resources

    from scipy.optimize import curve_fit

    with resources.as_file(resources.files("lifsampling") / "data" / name) as path:
        cal = Calibration.load(path)
    u, p = np.asarray(cal.e_leak_mV), np.asarray(cal.p_on)
    (u0, alpha), cov = curve_fit(_logistic, u, p, p0=(u[np.argmin(np.abs(p - 0.5))], 0.5))
    assert u0 == pytest.approx(cal.u0_mV, abs=1e-5)
    assert alpha == pytest.approx(cal.alpha_mV, rel=1e-5)
    assert np.sqrt(cov[0, 0]) > 100 * 1e-5  # the tolerance is far below the fit's s.e.
    resid = p - _logistic(u, cal.u0_mV, cal.alpha_mV)
    assert np.abs(resid).max() == pytest.approx(cal.max_residual, rel=1e-9)
    assert np.sqrt(np.mean(resid**2)) == pytest.approx(cal.rms_residual, rel=1e-9)


def test_shipped_sbs_calibration_is_logistic_within_002():
    """Issue 3 item 2: the sbs neuron's activation is logistic within 0.02, recomputed from the
    stored points (36 points x 100 s). A residual is model error + the point's sampling noise
    (~7000 effective samples per 10^5 ms, docs/core.md: s.e. <= sqrt(0.25 / 7000) = 0.006 at
    p = 1/2, less in the tails; rms over the points <= 0.006). The bounds are the issue's
    targets for the sum: max <= 0.02, rms <= 0.01 (measured 0.018 and 0.008)."""
    cal = load_calibration("sbs-tutorial")
    u, p = np.asarray(cal.e_leak_mV), np.asarray(cal.p_on)
    resid = p - _logistic(u, cal.u0_mV, cal.alpha_mV)
    assert np.abs(resid).max() <= 0.02
    assert np.sqrt(np.mean(resid**2)) <= 0.01
    # the points span the sigmoid (p from < 0.01 to > 0.98) so the bound covers both tails
    assert p.min() < 0.01 and p.max() > 0.98
    assert 0.5 < cal.alpha_mV < 1.1 and -51.5 < cal.u0_mV < -49.5


def test_calibration_recovers_shipped_fit_and_round_trips(tmp_path):
    """A fresh short calibration agrees with the shipped one within its statistical error and
    survives save/load; corrupt files give readable errors."""
    cal = calibrate(e_leak_range_mV=(-53.5, -47.5), points=13, duration_ms=2500.0, chains=4,
                    seed=7)
    ref = load_calibration("sbs-tutorial")
    # 10 s per point: p has standard error ~0.02 (bursty), the fit over 13 points ~0.1 mV in u0
    assert abs(cal.u0_mV - ref.u0_mV) < 0.15
    assert abs(cal.alpha_mV - ref.alpha_mV) / ref.alpha_mV < 0.15
    path = tmp_path / "cal.json"
    cal.save(path)
    assert Calibration.load(path) == cal
    data = json.loads(path.read_text())
    data["alpha_mV"] = -1.0
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="alpha"):
        Calibration.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Calibration.load(path)
    with pytest.raises(FileNotFoundError):
        Calibration.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="empty"):
        calibrate(e_leak_range_mV=(-50.0, -51.0))


def test_logistic_and_effective_coupling_helpers():
    assert logistic(1.0, 1.0, 0.5) == pytest.approx(0.5)
    p = np.array([0.4, 0.1, 0.1, 0.4])
    assert effective_coupling(p) == pytest.approx(np.log(16.0))


def test_lif_samples_small_boltzmann_machines():
    """Plain (`none`) mapping, smaller version of issue 3 item 3: three random 4-unit machines
    (W, b uniform in [-1, 1]), 12 s of biological time each. ~7000 effective samples per 10^5 ms
    (docs/core.md) give N ~ 840 here; for an exact sampler 2 N D_KL ~ chi^2 with 15 degrees of
    freedom: mean 15 / (2 N) = 0.009, 99.9 % quantile 37.7 / (2 N) = 0.022. The plain mapping
    adds its systematic plateau (docs/core.md: 0.0076-0.017 on 5-unit machines): every machine
    < 0.022 + 0.017 ~ 0.04, the median < 0.009 + 0.017 ~ 0.025. Marginals: s.e. sqrt(0.25 / N)
    = 0.017, 3 s.e. over 4 units ~0.05, plus the plateau's marginal error (<= 0.047): < 0.08."""
    cal = load_calibration("sbs-tutorial")
    bms = [uniform_bm(4, seed) for seed in (11, 12, 13)]
    res = run_small_bms(bms, cal, duration_ms=12_000.0, chains=6, seed=2, curve_points=2)
    assert np.median(res.kl_lif) < 0.025
    assert max(res.kl_lif) < 0.04
    assert max(res.marginals_max_err) < 0.08
    # the curves fall with sampling time: at 100 ms (a handful of effective samples over 16
    # states) D_KL is O(1), at 12 s below 0.04 -- at least tenfold on every machine
    assert np.all(res.kl_lif_curve[:, -1] < 0.1 * res.kl_lif_curve[:, 0])


def test_default_full_correction_samples_small_bms_at_the_sampling_noise():
    """The default `full` mapping (pair-measured weight scales + 2 self-consistent-bias pilots,
    run_small_bms(correction="full") as `sample-bm` does) on benchmark machines 0-2 (5 units,
    W, b uniform in [-1, 1]) against exact enumeration, 10^5 ms each (10 chains x 10 s).
    Bound: N ~ 7000 effective samples (docs/core.md), 2 N D_KL ~ chi^2_31 for a correct sampler:
    mean 31 / (2 N) = 0.0022, 99.9 % quantile 61.1 / (2 N) = 0.0044; the pilots' noise in the
    offsets (docs: marginal s.d. 0.0085 with `full` against 0.0056, i.e. an extra 0.0064 per
    unit) adds ~sum_k dp_k^2 / (2 p_k (1 - p_k)) ~ 5 x 0.0064^2 / 0.4 = 0.0005, up to ~0.0015 at
    3 s.d.: every machine < 0.006 (docs: 0.0010-0.0023 over 10 machines). Marginals: 3.5 s.d.
    (0.0085) over 5 units: < 0.03, the documented target. The plain mapping on the same
    machines and seed sits on its systematic plateau (docs: 0.0076-0.017) above the bound."""
    cal = load_calibration("sbs-tutorial")
    bms = [uniform_bm(5, seed) for seed in (0, 1, 2)]
    kw = dict(duration_ms=100_000.0, chains=10, seed=1, curve_points=2)
    full = run_small_bms(bms, cal, correction="full", **kw)
    assert full.correction == "full"
    # both parts of the correction were applied: measured weight scales (docs: 0.735 exc,
    # 0.848 inh from 4 x 25 s pairs; here 16 x 10 s, a few % noise) and non-zero offsets
    exc, inh = full.weight_scales
    assert 0.65 < exc < 0.82 and 0.76 < inh < 0.94
    assert full.bias_offset_rms > 0.03
    assert max(full.kl_lif) < 0.006
    assert max(full.marginals_max_err) < 0.03
    plain = run_small_bms(bms, cal, correction="none", **kw)
    assert np.median(plain.kl_lif) > 0.006
    assert all(f < p for f, p in zip(full.kl_lif, plain.kl_lif, strict=True))


def test_independent_neurons_sample_their_bias():
    """W = 0: each neuron's marginal equals σ(b) through the calibration (±4 standard errors of
    a bursty process with ~400 effective samples)."""
    cal = load_calibration("sbs-tutorial")
    b = torch.tensor([-1.5, -0.5, 0.0, 0.7, 1.5], dtype=torch.float64)
    net = bm_to_network(torch.zeros(5, 5), b, cal)
    res = simulate(net, 4000.0, chains=6, burn_in_ms=200.0, seed=4)
    p = res.on_fraction.mean(0).numpy()
    expected = 1 / (1 + np.exp(-b.numpy()))
    assert np.abs(p - expected).max() < 4 * np.sqrt(0.25 / 400)


def _exact_samples(bm, n: int, seed: int) -> torch.Tensor:
    """n independent samples of a small machine from its enumerated distribution."""
    p = exact_distribution(bm)
    idx = torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(seed))
    bits = torch.arange(bm.n - 1, -1, -1)  # unit 0 = most significant bit
    return ((idx[:, None] >> bits) & 1).double()


def test_callen_bias_step_measures_a_bias_shift():
    """Samples of (W, b + delta) violate Callen's identity for (W, b); the Newton step returns
    -delta up to O(delta^2) (<= 0.01 here) and sampling noise (~0.003 for 10^6 samples)."""
    bm = uniform_bm(4, seed=5)
    delta = torch.tensor([0.2, -0.15, 0.1, -0.2], dtype=torch.float64)
    shifted = type(bm)(bm.W, bm.b + delta)
    step = callen_bias_step(_exact_samples(shifted, 1_000_000, seed=1), bm.W, bm.b)
    assert torch.allclose(step, -delta, atol=0.03)
    null = callen_bias_step(_exact_samples(bm, 1_000_000, seed=2), bm.W, bm.b)
    assert null.abs().max() < 0.02
    with pytest.raises(ValueError, match="no samples"):
        callen_bias_step(torch.zeros(0, 4), bm.W, bm.b)
    with pytest.raises(ValueError, match="bias_offset"):
        bm_to_network(bm.W, bm.b, load_calibration("sbs-tutorial"), bias_offset=torch.zeros(3))


def test_self_consistent_biases_fix_the_marginals():
    """Machine 6 of the 10-machine benchmark: its strongly excitatory units sit 0.04 too high
    with the plain mapping (standard error of a marginal in 10^5 ms: ~0.006); one pilot run of
    the Callen bias correction brings every marginal within 0.025, the offsets of the units with
    net excitatory input are negative, and the joint distribution improves."""
    cal = load_calibration("sbs-tutorial")
    bm = uniform_bm(5, seed=6)
    kw = dict(duration_ms=100_000.0, chains=10, seed=3, curve_points=2)
    plain = run_small_bms([bm], cal, **kw)
    fixed = run_small_bms([bm], cal, correction="biases", pilot_iterations=1, **kw)
    assert plain.marginals_max_err[0] > 0.03
    assert fixed.marginals_max_err[0] < 0.025
    assert fixed.kl_lif[0] < plain.kl_lif[0]
    assert fixed.bias_offset_rms > 0.05
    off = self_consistent_biases(bm.W, bm.b, cal, pilot_ms=50_000.0, iterations=1, seed=9)
    excited = bm.W.sum(1) > 1.0
    assert excited.any() and (off[excited] < 0).all()
