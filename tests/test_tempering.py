"""Issue 8: time-varying Poisson background, the rate -> temperature map, and the tempered
small-BM check; CLI errors for nonsensical rhythms."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from lifsampling.boltzmann.model import random_rbm
from lifsampling.calibration import load_calibration
from lifsampling.engine import PoissonBackground
from lifsampling.experiments.small_bm import uniform_bm
from lifsampling.experiments.tempering_mnist import Rhythm, trough_indices
from lifsampling.experiments.tempering_small_bm import fit_beta, sample_at_rate
from lifsampling.params import NoiseParams, SinusoidalRate
from lifsampling.temperature import (
    TemperatureMap,
    leak_schedule,
    rate_for_temperature,
    theory_temperature_map,
)

RATES = [1000.0, 2000.0, 3000.0, 5000.0, 8000.0, 12000.0, 20000.0]


# --- time-varying Poisson counts ---------------------------------------------------------------
def _counts_over_period(rate_exc, rate_inh, period_ms: float, neurons: int, seed: int):
    """Counts per step (w = 1 µS, so a jump equals the count) drawn at the step midpoints, as
    the engine does; returns counts (steps, 2) and expected means (steps, 2)."""
    dt = 0.1
    noise = NoiseParams(rate_exc_hz=rate_exc, rate_inh_hz=rate_inh, w_exc_uS=1.0, w_inh_uS=1.0)
    bg = PoissonBackground(noise, dt, torch.device("cpu"), torch.float64)
    g = torch.Generator().manual_seed(seed)
    steps = int(round(period_ms / dt))
    got, want = np.zeros((steps, 2)), np.zeros((steps, 2))
    for k in range(steps):
        t_mid = k * dt + 0.5 * dt
        e, i = bg.draw((1, neurons), t_mid, g)
        got[k] = [float(e.sum()), float(i.sum())]
        re, ri = noise.rates_at(t_mid)
        want[k] = [neurons * re * dt * 1e-3, neurons * ri * dt * 1e-3]
    return got, want


def test_sinusoidal_poisson_counts_match_rate():
    # exc: 3 +- 2 kHz at 50 Hz; inh: 1 +- 1 kHz at 100 Hz, other phase; one 20 ms period
    got, want = _counts_over_period(SinusoidalRate(3000.0, 2000.0, 50.0),
                                    SinusoidalRate(1000.0, 1000.0, 100.0, 1.0), 20.0, 1000, 0)
    for col in range(2):
        total, mean = got[:, col].sum(), want[:, col].sum()
        assert abs(total - mean) < 4 * math.sqrt(mean)  # Poisson: variance = mean
        # phase-resolved: 20 bins of 1 ms, chi-square with 20 dof (p = 1e-3 at 45.3)
        o = got[:, col].reshape(20, -1).sum(1)
        e = want[:, col].reshape(20, -1).sum(1)
        assert float(((o - e) ** 2 / e).sum()) < 45.3
    # the rate really oscillates: peak bin / trough bin of exc about (3+2)/(3-2) = 5
    o = got[:, 0].reshape(20, -1).sum(1)
    assert 3.5 < o.max() / o.min() < 7.0


def test_clipped_rate_gives_no_counts():
    rate = SinusoidalRate(1000.0, 3000.0, 50.0)  # negative ~40 % of the time -> clipped to 0
    got, want = _counts_over_period(rate, 0.0, 20.0, 1000, 1)
    assert got[want[:, 0] == 0, 0].sum() == 0
    assert (want[:, 0] == 0).sum() > 60
    mean = want[:, 0].sum()
    assert abs(got[:, 0].sum() - mean) < 4 * math.sqrt(mean)


# --- the rate -> temperature map --------------------------------------------------------------
@pytest.fixture(scope="module")
def hcs_map() -> TemperatureMap:
    return theory_temperature_map(RATES, reference_rate_hz=3000.0, source="hcs")


def test_temperature_map_monotone_and_sqrt(hcs_map):
    T = hcs_map.temperature(np.asarray(RATES))
    assert (np.diff(T) > 0).all()
    assert T[RATES.index(3000.0)] == pytest.approx(1.0)
    # HCS limit T = sqrt(nu/nu0) within 3 % over 1-20 kHz
    np.testing.assert_allclose(T, np.sqrt(np.asarray(RATES) / 3000.0), rtol=0.03)
    fine = np.geomspace(1000, 20000, 50)
    assert (np.diff(hcs_map.temperature(fine)) > 0).all()
    # inverse
    for t in (0.7, 1.0, 1.5, 2.4):
        assert float(hcs_map.temperature(hcs_map.rate_for_temperature(t))) == pytest.approx(t)
    assert float(rate_for_temperature(2.0, 3000.0)) == pytest.approx(12000.0)
    r = float(rate_for_temperature(1.5, 2000.0, hcs_map))
    assert float(hcs_map.with_reference(2000.0).temperature(r)) == pytest.approx(1.5)
    # couplings cool/heat like the biases within 4 % (tau_eff enters the weight translation)
    np.testing.assert_allclose(hcs_map.beta_weights(RATES), hcs_map.beta(RATES), rtol=0.04)


def test_temperature_map_validation_and_file(hcs_map, tmp_path):
    with pytest.raises(ValueError, match="ascending"):
        TemperatureMap((2.0, 1.0), (0, 0), (1, 1), 1.0, hcs_map.neuron, hcs_map.noise)
    with pytest.raises(ValueError):
        hcs_map.rate_for_temperature(-1.0)
    with pytest.raises(ValueError):
        rate_for_temperature(1.0, -5.0)
    p = tmp_path / "map.json"
    hcs_map.save(p)
    back = TemperatureMap.load(p)
    assert back == hcs_map
    p.write_text("{}")
    with pytest.raises(ValueError, match="schema"):
        TemperatureMap.load(p)


def test_leak_schedule_tracks_midpoint(hcs_map):
    rate = SinusoidalRate(5000.0, 2000.0, 10.0, math.pi / 2)
    tmap = hcs_map.with_reference(3000.0)
    sched = leak_schedule(torch.tensor([-52.0, -49.0]), tmap, rate, dt_ms=0.1)
    trough = sched(50.0 - 0.05)  # midpoint of this step is the trough (3 kHz)
    np.testing.assert_allclose(trough.numpy(), [-52.0, -49.0], atol=0.01)
    peak = sched(0.0 - 0.05 + 100.0)  # a peak, 7 kHz
    shift = float(tmap.u0(7000.0) - tmap.u0(3000.0))
    assert shift < -0.2  # u0 falls with the rate
    np.testing.assert_allclose(peak.numpy(), np.array([-52.0, -49.0]) + shift, atol=0.01)


# --- the tempered small-BM check ---------------------------------------------------------------
def test_constant_rate_samples_tempered_boltzmann(hcs_map):
    """A network mapped at 3 kHz and run at 8 kHz samples p^beta with beta = alpha(3k)/alpha(8k)
    (0.61): the fitted beta relative to the fitted beta at 3 kHz matches within 0.1."""
    cal = load_calibration("sbs-tutorial")
    machines = [uniform_bm(4, seed=7), uniform_bm(4, seed=8)]
    fits = {}
    for k, rate in enumerate((3000.0, 8000.0)):
        qs = sample_at_rate(machines, cal, hcs_map, rate, duration_ms=1500.0, chains=16,
                            seed=20 + k)
        fits[rate] = np.array([fit_beta(m, q)[0] for m, q in zip(machines, qs, strict=True)])
    rel = fits[8000.0] / fits[3000.0]
    beta = float(hcs_map.beta(8000.0))
    assert beta == pytest.approx(0.61, abs=0.02)
    np.testing.assert_allclose(rel, beta, atol=0.1)


# --- rhythm validation, trough read-out, CLI errors --------------------------------------------
def test_rhythm_validation_and_troughs():
    with pytest.raises(ValueError, match="frequency"):
        Rhythm(3000.0, 1000.0, -5.0).validate()
    with pytest.raises(ValueError, match="trough"):
        Rhythm(3000.0, 3000.0, 5.0).validate()
    with pytest.raises(ValueError, match="amplitude"):
        Rhythm(3000.0, -1.0, 5.0).validate()
    r = Rhythm(4000.0, 1000.0, 5.0)
    r.validate()
    times = 200.0 + np.arange(2000.0)  # 1 ms grid over 2 s = 10 periods
    idx = trough_indices(times, r, read_T=1.02)
    nu = np.array([r.rate()(t) for t in times[idx]])
    assert (nu <= 3000.0 * 1.02**2 + 1e-6).all()
    assert (np.diff(times[idx]) >= 10.0 - 1e-9).all()
    troughs = np.floor(times[idx] / 200.0)
    assert len(np.unique(troughs)) == 10


@pytest.mark.parametrize("args, needle", [
    (["--frequency-hz", "-2", "--amplitude-hz", "1000"], "frequency"),
    (["--frequency-hz", "5", "--amplitude-hz", "5000", "--mean-hz", "3000"], "trough"),
])
def test_cli_bad_rhythm_one_line_error(args, needle, tmp_path):
    p = subprocess.run([sys.executable, "-m", "lifsampling", "tempering",
                        str(tmp_path / "model.npz"), *args, "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_anchored_map_keeps_shape(hcs_map):
    m = hcs_map.anchored(3000.0, -50.6, 0.7)
    assert float(m.alpha(3000.0)) == pytest.approx(0.7)
    assert float(m.u0(3000.0)) == pytest.approx(-50.6)
    np.testing.assert_allclose(m.temperature(RATES), hcs_map.temperature(RATES))
    np.testing.assert_allclose(m.leak_shift(RATES), hcs_map.leak_shift(RATES))


def test_trough_indices_on_coarse_record_grid():
    """A 5 ms record grid (run_lif(record_ms=5)) keeps every trough of 1-10 Hz and spaces the
    samples by tau_ref."""
    for f in (1.0, 4.0, 10.0):
        r = Rhythm(7500.0, 4500.0, f)
        times = 200.0 + 5.0 * np.arange(int(3000 / 5))
        idx = trough_indices(times, r, read_T=1.02)
        nu = np.array([r.rate()(t) for t in times[idx]])
        assert (nu <= 3000.0 * 1.02**2 + 1e-6).all()
        assert (np.diff(times[idx]) >= 10.0 - 1e-9).all()
        centres = (np.arange(3 * f) + 0.5) * 1000.0 / f
        centres = centres[(centres >= times[0]) & (centres <= times[-1])]
        assert np.isin(centres, times[idx]).all()


def test_run_lif_rejects_bad_record_interval():
    from lifsampling.experiments.tempering_mnist import run_lif

    with pytest.raises(ValueError, match="record_ms"):
        run_lif(None, None, None, Rhythm(4000.0, 1000.0, 4.0), duration_ms=100.0, chains=1,
                record_ms=20.0)


class _PixelClassifier:
    """Two classes from 4 pixels: class 1 with probability 0.95 if pixel 0 is on, else 0.05;
    pixel 1 on makes the sample ambiguous (p = 0.6)."""

    def predict_proba(self, x):
        p1 = np.where(x[:, 0] > 0, 0.95, 0.05)
        p1 = np.where(x[:, 1] > 0, 0.6, p1)
        return np.stack([1 - p1, p1], 1)


def test_statistics_of_ragged_chains_sum_per_chain_switches():
    """AST at a fixed budget gives chains of different lengths: switches are counted within
    each chain (never across the seam of two chains) and ISL is on the pooled samples."""
    from types import SimpleNamespace

    from lifsampling.experiments.tempering_mnist import statistics

    rbm = SimpleNamespace(n_pixels=4)
    rng = np.random.default_rng(0)
    x_test = rng.integers(0, 2, (50, 4)).astype(np.float32)
    prop = np.array([0.5, 0.5])
    a = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.uint8)  # 2 confident
    b = np.array([[0, 0, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 1], [0, 0, 1, 0]],
                 dtype=np.uint8)  # 1 confident (3 -> 4), 1 skip-uncertain more (0 -> 2)
    st = statistics([a, b], rbm, _PixelClassifier(), x_test, prop, None, 8)
    assert st["confident_switches"] == 3
    assert st["confident_subsequence_switches"] == 4
    assert st["confident_switches_per_1000"] == pytest.approx(1000 * 3 / 6)
    assert st["samples"] == 8 and st["samples_per_chain_range"] == [3, 5]
    # Equal lengths given as a list and as a (chains, S, n_v) array: both must give the numbers
    # counted by hand (the array must be split into its chains, not read as one sequence: the
    # seam a[-1] (class 1, confident) -> b[0] (class 0, confident) would add a switch).
    # a: classes 1,0,1, all confident; b[:3]: 0 (conf.), 1 (p = 0.6, ambiguous), 1 (conf.).
    pooled = np.concatenate([a, b[:3]]).astype(float)
    # ISL by hand: product-of-Bernoulli Parzen window with beta = 0.95 over the 6 pooled samples
    agree = x_test @ pooled.T + (1 - x_test) @ (1 - pooled).T
    isl = np.mean(np.log(np.mean(0.95 ** agree * 0.05 ** (4 - agree), axis=1)))
    want = {"confident_switches": 2,            # a: 1->0, 0->1; b: none between two confident
            "confident_subsequence_switches": 3,  # + b: 0 -> (skip) -> 1
            "switches_per_1000": 1000 * 3 / 4,  # argmax switches a: 2, b: 1; 2 + 2 pairs
            "confident_switches_per_1000": 1000 * 2 / 4,
            "classes_visited_per_chain": 2.0, "consecutive_pairs": 4, "samples": 6,
            "isl": isl, "mean_intensity": 7 / 24}  # 3 + 4 pixels on of 6 x 4
    for visible in ([a, b[:3]], np.stack([a, b[:3]])):
        st = statistics(visible, rbm, _PixelClassifier(), x_test, prop, None, 6)
        for key, value in want.items():
            # counts are exact; rates/means: float32 pixels round at ~1e-7 relative
            assert st[key] == pytest.approx(value, rel=1e-6), key


def test_ast_at_equal_time_keeps_every_chains_beta1_samples():
    """Given three times its own wall time, AST runs three times its steps (the budget follows
    its measured cost per step) and keeps each chain's beta = 1 samples, ragged: the same seed
    replays the equal-budget run as a prefix, so no chain has fewer samples than there, and the
    total is about three times as large (never cut to the slowest chain's count)."""
    from lifsampling.experiments.tempering_mnist import run_classical, run_classical_equal_time

    rbm = random_rbm(20, 8, seed=3, scale=0.5)
    run = run_classical(rbm, "ast", 600, chains=6, seed=1)
    eq = run_classical_equal_time(rbm, "ast", run, ref_wall_s=3 * run["wall_s"], seed=1)
    assert eq["sweeps"] == pytest.approx(1800, abs=2)
    short, long_ = [len(c) for c in run["visible"]], [len(c) for c in eq["visible"]]
    assert all(b >= a for a, b in zip(short, long_, strict=True))
    # each chain emits at beta = 1 a fraction ~1/20 of its steps (the 20-level ladder); the
    # total over 6 chains x 1,800 steps is ~540 against ~180: a ratio of 3 within Poisson-like
    # scatter of the occupancy (tolerance 1.8-4.2)
    assert 1.8 < sum(long_) / max(sum(short), 1) < 4.2
    assert np.array_equal(eq["visible"][0][: short[0]], run["visible"][0])


def test_ragged_chains_keep_all_samples_in_the_harness_suite():
    """AST's chains have different lengths. The harness's mode switches must be counted within
    each chain over all of its samples, not on the chains thinned to the shortest: chain b
    (classes 2, 3, 2 in runs of 10 confident images) has 2 switches, which its 6-sample
    thinning (2, 2, 3, 3, 2, 2: no run of 3) would hide; chain a (0, 0, 0, 1, 1, 1) has 1."""
    from lifsampling.comparison import evaluation_data as harness_data
    from lifsampling.datasets import binarize, load_mnist
    from lifsampling.experiments.tempering_mnist import statistics
    from lifsampling.quality import feature_classifier

    clf = feature_classifier()
    ds = load_mnist("builtin")
    x = binarize(ds.x_test).astype(np.uint8)
    p = clf.predict_proba(x)
    pick = {c: np.flatnonzero((ds.y_test == c) & (p.max(1) >= 0.99) & (p.argmax(1) == c))
            for c in range(4)}
    a = x[np.r_[pick[0][:3], pick[1][:3]]]
    b = x[np.r_[pick[2][:10], pick[3][:10], pick[2][10:20]]]
    rbm = random_rbm(784, 4, seed=0, scale=0.01)  # sizes, and parameters for split-R̂
    ref = harness_data("builtin", n_test=200)
    st = statistics([a, b], rbm, clf, ref.x_test, ref.proportions, None, 36, ref=ref)
    assert st["samples"] == 36
    assert st["mode_switches"] == 3
    assert st["mode_switches_per_1000"] == pytest.approx(1000 * 3 / (5 + 29))
    assert st["mean_pixel"] == pytest.approx(float(np.concatenate([a, b]).mean()), rel=1e-6)

