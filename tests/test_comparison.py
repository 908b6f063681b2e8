"""The comparison harness: its one statistics suite fails for noise, its budgets and burn-in
policy are applied to every sampler, and its per-seed summaries are means with bootstrap
intervals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lifsampling.boltzmann import RBM, random_rbm
from lifsampling.comparison import (
    ComparisonConfig,
    SamplerOptions,
    _thin,
    evaluation_data,
    make_sampler,
    mean_ci95,
    run_seed,
    sample_statistics,
    summarise,
)


@pytest.fixture(scope="module")
def ref():
    return evaluation_data("builtin", n_test=400)


def _as_chains(x: np.ndarray, chains: int) -> np.ndarray:
    n = len(x) // chains
    return x[: chains * n].reshape(chains, n, -1)


def test_real_images_pass_and_noise_fails(ref):
    """Real held-out images score near the train-vs-test floor; uniform noise and blank
    images score FD > 10x (noise) and > 5x (blank) the floor, recall ~0 and no mode switches:
    the suite cannot be passed by noise. (FD floor at n = 400 ~25 on the built-in subset;
    noise ~500, blank ~210.)"""
    rng = np.random.default_rng(0)
    real = _as_chains(ref.x_train[1000:1800], 4)          # 4 chains x 200 real digits
    noise = (rng.random(real.shape) < 0.5).astype(np.float32)
    blank = np.zeros_like(real)
    s_real = sample_statistics(real, ref, seed=0)
    s_noise = sample_statistics(noise, ref, seed=0)
    s_blank = sample_statistics(blank, ref, seed=0)
    floor = s_real["fd_floor"]
    assert s_real["fd"] < 2.0 * floor
    assert s_real["precision"] > 0.7 and s_real["recall"] > 0.7
    assert s_noise["fd"] > 10 * floor and s_blank["fd"] > 5 * floor
    assert s_noise["precision"] < 0.05 and s_noise["recall"] < 0.05
    # blank images collapse onto one feature point: precision alone would pass them, recall not
    assert s_blank["recall"] < 0.05
    assert s_noise["mode_switches_per_1000"] < 1.0
    assert s_real["isl"] > s_noise["isl"] + 100
    # consecutive real digits of random classes: almost every confident run switches class
    assert s_real["confident_fraction"] > 0.9
    with pytest.raises(ValueError, match="binary"):
        sample_statistics(real * 0.5 + 0.25, ref)
    with pytest.raises(ValueError, match="chains"):
        sample_statistics(real[0], ref)


def test_rhat_flags_chains_stuck_in_different_classes(ref):
    """Chains that each keep one digit class have R-hat = inf on the class indicators; chains
    of shuffled digits of all classes have R-hat near 1 (4 x 200 samples: |R-hat - 1| < 0.05)."""
    ones = ref.x_train[ref.y_train == 1][:200]
    sevens = ref.x_train[ref.y_train == 7][:200]
    stuck = np.stack([ones, sevens, ones, sevens])
    mixed = _as_chains(ref.x_train[np.random.default_rng(1).permutation(4000)[:800]], 4)
    assert sample_statistics(stuck, ref)["rhat"] > 1.5
    assert sample_statistics(mixed, ref)["rhat"] < 1.05


def test_mean_ci95_covers_the_mean():
    """Bootstrap percentile interval of the mean of 30 N(2, 1) values: contains 2 and has a
    width close to 2 * 1.96 / sqrt(30) = 0.72 (within 30 %)."""
    v = np.random.default_rng(3).normal(2.0, 1.0, 30)
    m, ci = mean_ci95(v)
    assert m == pytest.approx(v.mean())
    assert ci[0] < 2.0 < ci[1]
    assert (ci[1] - ci[0]) == pytest.approx(2 * 1.96 / np.sqrt(30), rel=0.3)
    assert mean_ci95([1.0, 2.0])[1] is None


def test_thin_keeps_first_and_last():
    s = torch.arange(10)[None, :, None]
    assert _thin(s, 4)[0, :, 0].tolist() == [0, 3, 6, 9]
    assert _thin(s, 20).shape[1] == 10


def test_registry_and_config_validation():
    rbm = random_rbm(794, 10, seed=0, scale=0.01)
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("hmc", rbm, None, SamplerOptions())
    with pytest.raises(ValueError, match="calibration"):
        make_sampler("stp", rbm, None, SamplerOptions())
    with pytest.raises(ValueError, match="unknown sampler"):
        ComparisonConfig(samplers=("gibbs", "nuts")).validate()
    with pytest.raises(ValueError, match="reference"):
        ComparisonConfig(samplers=("gibbs",), reference="pt").validate()
    with pytest.raises(ValueError, match="burn_in"):
        ComparisonConfig(burn_in_fraction=1.0).validate()


def test_run_seed_budgets_and_burn_in(ref):
    """Every sampler keeps n samples per chain after the same burn-in fraction; at PT's wall
    time Gibbs is thinned (thin >= 1) to the same n, AST keeps what it emitted at beta = 1,
    and the reference (PT) is its own equal-time run."""
    r0 = random_rbm(794, 10, seed=0, scale=0.02)
    rbm = RBM(r0.W, r0.b_v, r0.b_h, n_labels=10)
    cfg = ComparisonConfig(samplers=("gibbs", "ast", "pt"), n_samples=20, chains=3,
                           seeds=(0,), reference="pt")
    r = run_seed(rbm, None, ref, cfg, 0)
    assert r["burn_in_samples"] == 3                          # 20 / 0.9 - 20 -> 3 dropped
    for name in ("gibbs", "pt"):
        assert r["equal_samples"][name]["n_samples"] == 3 * 20
    assert r["equal_time"]["pt"] is r["equal_samples"]["pt"]
    assert r["equal_time"]["gibbs"]["n_samples"] == 3 * 20
    assert r["equal_time"]["gibbs"]["info"]["thin"] >= 1
    ast = r["equal_samples"]["ast"]   # K * n steps; a chain lost at high T may emit < 2
    assert "skipped" in ast or ast["n_samples"] <= 3 * 20


def test_summarise_means_and_intervals():
    """summarise: per budget and sampler, the mean over seeds and a bootstrap interval that
    brackets it; a skipped cell is left out of the count."""
    per_seed = [{"equal_samples": {"gibbs": {"precision": p, "fd": 10 * p}},
                 "equal_time": {"gibbs": {"precision": p} if p < 0.75 else {"skipped": "x"}}}
                for p in (0.5, 0.6, 0.7, 0.8)]
    summ = summarise(per_seed, keys=("precision", "fd"))
    cell = summ["equal_samples"]["gibbs"]["precision"]
    assert cell["mean"] == pytest.approx(0.65) and cell["n"] == 4
    assert cell["ci95"][0] <= 0.65 <= cell["ci95"][1]
    assert summ["equal_time"]["gibbs"]["precision"]["n"] == 3


def test_ragged_chains_are_scored_on_all_their_samples(ref):
    """Chains of different lengths (AST's beta = 1 samples at a fixed budget) keep every
    sample: mode switches are counted within each chain over all its pairs (1 switch in
    19 + 59 pairs = 12.8 per 1,000; thinning both chains to the shorter one's 20 samples would
    give 1 in 38 = 26.3), quality on the 80 pooled samples; chains of equal length score the
    same given as a list or as one array."""
    from lifsampling.quality import feature_classifier

    probs = feature_classifier().predict_proba(ref.x_train)
    sure = (probs.argmax(-1) == ref.y_train) & (probs.max(-1) >= 0.9)
    digits = {k: ref.x_train[sure & (ref.y_train == k)] for k in (0, 1, 2)}
    a = np.concatenate([digits[0][:10], digits[1][:10]])
    b = digits[2][:60]
    st = sample_statistics([a, b], ref, seed=0)
    assert st["n_samples"] == 80 and st["chains"] == 2
    assert st["samples_per_chain_range"] == [20, 60] and st["rhat_samples_per_chain"] == 20
    assert st["mode_switches"] == 1
    assert st["mode_switches_per_1000"] == pytest.approx(1000 / 78)
    assert st["mean_pixel"] == pytest.approx(float(np.concatenate([a, b]).mean()))
    c = digits[2][60:80]
    as_list, as_array = sample_statistics([a, c], ref), sample_statistics(np.stack([a, c]), ref)
    for k in ("fd", "precision", "recall", "isl", "mode_switches_per_1000", "rhat"):
        assert as_list[k] == pytest.approx(as_array[k])
    with pytest.raises(ValueError, match="one width"):
        sample_statistics([a, b[:, :700]], ref)
